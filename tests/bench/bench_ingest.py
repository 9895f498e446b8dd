"""Ingestion benchmarks, each a ratio measured side by side in one run.

1. Throughput: ``Pipeline.run`` over a folder of prose files (read, hash, extract, chunk, embed in
   the runner, write) against the raw embedder (llama-cpp-python in this process, batches of 32)
   embedding the very same chunk texts. Chunks/s and MB/s.
2. File saved to searchable: an IngestService watches the indexed folder; one file at a time is
   edited to hold a new word, and the time until a search finds it is measured (p50, p95).
3. Chat time to first token while ingesting against idle: the shape-alike 0.5B chat model answers
   turns through the scheduler, alone and while the pipeline ingests a folder at background priority.
4. Search at 100k chunks: ``Documents.search`` (BM25 + vectors fused, hits joined to their files)
   with the query vector given, and with the query embedded as a user's search does it.

Run: ``python -m tests.bench.bench_ingest [--quick]``. Results go to stdout and
``bench-results/ingest.json``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.ingest.pipeline import Pipeline  # noqa: E402
from app.ingest.service import IngestService  # noqa: E402
from app.memory.documents import DocumentRow, NewChunk  # noqa: E402
from app.memory.store import MemoryStore  # noqa: E402
from models.convert import ensure_default_embedder  # noqa: E402
from models.local import LocalEmbedder  # noqa: E402
from tests.bench import report  # noqa: E402

WORDS = ("the of and to in a is that for it as was with be by on not he this are or his from at which but have "
         "an they you were her she there been one all we their has would when if so no will my more can who "
         "garden river budget meeting project report travel invoice contract family recipe doctor school "
         "holiday train energy market letter summer winter window music ocean forest silver bridge north").split()


def prose(n_words: int, rng: random.Random) -> str:
    """Paragraphs of plain sentences (about 60 words a paragraph)."""
    words = [rng.choice(WORDS) for _ in range(n_words)]
    sentences = [" ".join(words[i:i + 12]).capitalize() + "." for i in range(0, n_words, 12)]
    return "\n\n".join(" ".join(sentences[i:i + 5]) for i in range(0, len(sentences), 5))


def write_corpus(folder: Path, n_files: int, seed: int = 0) -> int:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    size = 0
    for k in range(n_files):
        path = folder / f"doc{k:05d}.txt"
        path.write_text(prose(rng.randint(150, 600), rng))
        size += path.stat().st_size
    return size


def bench_throughput(work: Path, embedder: LocalEmbedder, n_files: int, results: dict) -> None:
    from models.embedding import LlamaEmbedder  # the raw embedder, in this process

    folder = work / "corpus"
    size = write_corpus(folder, n_files)
    memory = MemoryStore.open(work / "throughput.duckdb", embedder, embedder.info.file_hash)
    pipeline = Pipeline(memory)
    pipeline.scan(folder)
    summary = pipeline.run()
    pipeline.close()
    texts = [row[0] for row in memory.db.fetchall("SELECT content FROM chunks ORDER BY id")]
    memory.close()

    raw = LlamaEmbedder(embedder.info.path)
    raw.embed(texts[:8])
    start = time.perf_counter()
    raw.embed(texts, batch_size=32)
    raw_seconds = time.perf_counter() - start
    raw.close()
    results["throughput"] = {
        "files": n_files, "chunks": summary.chunks, "mb": size / 1e6,
        "pipeline_s": summary.seconds, "raw_embed_s": raw_seconds,
        "pipeline_chunks_s": summary.chunks / summary.seconds, "raw_chunks_s": len(texts) / raw_seconds,
        "pipeline_mb_s": size / 1e6 / summary.seconds,
    }
    results["throughput_ratio"] = raw_seconds / summary.seconds


def bench_saved_to_searchable(work: Path, embedder: LocalEmbedder, edits: int, results: dict) -> None:
    folder = work / "watched"
    write_corpus(folder, 200, seed=1)
    memory = MemoryStore.open(work / "watched.duckdb", embedder, embedder.info.file_hash)
    service = IngestService(memory, roots=[folder], debounce=0.2)
    service.start()
    service.wait_idle(600)
    times = []
    rng = random.Random(2)
    for k in range(edits):
        path = folder / f"doc{rng.randrange(200):05d}.txt"
        word = f"zqx{k}marker"
        text = path.read_text()
        start = time.perf_counter()
        path.write_text(text + f"\n\nAdded note {word}.")
        while not memory.index.bm25("documents", word, 1):
            time.sleep(0.01)
        times.append(time.perf_counter() - start)
        time.sleep(0.3)
    service.stop()
    memory.close()
    times.sort()
    results["saved_to_searchable"] = {"edits": edits, "p50_s": statistics.median(times),
                                      "p95_s": times[min(len(times) - 1, int(0.95 * len(times)))],
                                      "max_s": times[-1]}


def bench_chat_while_ingesting(work: Path, embedder: LocalEmbedder, n_files: int, results: dict) -> None:
    from app.kernel.context import ContextLimits, MainContext
    from app.kernel.prompts import SYSTEM_PROMPT
    from app.kernel.scheduler import ScheduledChatModel, Scheduler
    from models.local import LocalChatModel
    from tests.bench.bench_models import shape_alike_path
    from tests.bench.bench_scheduler import turns
    from tests.bench.bench_turns import N_CTX, static_tools

    folder = work / "ingesting"
    write_corpus(folder, n_files, seed=3)
    memory = MemoryStore.open(work / "chat.duckdb", embedder, embedder.info.file_hash)
    model = LocalChatModel(shape_alike_path(), n_ctx=N_CTX, temperature=0.0)
    scheduler = Scheduler()
    chat = ScheduledChatModel(model, scheduler)
    specs = static_tools(model)
    context = MainContext(chat, memory, "bench", SYSTEM_PROMPT, specs, ContextLimits(window=N_CTX))
    turns(context, specs, 1)  # warm: the static prefix is cached from here on
    idle = turns(context, specs, 100)

    pipeline = Pipeline(memory, scheduler=scheduler)
    pipeline.scan(folder)
    done = threading.Event()
    worker = threading.Thread(target=lambda: (pipeline.run(), done.set()), daemon=True)
    worker.start()
    time.sleep(2)  # ingestion under way
    busy = turns(context, specs, 200)
    still_ingesting = not done.is_set()
    worker.join()
    pipeline.close()
    scheduler.close()
    model.close()
    memory.close()
    results["chat_ttft"] = {"idle_s": statistics.median(idle), "ingesting_s": statistics.median(busy),
                            "idle_all": idle, "ingesting_all": busy, "ingestion_outlasted_the_turns": still_ingesting}
    results["chat_ttft_ratio"] = statistics.median(busy) / statistics.median(idle)


def bench_search(work: Path, embedder: LocalEmbedder, n_chunks: int, results: dict) -> None:
    from tests.bench.bench_search import corpus

    texts, vectors, vocabulary = corpus(n_chunks, seed=4)
    dim = vectors.shape[1]
    if dim != embedder.dim:
        vectors = np.random.default_rng(4).standard_normal((n_chunks, embedder.dim), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    memory = MemoryStore.open(work / "search.duckdb", embedder, embedder.info.file_hash)
    start = time.perf_counter()
    per_file = 10
    for first in range(0, n_chunks, 10_000):
        rows, chunks, vecs = [], {}, {}
        for f in range(first, min(first + 10_000, n_chunks), per_file):
            path = f"/bench/file{f // per_file:06d}.txt"
            rows.append(DocumentRow(path, "/bench", 1000, 0.0, f"h{f}", "indexed", kind="text"))
            chunks[path] = [NewChunk(texts[i][1], 0, len(texts[i][1]), f"c{i}") for i in range(f, min(f + per_file, n_chunks))]
            vecs.update({f"c{i}": vectors[i] for i in range(f, min(f + per_file, n_chunks))})
        with memory.db.transaction() as conn:
            memory.documents.store(conn, rows, chunks, vecs)
    build = time.perf_counter() - start
    rng = random.Random(5)
    queries = [" ".join(rng.choices(vocabulary[:2000], k=3)) for _ in range(40)]
    qvecs = np.random.default_rng(6).standard_normal((len(queries), embedder.dim), dtype=np.float32)
    memory.documents.search(queries[0], query_vector=qvecs[0])  # reads the vectors into memory once
    given, embedded = [], []
    for query, qvec in zip(queries, qvecs):
        start = time.perf_counter()
        memory.documents.search(query, query_vector=qvec)
        given.append(time.perf_counter() - start)
        start = time.perf_counter()
        memory.documents.search(query)
        embedded.append(time.perf_counter() - start)
    memory.close()

    def pct(values: list[float], q: float) -> float:
        return sorted(values)[min(len(values) - 1, int(q * len(values)))]

    results["search"] = {"chunks": n_chunks, "build_s": build,
                         "p50_ms": 1e3 * statistics.median(given), "p95_ms": 1e3 * pct(given, 0.95),
                         "with_query_embedding_p50_ms": 1e3 * statistics.median(embedded),
                         "with_query_embedding_p95_ms": 1e3 * pct(embedded, 0.95)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["throughput", "searchable", "chat", "search"])
    args = parser.parse_args(argv)
    results: dict = {"quick": args.quick}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        embedder = LocalEmbedder(ensure_default_embedder(work))
        try:
            if args.only in (None, "throughput"):
                bench_throughput(work, embedder, 60 if args.quick else 300, results)
            if args.only in (None, "searchable"):
                bench_saved_to_searchable(work, embedder, 8 if args.quick else 30, results)
            if args.only in (None, "chat"):
                bench_chat_while_ingesting(work, embedder, 150 if args.quick else 600, results)
            if args.only in (None, "search"):
                bench_search(work, embedder, 10_000 if args.quick else 100_000, results)
        finally:
            embedder.close()
    report.save("ingest" if not args.only else f"ingest-{args.only}", results)
    for key, value in results.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
