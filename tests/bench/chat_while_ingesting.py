"""Chat time to first token while the pipeline ingests a folder, against idle, side by side.

The shape-alike 0.5B chat model (Qwen2.5-0.5B's shape and vocabulary) serves Pagemind's real main
context through the scheduler: the system message (prompt, tool list, core memory: about 2,100
tokens) is restored from a saved KV state, as the app does at start, and each turn of a scripted
conversation evaluates about 270 new tokens, timed to the first token of its grammar-constrained
tool call. The turns alternate between the conditions, so a machine that speeds up or slows down
during the run (a shared one does) weighs on every condition alike:

- idle: ingestion is paused (its thread waits before its next embedding batch);
- while ingesting, scheduled (as the app runs): ``Pipeline`` embeds through the scheduler at
  background priority, in batches of 8 chunks, so a chat request waits at most for the batch in
  flight; the rest of the pipeline (reading, chunking, writing to DuckDB) runs alongside;
- while ingesting, free for all (full mode): the same pipeline calls the embedder's runner
  directly, so the two runners compete for the cores (token counting stays scheduled).

Also recorded: the part of each TTFT the chat runner spent evaluating (the rest is waiting), each
runner's start-up time and resident memory, and the chunks embedded per second in each condition.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.bench import report

NAME = "chat_while_ingesting"
TITLE = "Chat time to first token: idle vs while ingesting"
CONDITIONS = {  # key: (label, colour)
    "idle": ("idle", "tab:green"),
    "scheduled": ("while ingesting, scheduled (the app)", "tab:blue"),
    "free_for_all": ("while ingesting, free for all (no scheduler)", "tab:red"),
}
TURNS_PER_CONVERSATION = 12
"""Timed turns before a fresh conversation starts (the context stays below its warning mark)."""


def log(message: str) -> None:
    print(f"[{NAME}] {message}", file=sys.stderr, flush=True)


class Gate:
    """Stands in for the pipeline's embedder: pauses it, or routes its batches to the scheduled or
    the direct embedder, and counts the chunks embedded."""

    def __init__(self, scheduled, direct) -> None:
        self.routes = {"scheduled": scheduled, "free_for_all": direct}
        self.mode = "idle"
        self.chunks = 0
        self.waiting = self.finished = False
        self.cond = threading.Condition()

    def embed(self, texts):
        with self.cond:
            self.waiting = True
            self.cond.notify_all()
            self.cond.wait_for(lambda: self.mode != "idle")
            self.waiting = False
            embedder = self.routes[self.mode]
        vectors = embedder.embed(texts)
        with self.cond:
            self.chunks += len(texts)
        return vectors

    def __getattr__(self, name: str):
        return getattr(self.routes["scheduled"], name)

    def set(self, mode: str, timeout: float = 60) -> None:
        """Switch; pausing waits until the pipeline is held before a batch (finishing its current step)."""
        with self.cond:
            self.mode = mode
            self.cond.notify_all()
            if mode == "idle" and not self.cond.wait_for(lambda: self.waiting or self.finished, timeout):
                log(f"ingestion did not pause within {timeout} s")

    def run(self, pipeline, stop: threading.Event) -> None:
        """The ingestion thread: the pipeline until its queue is empty or ``stop`` is set."""
        try:
            pipeline.run(stop)
        finally:
            with self.cond:
                self.finished = True
                self.cond.notify_all()


def first_token(context, specs: list) -> tuple[float, float, int]:
    """As turns.first_token (the agent's first step, timed to its first token), with the runner's
    own prefill time: seconds to the first token, seconds the runner spent evaluating, tokens evaluated."""
    start = time.perf_counter()
    context.manage()
    call = context.model.tool_call(context.messages(), specs, max_tokens=1)
    elapsed = time.perf_counter() - start
    return elapsed, call.generation.prefill_seconds, call.generation.n_evaluated


def run(quick: bool, out: Path) -> report.Result:
    import psutil

    from app import paths
    from app.ingest.pipeline import Pipeline
    from app.kernel.context import ContextLimits, MainContext
    from app.kernel.prompts import SYSTEM_PROMPT
    from models.scheduler import Priority, ScheduledChatModel, ScheduledEmbedder, Scheduler
    from app.memory.store import MemoryStore
    from models.local_client import LocalChatModel, LocalEmbedder
    from tests.bench.ingest import embedder_path, write_corpus
    from tests.bench.report import shape_alike_path
    from tests.bench.turns import N_CTX, script, static_tools

    started = time.perf_counter()
    per_condition, n_files = (2, 300) if quick else (8, 1500)  # more files than the turns leave time for
    conditions = ["idle", "scheduled"] if quick else ["idle", "scheduled", "free_for_all"]
    numbers: dict = {"quick": quick, "n_ctx": N_CTX, "timed_turns_per_condition": per_condition}
    turns: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        embedder = LocalEmbedder(embedder_path())
        numbers["embedder_runner_start_s"] = time.perf_counter() - start
        memory = MemoryStore.open(work / "chat.duckdb", embedder, embedder.info.file_hash)
        start = time.perf_counter()
        model = LocalChatModel(shape_alike_path(), n_ctx=N_CTX, temperature=0.0)
        numbers["chat_runner_start_s"] = time.perf_counter() - start
        scheduler = Scheduler()
        pipeline = Pipeline(memory, scheduler=scheduler)
        gate = Gate(ScheduledEmbedder(embedder, scheduler, Priority.BACKGROUND), embedder)
        pipeline.embedder = gate
        stop = threading.Event()
        worker = threading.Thread(target=gate.run, args=(pipeline, stop), name="bench-ingest", daemon=True)
        try:
            chat = ScheduledChatModel(model, scheduler)
            specs = static_tools(model)
            limits = ContextLimits(window=N_CTX)
            context = MainContext(chat, memory, "count", SYSTEM_PROMPT, specs, limits)
            system = model.render(context.messages()[:1], add_generation_prompt=False)
            states = paths.cache_dir() / "bench" / "prefix-states"
            start = time.perf_counter()
            numbers["system_tokens_restored"] = model.load_prefix(system, states)
            if not numbers["system_tokens_restored"]:  # the first run: evaluate it once and save it
                model.evaluate(system)
                model.save_prefix(system, states)
            numbers["system_restore_s"] = time.perf_counter() - start
            numbers["static_prefix_tokens"] = model.count_tokens(context.static)
            numbers["system_message_tokens"] = model.count_tokens(system)

            write_corpus(work / "corpus", n_files, seed=3)
            pipeline.scan(work / "corpus")
            worker.start()
            gate.set("idle")  # held before its first batch: files read and chunked

            order = [conditions[(k + k // len(conditions)) % len(conditions)]  # rotated each round
                     for k in range(per_condition * len(conditions))]
            turn = 0
            for k, key in enumerate(order):
                if k % TURNS_PER_CONVERSATION == 0:  # a fresh conversation, its first turn untimed
                    context = MainContext(chat, memory, f"bench-{k}", SYSTEM_PROMPT, specs, limits)
                    turn = 1
                    request, rest = script(turn)
                    context.add("user", request)
                    first_token(context, specs)
                    for role, content, fields in rest:
                        context.add(role, content, **fields)
                turn += 1
                request, rest = script(turn)
                context.add("user", request)
                gate.set(key)
                if key != "idle":
                    time.sleep(0.5)  # ingestion under way
                chunks = gate.chunks
                start = time.perf_counter()
                seconds, evaluating, evaluated = first_token(context, specs)
                embedded = gate.chunks - chunks
                gate.set("idle")
                turns.append({"condition": key, "turn": turn, "ttft_s": seconds, "runner_prefill_s": evaluating,
                              "evaluated": evaluated, "chunks_embedded": embedded,
                              "span_s": time.perf_counter() - start})
                log(f"{key} (turn {turn}): {1000 * seconds:.0f} ms, of which the runner evaluated {evaluated} "
                    f"tokens in {1000 * evaluating:.0f} ms; {embedded} chunks embedded meanwhile")
                for role, content, fields in rest:
                    context.add(role, content, **fields)
            numbers["ingestion_outlasted_the_turns"] = not gate.finished
            numbers["embedder_runner_rss_mb"] = psutil.Process(embedder.runner.pid).memory_info().rss / 1e6
            numbers["chat_runner_rss_mb"] = psutil.Process(model.runner.pid).memory_info().rss / 1e6
        finally:
            stop.set()
            gate.set("scheduled")  # let the pipeline see the stop
            if worker.is_alive():
                worker.join()
            pipeline.close()
            scheduler.close()
            model.close()
            memory.close()
            embedder.close()

    ttft = {key: [t["ttft_s"] for t in turns if t["condition"] == key] for key in conditions}
    prefill = {key: [t["runner_prefill_s"] for t in turns if t["condition"] == key] for key in conditions}
    rate = {key: sum(t["chunks_embedded"] for t in turns if t["condition"] == key)
            / sum(t["span_s"] for t in turns if t["condition"] == key) for key in conditions}
    idle = report.p50(ttft["idle"])
    numbers.update(
        turns=turns, ttft_s=ttft, runner_prefill_s=prefill, chunks_embedded_per_s=rate,
        p50_s={key: report.p50(times) for key, times in ttft.items()},
        p95_s={key: report.p95(times) for key, times in ttft.items()},
        over_idle={key: report.p50(times) / idle for key, times in ttft.items()},
    )
    plot(out, turns, conditions)

    rows = [[CONDITIONS[key][0], 1000 * report.p50(times), 1000 * report.p95(times), report.p50(times) / idle,
             1000 * report.p50(prefill[key]), rate[key]] for key, times in ttft.items()]
    busy = report.p50(ttft["scheduled"])
    headline = f"chat TTFT while ingesting: {busy / idle:.2f}x idle (p50 {1000 * busy:.0f} ms vs {1000 * idle:.0f} ms)"
    if "free_for_all" in ttft:
        headline += f"; {numbers['over_idle']['free_for_all']:.2f}x without the scheduler"
    return report.Result(
        name=NAME, title=TITLE,
        columns=["chat turn", "TTFT p50 ms", "TTFT p95 ms", "p50 over idle", "runner prefill p50 ms",
                 "chunks embedded/s"],
        rows=rows, numbers=numbers, headline=headline, plot=f"{NAME}.png", seconds=time.perf_counter() - started)


def plot(out: Path, turns: list[dict], conditions: list[str]) -> None:
    from matplotlib.ticker import MaxNLocator

    with report.figure(out, NAME, TITLE, width=8, height=4.5) as ax:
        for key in conditions:
            label, colour = CONDITIONS[key]
            points = [(k + 1, 1000 * t["ttft_s"]) for k, t in enumerate(turns) if t["condition"] == key]
            median = report.p50([ms for _, ms in points])
            ax.plot(*zip(*points), marker="o", color=colour, label=f"{label}: p50 {median:.0f} ms")
            ax.axhline(median, color=colour, linestyle=":", alpha=0.7)
            ax.scatter([k + 1 for k, t in enumerate(turns) if t["condition"] == key],
                       [1000 * t["runner_prefill_s"] for t in turns if t["condition"] == key],
                       marker="x", color=colour, alpha=0.8)
        ax.scatter([], [], marker="x", color="grey", label="of which the chat runner evaluating")
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("timed turn, in the order run (conditions alternate; about 270 new tokens each)")
        ax.set_ylabel("time to first token (ms)")
        ax.legend(fontsize=8, loc="lower right")
