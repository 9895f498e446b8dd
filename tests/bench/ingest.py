"""Ingestion, side by side in one run: Pipeline against the raw embedder, and file saved to searchable.

1. Throughput: ``Pipeline.run`` over a folder of prose files (read, hash, extract, chunk, embed in
   the embedder's runner process through the scheduler in batches of 8, as the app does, write)
   against the raw embedder (llama-cpp-python called directly, in a fresh process with the runner's
   OpenMP setting) embedding the very same chunk texts, in batches of 32 (its best) and, in full
   mode, of 8 (the pipeline's batch). Chunks/s and KB/s.
2. File saved to searchable: an IngestService watches the indexed folder; one file at a time gets
   a new word, and the time until a search finds it is measured (p50, p95).
3. A burst: thousands of new files land in a watched folder at once; for each, the time from its
   creation until a search finds it (p50, p95).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app import paths
from app.settings import Settings
from tests.bench import report

NAME = "ingest"
TITLE = "Ingestion: Pipeline vs raw embedder; file saved to searchable"
WORDS = ("the of and to in a is that for it as was with be by on not he this are or his from at which but have "
         "an they you were her she there been one all we their has would when if so no will my more can who "
         "garden river budget meeting project report travel invoice contract family recipe doctor school "
         "holiday train energy market letter summer winter window music ocean forest silver bridge north").split()


def log(message: str) -> None:
    print(f"[{NAME}] {message}", file=sys.stderr, flush=True)


def prose(n_words: int, rng: random.Random) -> str:
    """Paragraphs of plain sentences (about 60 words a paragraph)."""
    words = [rng.choice(WORDS) for _ in range(n_words)]
    sentences = [" ".join(words[i:i + 12]).capitalize() + "." for i in range(0, n_words, 12)]
    return "\n\n".join(" ".join(sentences[i:i + 5]) for i in range(0, len(sentences), 5))


def write_corpus(folder: Path, n_files: int, seed: int = 0) -> int:
    """``n_files`` text files of 150 to 600 words; returns their total size in bytes."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    size = 0
    for k in range(n_files):
        path = folder / f"doc{k:05d}.txt"
        path.write_text(prose(rng.randint(150, 600), rng))
        size += path.stat().st_size
    return size


def embedder_path() -> Path:
    """The default embedder (all-MiniLM-L6-v2), converted once into the benchmark cache."""
    from models.convert import ensure_default_embedder

    return ensure_default_embedder(paths.cache_dir() / "bench")


def bench_throughput(memory, scheduler, folder: Path, n_files: int, batches: tuple[int, ...]) -> dict:
    from app.ingest.pipeline import EMBED_BATCH, Pipeline

    size = write_corpus(folder, n_files)
    pipeline = Pipeline(memory, scheduler=scheduler)
    pipeline.scan(folder)
    summary = pipeline.run()
    pipeline.close()
    texts = [row[0] for row in memory.db.fetchall("SELECT content FROM chunks ORDER BY id")]
    log(f"pipeline: {summary.chunks} chunks of {n_files} files in {summary.seconds:.1f} s")

    seconds = raw_embed_seconds(texts, batches, folder.parent)
    for batch, elapsed in seconds.items():
        log(f"raw embedder, batches of {batch}: {len(texts)} chunks in {elapsed:.1f} s")
    return {
        "files": n_files, "kb": size / 1e3, "chunks": summary.chunks, "embedded": summary.embedded,
        "pipeline_embed_batch": EMBED_BATCH,
        "pipeline_s": summary.seconds, "pipeline_chunks_s": summary.chunks / summary.seconds,
        "pipeline_kb_s": size / 1e3 / summary.seconds,
        "raw_s": {batch: seconds[batch] for batch in batches},
        "raw_chunks_s": {batch: len(texts) / seconds[batch] for batch in batches},
        "pipeline_over_raw": (summary.chunks / summary.seconds) / (len(texts) / seconds[32]),
    }


def raw_embed_seconds(texts: list[str], batches: tuple[int, ...], work: Path) -> dict[int, float]:
    """Seconds ``LlamaEmbedder.embed`` takes over ``texts`` at each batch size, called directly.

    It runs in a child process: OpenMP reads OMP_WAIT_POLICY once, when llama.cpp is loaded, and
    the runner sets it to PASSIVE (spinning threads are several times slower on a busy machine);
    this process may have loaded llama.cpp already, with spinning threads.
    """
    path = work / "raw-texts.json"
    path.write_text(json.dumps({"model": str(embedder_path()), "texts": texts, "batches": list(batches)}))
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(report.ROOT)}
    done = subprocess.run([sys.executable, "-m", "tests.bench.ingest", str(path)], env=env, cwd=report.ROOT,
                          capture_output=True, text=True, check=True)
    return {int(batch): seconds for batch, seconds in json.loads(done.stdout.splitlines()[-1]).items()}


def _raw_main(request: Path) -> None:
    """The child of ``raw_embed_seconds``: prints {batch size: seconds} as JSON."""
    from models.engine.embedding import LlamaEmbedder

    job = json.loads(request.read_text())
    raw = LlamaEmbedder(job["model"])
    raw.embed(job["texts"][:8])  # warm
    seconds = {}
    for batch in job["batches"]:
        start = time.perf_counter()
        raw.embed(job["texts"], batch_size=batch)
        seconds[batch] = time.perf_counter() - start
    raw.close()
    print(json.dumps(seconds))


def bench_saved_to_searchable(memory, scheduler, folder: Path, n_files: int, edits: int) -> dict:
    """Edits in the folder just indexed, watched by an IngestService, each timed until found."""
    from app.ingest.service import IngestService

    service = IngestService(memory, scheduler, roots=[folder], conf=Settings(), debounce=0.2)
    service.start()
    try:
        assert service.wait_idle(600), "the initial rescan did not finish"
        times = []
        rng = random.Random(2)
        for k in range(edits):
            path = folder / f"doc{rng.randrange(n_files):05d}.txt"
            word = f"zqx{k}marker"
            text = path.read_text()
            start = time.perf_counter()
            path.write_text(text + f"\n\nAdded note {word}.")
            while not memory.index.bm25("documents", word, 1):
                if time.perf_counter() - start > 60:
                    raise TimeoutError(f"{path.name} was not searchable after 60 s")
                time.sleep(0.01)
            times.append(time.perf_counter() - start)
            time.sleep(0.3)
    finally:
        service.stop()
    log(f"saved to searchable: p50 {report.p50(times):.2f} s over {edits} edits")
    return {"edits": edits, "debounce_s": 0.2, "p50_s": report.p50(times), "p95_s": report.p95(times),
            "max_s": max(times), "samples_s": times}


def bench_burst(memory, scheduler, folder: Path, n_files: int) -> dict:
    """A burst of new files lands in a watched folder at once: for each, the time from its creation
    until a search finds it (the watcher marks, the scan queues, the pipeline indexes in groups)."""
    from app.ingest.service import IngestService

    folder.mkdir(parents=True, exist_ok=True)
    service = IngestService(memory, scheduler, roots=[folder], conf=Settings(), debounce=0.2)
    service.start()
    try:
        assert service.wait_idle(60), "the empty folder's first scan did not finish"
        rng = random.Random(5)
        created: dict[str, float] = {}
        start = time.perf_counter()
        for k in range(n_files):
            path = folder / f"burst{k:05d}.txt"
            path.write_text(f"Burst note zqb{k}mark.\n\n" + prose(rng.randint(40, 120), rng))
            created[str(path)] = time.perf_counter()
        landed = time.perf_counter() - start
        found: dict[str, float] = {}
        deadline = time.perf_counter() + 60 + n_files * 0.5
        while len(found) < n_files:
            assert time.perf_counter() < deadline, f"only {len(found)} of {n_files} burst files became searchable"
            now = time.perf_counter()
            indexed = memory.db.fetchall("SELECT path FROM documents WHERE status = 'indexed' AND "
                                         "starts_with(path, ?)", [str(folder) + "/"])
            fresh = [row[0] for row in indexed if row[0] not in found]
            if fresh:  # confirm through search itself that what is indexed is found
                sample = fresh[0]
                number = int(Path(sample).stem.removeprefix("burst"))
                assert memory.index.bm25("documents", f"zqb{number}mark", 1), f"{sample} is indexed but not found"
            for path in fresh:
                found[path] = now - created[path]
            time.sleep(0.2)
    finally:
        service.stop()
    times = list(found.values())
    log(f"burst of {n_files}: searchable p50 {report.p50(times):.1f} s, p95 {report.p95(times):.1f} s")
    return {"files": n_files, "landed_s": landed, "p50_s": report.p50(times), "p95_s": report.p95(times),
            "max_s": max(times)}


def plot(out: Path, throughput: dict, searchable: dict) -> None:
    from matplotlib.ticker import MaxNLocator

    with report.figure(out, NAME, "Throughput (chunks of up to 200 tokens)", width=10, height=4.2) as ax:
        raw = throughput["raw_chunks_s"]
        labels = ["Pipeline\n(runner, scheduled)"] + [f"raw llama.cpp\nbatches of {batch}" for batch in raw]
        values = [throughput["pipeline_chunks_s"], *raw.values()]
        bars = ax.bar(labels, values, color=["tab:blue", "tab:grey", "silver"][:len(values)])
        ax.bar_label(bars, fmt="%.1f", padding=2)
        ax.set_ylabel("chunks per second (higher is better)")
        ax.set_ylim(0, max(values) * 1.2)
        fig = ax.figure
        grid = fig.add_gridspec(1, 2, width_ratios=[1.2, 1])
        ax.set_subplotspec(grid[0])
        right = fig.add_subplot(grid[1])
        samples = searchable["samples_s"]
        right.plot(range(1, len(samples) + 1), samples, marker="o", color="tab:blue", label="each edit")
        right.axhline(searchable["p50_s"], color="tab:green", linestyle="-", label=f"p50 {searchable['p50_s']:.2f} s")
        right.axhline(searchable["p95_s"], color="tab:red", linestyle="--", label=f"p95 {searchable['p95_s']:.2f} s")
        right.axhline(searchable["debounce_s"], color="grey", linestyle=":", label="watcher debounce")
        right.set_ylim(0, max(samples) * 1.25)
        right.xaxis.set_major_locator(MaxNLocator(integer=True))
        right.set_xlabel("edit")
        right.set_ylabel("file saved to searchable (s)")
        right.set_title("Saved to searchable (watched folder)", fontsize=11)
        right.grid(True, alpha=0.3)
        right.legend(fontsize=8, loc="lower right")
        fig.suptitle(TITLE, fontsize=12)


def run(quick: bool, out: Path) -> report.Result:
    from app.ingest.pipeline import EMBED_BATCH
    from models.scheduler import Scheduler
    from app.memory.store import MemoryStore
    from models.local_client import LocalEmbedder

    started = time.perf_counter()
    n_files, edits, burst_files = (24, 5, 120) if quick else (300, 30, 5000)
    batches = (32,) if quick else (32, EMBED_BATCH)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        embedder = LocalEmbedder(embedder_path())
        memory = MemoryStore.open(work / "ingest.duckdb", embedder, embedder.info.file_hash)
        scheduler = Scheduler()
        try:
            throughput = bench_throughput(memory, scheduler, work / "corpus", n_files, batches)
            searchable = bench_saved_to_searchable(memory, scheduler, work / "corpus", n_files, edits)
            burst = bench_burst(memory, scheduler, work / "burst", burst_files)
        finally:
            scheduler.close()
            memory.close()
            embedder.close()
    plot(out, throughput, searchable)

    t, s = throughput, searchable
    rows = [
        ["Pipeline (runner, scheduled), chunks/s", t["pipeline_chunks_s"]],
        *[[f"raw embedder, batches of {batch}, chunks/s", rate] for batch, rate in t["raw_chunks_s"].items()],
        ["Pipeline over raw (batches of 32)", t["pipeline_over_raw"]],
        ["Pipeline, KB of text/s", t["pipeline_kb_s"]],
        ["saved to searchable p50, s", s["p50_s"]],
        ["saved to searchable p95, s", s["p95_s"]],
        [f"burst of {burst['files']:,} new files: created to searchable p50, s", burst["p50_s"]],
        [f"burst of {burst['files']:,} new files: created to searchable p95, s", burst["p95_s"]],
    ]
    headline = (f"ingestion at {t['pipeline_over_raw']:.2f}x the raw embedder's chunks/s "
                f"({t['pipeline_chunks_s']:.1f} vs {t['raw_chunks_s'][32]:.1f}); saved to searchable in "
                f"{s['p50_s']:.2f} s (p50); a burst of {burst['files']:,} files searchable in "
                f"{burst['p50_s']:.1f} s p50, {burst['p95_s']:.1f} s p95")
    return report.Result(name=NAME, title=TITLE, columns=["measure", "value"], rows=rows,
                         numbers={"quick": quick, "throughput": throughput, "saved_to_searchable": searchable,
                                  "burst": burst},
                         headline=headline, plot=f"{NAME}.png", seconds=time.perf_counter() - started)


if __name__ == "__main__":
    _raw_main(Path(sys.argv[1]))
