"""Decode tokens/s: Pagemind's runtime against raw llama-cpp-python, and against the memory-bandwidth limit.

The shape-alike 0.5B model (Qwen2.5-0.5B's shapes and vocabulary, random F16 weights) generates
the same number of tokens after the same prompt, greedily:
- Pagemind: ``LocalChatModel.generate``, in the runner process, as the app calls it;
- raw: ``llama_cpp.Llama`` in this process, one ``eval`` per token after the same prefill, timed
  the same way (decode only).
The limit: decoding one token reads every weight once, so no CPU decodes faster than the memory
bandwidth divided by the bytes of weights. Bandwidth is measured here with a large numpy copy on
as many threads as llama.cpp uses (bytes read plus bytes written per second, as STREAM's copy
counts them).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from models import gguf_file
from models.local_client import LocalChatModel
from tests.bench import report
from tests.bench.report import shape_alike_path

NAME = "decode"
TITLE = "Decode tokens/s: Pagemind vs raw llama-cpp-python vs the bandwidth limit"
PROMPT = "<|im_start|>user\n" + " ".join(["budget report folder memory notes"] * 12) + "<|im_end|>\n<|im_start|>assistant\n"


def copy_bandwidth(megabytes: int = 512, repeats: int = 5, threads: int = 2) -> float:
    """Bytes moved per second (read + write) by the best of ``repeats`` large copies, split over
    as many threads as llama.cpp decodes with (numpy releases the GIL while copying)."""
    from concurrent.futures import ThreadPoolExecutor

    source = np.ones(megabytes * 2**20 // 8, dtype=np.float64)
    target = np.empty_like(source)
    parts = list(zip(np.array_split(source, threads), np.array_split(target, threads)))
    best = float("inf")
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(repeats):
            start = time.perf_counter()
            list(pool.map(lambda pair: np.copyto(pair[1], pair[0]), parts))
            best = min(best, time.perf_counter() - start)
    return 2 * source.nbytes / best


def weight_bytes_per_token(path: Path) -> int:
    """The bytes of weights one decode step reads: every tensor, except that only one row of the
    token embedding is read when the model has a separate output matrix."""
    sizes = gguf_file.tensor_bytes(path)
    if "output.weight" in sizes and "token_embd.weight" in sizes:
        sizes.pop("token_embd.weight")
    return sum(sizes.values())


def ours(path: Path, n_tokens: int, repeats: int) -> list[float]:
    rates = []
    with LocalChatModel(path, n_ctx=2048, temperature=0.0) as model:
        for i in range(repeats):
            generation = model.generate(PROMPT.replace("user", f"user{i}", 1), max_tokens=n_tokens)
            rates.append(generation.n_generated / generation.decode_seconds)
    return rates


def raw(path: Path, n_tokens: int, repeats: int) -> list[float]:
    import llama_cpp

    from models.engine.llama_env import default_threads

    llm = llama_cpp.Llama(str(path), n_ctx=2048, n_threads=default_threads(), verbose=False)
    rates = []
    try:
        for i in range(repeats):
            llm.reset()
            tokens = llm.tokenize(PROMPT.replace("user", f"user{i}", 1).encode(), special=True)
            llm.eval(tokens)
            start = time.perf_counter()
            for _ in range(n_tokens):
                logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
                llm.eval([int(np.argmax(logits))])
            rates.append(n_tokens / (time.perf_counter() - start))
    finally:
        llm.close()
    return rates


def run(quick: bool, out: Path) -> report.Result:
    path = shape_alike_path()
    n_tokens, repeats = (16, 1) if quick else (64, 3)
    print("decode: Pagemind's runner ...", file=sys.stderr)
    ours_rates = ours(path, n_tokens, repeats)
    print("decode: raw llama-cpp-python ...", file=sys.stderr)
    raw_rates = raw(path, n_tokens, repeats)
    from models.engine.llama_env import default_threads

    bandwidth = copy_bandwidth(256 if quick else 1024, threads=default_threads())
    per_token = weight_bytes_per_token(path)
    limit = bandwidth / per_token
    ours_rate, raw_rate = report.p50(ours_rates), report.p50(raw_rates)
    rows = [
        ["Pagemind (runner process)", ours_rate, ours_rate / raw_rate, ours_rate / limit],
        ["raw llama-cpp-python", raw_rate, 1.0, raw_rate / limit],
        ["bandwidth limit", limit, limit / raw_rate, 1.0],
    ]
    numbers = {"tokens": n_tokens, "ours_tok_s": ours_rates, "raw_tok_s": raw_rates,
               "copy_bandwidth_gb_s": bandwidth / 1e9, "weight_bytes_per_token": per_token,
               "limit_tok_s": limit, "ours_over_raw": ours_rate / raw_rate, "ours_over_limit": ours_rate / limit}
    with report.figure(out, NAME, TITLE, width=6.5, height=3.6) as ax:
        labels = [row[0] for row in rows]
        bars = ax.barh(labels, [row[1] for row in rows], color=["#2563eb", "#94a3b8", "#e2e8f0"],
                       edgecolor="#334155")
        ax.bar_label(bars, fmt="%.1f tok/s", padding=3, fontsize=8)
        ax.set_xlabel(f"decode tokens/s (shape-alike 0.5B, F16, {per_token / 1e6:.0f} MB read per token)")
        ax.invert_yaxis()
        ax.set_xlim(0, limit * 1.25)
    return report.Result(
        NAME, TITLE, ["", "tokens/s", "vs raw", "of the limit"], rows, numbers,
        headline=(f"decode {ours_rate:.1f} tok/s = {ours_rate / raw_rate:.2f}x raw llama-cpp-python, "
                  f"{100 * ours_rate / limit:.0f}% of the {limit:.1f} tok/s bandwidth limit "
                  f"({bandwidth / 1e9:.1f} GB/s copy)"),
        plot=f"{NAME}.png")
