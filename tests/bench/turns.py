"""Time to first token over a 30-turn conversation, measured side by side in one run.

The shape-alike 0.5B model (Qwen2.5-0.5B's dimensions and vocabulary) serves the real main
context: Pagemind's system prompt and tool list (the static prefix, about 2,000 tokens), core
memory, then a scripted conversation (each turn: a request, a tool call, its result, a reply).
For every turn the agent's own request is timed: one grammar-constrained tool call, to its first
token.

- with prefix reuse: one runner, as the app runs: between turns the agent's upkeep folds old
  messages into the summary when the context is 75% full and evaluates the context, so a turn
  evaluates only its own request;
- without reuse: the KV cache is spoiled before the turn, so the whole prompt is evaluated;
- after a restart: the agent saves the context's KV state when it stops; a new runner restores
  it and serves the next turn. Also the first turn of a new conversation after a restart, with
  the saved state of the system message, against the same turn cold.

Part of ``python main.py bench``; ``--quick`` serves 3 turns with one cold prefill.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import tools
from app.kernel.agent import Agent
from app.kernel.context import ContextLimits, MainContext, static_text
from app.kernel.prompts import SYSTEM_PROMPT
from app.memory.store import MemoryStore
from app.settings import Settings
from models.local_client import LocalChatModel
from tests.bench import report
from tests.bench.report import shape_alike_path

NAME = "turns"
TITLE = "Time to first token over a conversation: prefix reuse, no reuse, restart"

N_CTX = Settings().context_length
"""The app's default context length."""
SPOIL = "<|im_start|>user\nsomething else entirely<|im_end|>\n"


def static_tools(model: LocalChatModel, target: int = 2000) -> list:
    """The registry's tools, as many as make a static prefix of about ``target`` tokens."""
    specs = tools.load_all().specs()
    while len(specs) > 1 and model.count_tokens(static_text(SYSTEM_PROMPT, specs)) > target:
        specs = specs[:-1]
    return specs


def script(turn: int) -> tuple[str, list[tuple[str, str, dict]]]:
    """Turn ``turn``'s request, and what follows it in the conversation."""
    folder = ["Documents", "Downloads", "Pictures", "Music", "Projects"][turn % 5]
    request = f"Turn {turn}: please list what is in my {folder} folder and tell me the newest file."
    rest = [
        ("assistant", "List the folder, newest first.",
         {"tool_name": "list_dir", "tool_args": {"path": f"~/{folder}", "sort": "modified", "request_heartbeat": True}}),
        ("tool", f"~/{folder}: 3 entries\nreport-{turn}.pdf  120 KB\nnotes-{turn}.md  4 KB\nold  (folder)",
         {"tool_name": "list_dir"}),
        ("assistant", "Tell the user.",
         {"tool_name": "send_message", "tool_args": {"message": f"The newest file is report-{turn}.pdf."}}),
        ("tool", f"The newest file is report-{turn}.pdf.", {"tool_name": "send_message"}),
    ]
    return request, rest


def first_token(context: MainContext, specs: list) -> tuple[float, int, int]:
    """Seconds to the first token of the agent's first step (memory check, then the call),
    prompt tokens, tokens evaluated."""
    start = time.perf_counter()
    context.manage()
    call = context.model.tool_call(context.messages(), specs, max_tokens=1)
    elapsed = time.perf_counter() - start
    return elapsed, call.generation.n_prompt, call.generation.n_evaluated


def measure(turns: int, cold_every: int, prefix_tokens: int, fresh: bool) -> dict:
    path = shape_alike_path()
    results: dict = {"turns": [], "model": "shape-alike Qwen2.5-0.5B (F16, 151,936 tokens)", "n_ctx": N_CTX}
    with tempfile.TemporaryDirectory() as tmp:
        memory = MemoryStore.open(Path(tmp) / "bench.duckdb")
        model = LocalChatModel(path, n_ctx=N_CTX, temperature=0.0)
        specs = static_tools(model, prefix_tokens)
        limits = ContextLimits(window=N_CTX)
        context = MainContext(model, memory, "bench", SYSTEM_PROMPT, specs, limits)
        results["static_prefix_tokens"] = model.count_tokens(context.static)
        results["tools_in_prefix"] = len(specs)
        agent = Agent(model, context, gate=None, tools=specs)  # type: ignore[arg-type]
        for turn in range(1, turns + 1):
            request, rest = script(turn)
            context.add("user", request)
            row: dict = {"turn": turn}
            # First as the app runs (the cache holds the previous turn), then with the cache spoiled.
            row["reuse_s"], row["prompt_tokens"], row["reuse_evaluated"] = first_token(context, specs)
            if turn == 1:
                row["cold_s"], row["cold_evaluated"] = row["reuse_s"], row["reuse_evaluated"]
            elif cold_every and (turn % cold_every == 0 or turn == turns):
                model.evaluate(SPOIL)
                row["cold_s"], _, row["cold_evaluated"] = first_token(context, specs)
            results["turns"].append(row)
            print(f"turn {turn:2d}: {row}", file=sys.stderr)
            for role, content, fields in rest:
                context.add(role, content, **fields)
            start = time.perf_counter()
            row["upkeep"] = agent.maintain()  # idle time between turns, as the app spends it
            row["upkeep_s"] = time.perf_counter() - start
        agent.suspend()
        model.close()

        # A restart: a new runner restores the saved state and serves the next turn.
        start = time.perf_counter()
        model = LocalChatModel(path, n_ctx=N_CTX, temperature=0.0)
        results["restart_load_s"] = time.perf_counter() - start
        context = MainContext(model, memory, "bench", SYSTEM_PROMPT, specs, limits)
        agent = Agent(model, context, gate=None, tools=specs)  # type: ignore[arg-type]
        start = time.perf_counter()
        results["restart_restored_tokens"] = agent.resume()
        results["restart_restore_s"] = time.perf_counter() - start
        request, _ = script(turns + 1)
        context.add("user", request)
        results["restart_next_turn_s"], _, results["restart_next_turn_evaluated"] = first_token(context, specs)
        if cold_every:
            model.evaluate(SPOIL)
            results["cold_next_turn_s"], _, results["cold_next_turn_evaluated"] = first_token(context, specs)

        model.close()
        if fresh:
            results.update(fresh_restart(path, memory, specs, limits))
        memory.close()
    return results


def fresh_restart(path: Path, memory: MemoryStore, specs: list, limits: ContextLimits) -> dict:
    """The first turn of a new conversation after a restart, with the system message's saved state."""
    results: dict = {}
    model = LocalChatModel(path, n_ctx=N_CTX, temperature=0.0)
    context = MainContext(model, memory, "fresh", SYSTEM_PROMPT, specs, limits)
    agent = Agent(model, context, gate=None, tools=specs)  # type: ignore[arg-type]
    agent.resume()  # nothing saved for this conversation yet: evaluates and saves the system part
    model.close()
    model = LocalChatModel(path, n_ctx=N_CTX, temperature=0.0)
    context = MainContext(model, memory, "fresh", SYSTEM_PROMPT, specs, limits)
    agent = Agent(model, context, gate=None, tools=specs)  # type: ignore[arg-type]
    start = time.perf_counter()
    agent.resume()
    restore = time.perf_counter() - start
    context.add("user", script(1)[0])
    seconds, _, evaluated = first_token(context, specs)
    results["fresh_restart_first_turn_s"] = restore + seconds
    results["fresh_restart_first_turn_evaluated"] = evaluated
    model.evaluate(SPOIL)
    results["fresh_cold_first_turn_s"], _, _ = first_token(context, specs)
    model.close()
    return results


def run(quick: bool, out: Path) -> report.Result:
    # --quick: 3 turns over a short static prefix, and the only cold prefill is turn 1's (shorter than the later
    # turns', so the no-reuse ratios it gives are understated).
    turns, cold_every = (3, 0) if quick else (30, 5)
    results = measure(turns, cold_every, prefix_tokens=500 if quick else 2000, fresh=not quick)
    rows_by_turn = {row["turn"]: row for row in results["turns"]}
    last = max(rows_by_turn)
    cold_row = rows_by_turn[max(turn for turn, row in rows_by_turn.items() if "cold_s" in row)]
    results.setdefault("cold_next_turn_s", cold_row["cold_s"])
    results.setdefault("cold_next_turn_evaluated", cold_row["cold_evaluated"])
    rows = [[f"turn {row['turn']}", row["prompt_tokens"], 1000 * row["reuse_s"], row["reuse_evaluated"],
             1000 * row["cold_s"] if "cold_s" in row else None] for row in results["turns"]]
    restart_ms = 1000 * (results["restart_restore_s"] + results["restart_next_turn_s"])
    cold_ms = 1000 * results["cold_next_turn_s"]
    rows.append([f"turn {last + 1}, after a restart", None, restart_ms, results["restart_next_turn_evaluated"], cold_ms])
    numbers = {**results,
               f"turn_{last}_over_turn_2_reuse": rows_by_turn[last]["reuse_s"] / rows_by_turn[2]["reuse_s"],
               f"turn_{cold_row['turn']}_cold_over_turn_{last}_reuse": cold_row["cold_s"] / rows_by_turn[last]["reuse_s"],
               "restart_over_cold": restart_ms / cold_ms}
    if "fresh_cold_first_turn_s" in results:
        numbers["fresh_restart_over_cold"] = results["fresh_restart_first_turn_s"] / results["fresh_cold_first_turn_s"]
        rows.append(["new conversation, after a restart", None, 1000 * results["fresh_restart_first_turn_s"],
                     results["fresh_restart_first_turn_evaluated"], 1000 * results["fresh_cold_first_turn_s"]])
    with report.figure(out, NAME, TITLE) as ax:
        xs = [row["turn"] for row in results["turns"]]
        ax.plot(xs, [1000 * row["reuse_s"] for row in results["turns"]], "o-", label="prefix reuse (as the app runs)")
        cold = [row for row in results["turns"] if "cold_s" in row]
        ax.plot([row["turn"] for row in cold], [1000 * row["cold_s"] for row in cold], "s--", label="no reuse")
        ax.plot([last + 1], [restart_ms], "D", markersize=9, label="after a restart, saved prefix state")
        ax.plot([last + 1], [cold_ms], "x", markersize=9, color="black", label="after a restart, cold")
        ax.set_xlabel("turn")
        ax.set_ylabel("time to first token (ms)")
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    return report.Result(
        NAME, TITLE, ["turn", "prompt tokens", "reuse ms", "evaluated", "no reuse ms"], rows, numbers,
        headline=(f"turn {last} answers {cold_row['cold_s'] / rows_by_turn[last]['reuse_s']:.1f}x faster "
                  f"with prefix reuse than turn {cold_row['turn']} without "
                  f"({1000 * rows_by_turn[last]['reuse_s']:.0f} ms, flat from turn 2: "
                  f"{numbers[f'turn_{last}_over_turn_2_reuse']:.2f}x); after a restart "
                  f"{cold_ms / restart_ms:.1f}x faster than cold"),
        plot=f"{NAME}.png")
