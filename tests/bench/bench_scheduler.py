"""Does the embedder need a runner of its own, and what does the scheduler buy? Side by side.

The shape-alike 0.5B chat model answers turns of a conversation (about 270 new tokens each, the
rest reused from the KV cache), timed to the first token of its tool call:

- idle: nothing else runs;
- free for all: the embedder, in its own runner, embeds chunks continuously at the same time
  (both runners compete for the cores);
- scheduled: the same embedding goes through the scheduler at background priority, in batches,
  so a chat request waits at most for the batch in flight.

Also the embedder runner's own cost: its start-up time and resident memory.

Run: ``python -m tests.bench.bench_scheduler``. Results go to stdout and
``bench-results/scheduler.json``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.kernel.context import ContextLimits, MainContext  # noqa: E402
from app.kernel.prompts import SYSTEM_PROMPT  # noqa: E402
from app.kernel.scheduler import Priority, ScheduledChatModel, ScheduledEmbedder, Scheduler  # noqa: E402
from app.memory.store import MemoryStore  # noqa: E402
from models.convert import ensure_default_embedder  # noqa: E402
from models.local import LocalChatModel, LocalEmbedder  # noqa: E402
from tests.bench import report  # noqa: E402
from tests.bench.bench_models import _text, shape_alike_path  # noqa: E402
from tests.bench.bench_turns import N_CTX, first_token, script, static_tools  # noqa: E402

TURNS = 4
BATCH = 8


def turns(context: MainContext, specs: list, start: int) -> list[float]:
    """TURNS turns of the scripted conversation; the seconds to each turn's first token."""
    times = []
    for turn in range(start, start + TURNS):
        request, rest = script(turn)
        context.add("user", request)
        times.append(first_token(context, specs)[0])
        for role, content, fields in rest:
            context.add(role, content, **fields)
    return times


class Background:
    """Embeds chunks until stopped, either directly or through the scheduler in batches."""

    def __init__(self, embed) -> None:
        self.embed = embed
        self.chunks = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            self.embed([_text(200, seed=n + i) for i in range(BATCH)])
            self.chunks += BATCH
            n += BATCH

    def __enter__(self) -> Background:
        self.started = time.perf_counter()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.rate = self.chunks / (time.perf_counter() - self.started)


def main() -> int:
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        embedder_path = ensure_default_embedder(work)
        start = time.perf_counter()
        embedder = LocalEmbedder(embedder_path)
        results["embedder_runner_start_s"] = time.perf_counter() - start
        results["embedder_runner_rss_mb"] = psutil.Process(embedder.runner.pid).memory_info().rss / 1e6
        embedder.embed([_text(200)])
        start = time.perf_counter()
        embedder.embed([_text(200, seed=i) for i in range(64)])
        results["embed_idle_chunks_s"] = 64 / (time.perf_counter() - start)

        memory = MemoryStore.open(work / "bench.duckdb")
        model = LocalChatModel(shape_alike_path(), n_ctx=N_CTX, temperature=0.0)
        results["chat_runner_rss_mb"] = psutil.Process(model.runner.pid).memory_info().rss / 1e6
        scheduler = Scheduler()
        chat = ScheduledChatModel(model, scheduler)
        specs = static_tools(model)
        context = MainContext(chat, memory, "bench", SYSTEM_PROMPT, specs, ContextLimits(window=N_CTX))
        turns(context, specs, 1)  # warm: the static prefix is in the cache from here on

        idle = turns(context, specs, 100)
        with Background(embedder.embed) as free:
            contended = turns(context, specs, 200)
        with Background(ScheduledEmbedder(embedder, scheduler, Priority.BACKGROUND).embed) as queued:
            scheduled = turns(context, specs, 300)
        scheduler.close()
        model.close()
        embedder.close()
        memory.close()

    results.update(
        ttft_idle_s=statistics.median(idle),
        ttft_free_for_all_s=statistics.median(contended),
        ttft_scheduled_s=statistics.median(scheduled),
        embed_free_for_all_chunks_s=free.rate,
        embed_scheduled_chunks_s=queued.rate,
    )
    results["free_for_all_over_idle"] = results["ttft_free_for_all_s"] / results["ttft_idle_s"]
    results["scheduled_over_idle"] = results["ttft_scheduled_s"] / results["ttft_idle_s"]
    report.save("scheduler", results)
    report.print_numbers(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
