"""Grammar-constrained tool call vs unconstrained generation, on the shape-alike 0.5B model.

The model runs in the runner process, as in the app. Each repetition decodes one tool call under
``tool_call_grammar`` of the app's tool registry with each way of applying the grammar, and right
after each call, unconstrained generation of as many tokens on the same prompt:

- ``full``: llama-cpp-python's sampler, the grammar over all 152k tokens at every step (the old path);
- ``candidate``: the grammar checks only the sampled token, and filters the candidates only when
  it rejects that token (``models/constrained.py``);
- ``jump``: the check, plus jump-forward: text the grammar forces is evaluated in one batch
  (the default).

The full run adds a long JSON string under a grammar, old path vs new: where a real model spends
most of a call's sampled tokens (its thought), and where jump-forward has nothing to force, so it
shows what the grammar costs per sampled token. ``--quick`` runs one repetition of the old path
(the first 12 tokens of a call) and the new one.

tokens/s is generated tokens over decode seconds (prefill excluded); the ratio to unconstrained
is taken per pair (the two ran back to back, so a busy machine slows both), then the median over
the repetitions. The random weights make the model's choices arbitrary: the grammar rejects its
first choice at most structural positions, and its thoughts are short, so forced text is a larger
share of a call than with a real model.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from models.grammar import tool_call_grammar
from models.local_client import LocalChatModel
from tests.bench import report

NAME = "tool_call"
TITLE = "Grammar-constrained tool call vs unconstrained generation"

SYSTEM = (
    "You are Pagemind, an assistant that operates this computer. Answer every request with exactly "
    "one tool call as JSON: {\"thought\": ..., \"tool\": ..., \"args\": {...}}."
)
"""Short on purpose: prefill is not what is measured, and this machine prefills slowly."""
REQUESTS = ("What is in my Documents folder?", "Stop the process that uses the most memory.",
            "Open my notes from yesterday.", "How full is the disk?", "Remind me what we discussed.")


def _tools() -> tuple[list, str]:
    """The app's real tool specs, or the test tools if the registry cannot load here."""
    try:
        import tools

        return tools.load_all().specs(), "app registry"
    except Exception:  # e.g. a desktop tool module that cannot import on this machine
        from tests.models.conftest import TOOLS

        return list(TOOLS), "tests/models/conftest.py TOOLS"


STRING_GRAMMAR = r"""root ::= "\"" char{200,300} "\""
char ::= [^"\\\x00-\x1F\x7F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})
"""
"""A long JSON string, like a real model's thought: where a model spends most of a call's
sampled tokens, and jump-forward has nothing to force."""


def _rate(generation) -> float:
    return generation.n_generated / max(generation.decode_seconds, 1e-9)


def _cases(quick: bool) -> list[tuple[str, str, str, int]]:
    """(key, label, grammar decoding, token cap) of each constrained run, in the order they run."""
    head = 12 if quick else 32
    cases = [
        # The old path and the check alone decode the first ``head`` tokens of a call (their cost
        # per token is about the same all through it); the default decodes whole calls.
        ("call_full", f"tool call (first {head} tokens), old: grammar over the whole vocabulary each step",
         "full", head),
        ("call_candidate", f"tool call (first {head} tokens), grammar checks the sampled token only",
         "candidate", head),
        ("call_jump", "whole tool call, check + jump-forward (the default)", "jump", 96),
        ("string_full", "200-300 char JSON string (first 24 tokens), old", "full", 24),
        ("string_jump", "200-300 char JSON string (first 24 tokens), new (default)", "jump", 24),
    ]
    keep = ("call_full", "call_jump") if quick else tuple(key for key, *_ in cases)
    return [case for case in cases if case[0] in keep]


def run(quick: bool, out: Path) -> report.Result:
    started = time.perf_counter()
    specs, source = _tools()
    grammars = {"call": tool_call_grammar(specs), "string": STRING_GRAMMAR}
    reps = 1 if quick else 3
    cases = _cases(quick)
    keys = ("tokens", "tok_s", "free_tok_s", "ratio", "sampled", "resampled", "forced", "batches", "complete")
    series = {key: {k: [] for k in keys} for key, *_ in cases}
    with LocalChatModel(report.shape_alike_path(), n_ctx=4096, temperature=0.2) as model:
        load_seconds = time.perf_counter() - started
        for rep in range(reps):
            messages = [{"role": "system", "content": SYSTEM},
                        {"role": "user", "content": REQUESTS[rep % len(REQUESTS)]}]
            prompt = model.render(messages)
            model.evaluate(prompt)  # prefill once; every generation below reuses it
            for key, _, mode, cap in cases:
                model.runner.call("set_grammar_decoding", mode=mode)
                constrained = model.generate(prompt, max_tokens=cap, grammar=grammars[key.split("_")[0]])
                stats = model.runner.call("decode_stats")
                free = model.generate(prompt, max_tokens=constrained.n_generated)
                s = series[key]
                s["tokens"].append(constrained.n_generated)
                s["tok_s"].append(_rate(constrained))
                s["free_tok_s"].append(_rate(free))
                s["ratio"].append(_rate(constrained) / _rate(free))
                for name in ("sampled", "resampled", "forced", "batches"):
                    s[name].append(stats[name])
                s["complete"].append(constrained.stop_reason == "stop")
        model.runner.call("set_grammar_decoding", mode="jump")

    med = {key: {k: statistics.median(v) for k, v in s.items() if k != "complete"} for key, s in series.items()}
    free_all = statistics.median([x for s in series.values() for x in s["free_tok_s"]])
    rows = [["unconstrained generate (same prompt, same token counts)", "", free_all, 1.0, "", "", ""]]
    for key, label, _, _ in cases:
        m = med[key]
        rows.append([label, m["tokens"], m["tok_s"], m["ratio"], m["sampled"], m["resampled"], m["forced"]])
    headline = (f"tool call at {med['call_jump']['ratio']:.2f}x unconstrained decode speed "
                f"(was {med['call_full']['ratio']:.2f}x)")
    if "string_jump" in med:  # where jump-forward cannot help: the cost of the check alone
        headline += (f"; inside a long string {med['string_jump']['ratio']:.2f}x "
                     f"(was {med['string_full']['ratio']:.2f}x)")

    with report.figure(out, NAME, TITLE, width=8.0) as ax:
        names = {"call_full": "call\nold", "call_candidate": "call\ncheck only", "call_jump": "call\nnew",
                 "string_full": "string\nold", "string_jump": "string\nnew"}
        labels = ["unconstrained"] + [f"{names[k]}\n{med[k]['ratio']:.2f}x" for k, *_ in cases]
        values = [free_all] + [med[k]["tok_s"] for k, *_ in cases]
        colors = ["#888888"] + ["#c0504d" if mode == "full" else "#2e8b57" for _, _, mode, _ in cases]
        ax.bar(labels, values, color=colors)
        ax.set_ylabel("tokens/s (decode, median)")

    return report.Result(
        name=NAME,
        title=TITLE,
        columns=["path", "tokens", "tokens/s", "x unconstrained", "sampled", "resampled", "forced"],
        rows=rows,
        numbers={
            "tools": source,
            "n_tools": len(specs),
            "repetitions": reps,
            "quick": quick,
            "caps": {key: cap for key, _, _, cap in cases},
            "load_seconds": load_seconds,
            "unconstrained_tok_s": free_all,
            "medians": med,
            "series": series,
            "machine": report.machine(),
        },
        headline=headline,
        plot=f"{NAME}.png",
        seconds=time.perf_counter() - started,
    )

