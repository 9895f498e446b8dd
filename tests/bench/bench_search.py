"""Search benchmarks over synthetic archival corpora of 10k and 100k rows (384-dim unit vectors).

For each size: the time to index the rows (postings, lengths and vectors in one ``add``), the time
to read the vectors into the in-memory matrix once, and the search latency (p50, p95) of
- (a) brute-force cosine in DuckDB (``array_cosine_similarity`` ... ORDER BY ... LIMIT 50),
- (b) the numpy in-memory matrix (``HybridIndex.nearest``, top 50),
- (c) BM25 in SQL (``HybridIndex.bm25``, top 50),
- (d) the full hybrid ``HybridIndex.search`` (limit 10: top 50 of each side, fused).

Run with ``python -m tests.bench.bench_search``; results go to stdout as a table and to
``bench-results/search.json``.
"""

from __future__ import annotations

import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import numpy as np  # noqa: E402

from app.memory.db import Database  # noqa: E402
from app.memory.search import HybridIndex  # noqa: E402
from tests.bench import report  # noqa: E402

DIM = 384
SIZES = (10_000, 100_000)
QUERIES = 40
MODEL = "bench-random-384"
SYLLABLES = "ka lo mi ne ru sa ti vo ze ba de fi gu ho ja".split()


def vocabulary(n: int, rng: random.Random) -> list[str]:
    """n distinct made-up words of two to four syllables."""
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def corpus(n: int, seed: int = 0) -> tuple[list[tuple[int, str]], np.ndarray, list[str]]:
    """n short texts (8 to 20 words, Zipf-like word frequencies), their unit vectors, the vocabulary."""
    rng = random.Random(seed)
    words = vocabulary(20_000, rng)
    weights = [1 / (rank + 1) for rank in range(len(words))]
    texts = [(i + 1, " ".join(rng.choices(words, weights, k=rng.randint(8, 20)))) for i in range(n)]
    vectors = np.random.default_rng(seed).standard_normal((n, DIM), dtype=np.float32)
    return texts, vectors / np.linalg.norm(vectors, axis=1, keepdims=True), words


def timings(run: Callable[[int], object], n: int = QUERIES) -> dict[str, float]:
    """p50 and p95 in milliseconds of ``run(i)`` for i in range(n), after one warm-up call."""
    run(-1)
    samples = []
    for i in range(n):
        start = time.perf_counter()
        run(i)
        samples.append(1000 * (time.perf_counter() - start))
    return {"p50_ms": statistics.median(samples), "p95_ms": statistics.quantiles(samples, n=20)[18]}


def bench_size(n: int, work: Path) -> dict[str, object]:
    texts, vectors, words = corpus(n)
    rng = random.Random(1)
    queries = [" ".join(rng.choice(words[50:2000]) for _ in range(3)) for _ in range(QUERIES + 1)]
    qvecs = np.random.default_rng(1).standard_normal((QUERIES + 1, DIM), dtype=np.float32)
    qvecs /= np.linalg.norm(qvecs, axis=1, keepdims=True)
    result: dict[str, object] = {"rows": n}
    with Database(work / f"bench-{n}.duckdb") as db:
        index = HybridIndex(db, None, MODEL)
        start = time.perf_counter()
        index.add("archival", texts, vectors)
        result["index_s"] = time.perf_counter() - start
        result["postings"] = db.fetchall("SELECT count(*) FROM postings")[0][0]

        start = time.perf_counter()
        HybridIndex(db, None, MODEL).nearest("archival", qvecs[0], 50)  # a fresh index reads the matrix
        result["matrix_load_s"] = time.perf_counter() - start

        brute = (f"SELECT item_id, array_cosine_similarity(vec::FLOAT[{DIM}], ?::FLOAT[{DIM}]) AS s "
                 "FROM vectors WHERE corpus = 'archival' AND model = ? ORDER BY s DESC LIMIT 50")
        result["duckdb_brute_force"] = timings(lambda i: db.fetchall(brute, [qvecs[i].tolist(), MODEL]))
        result["numpy_matrix"] = timings(lambda i: index.nearest("archival", qvecs[i], 50))
        result["bm25_sql"] = timings(lambda i: index.bm25("archival", queries[i], 50))
        result["hybrid_search"] = timings(
            lambda i: index.search("archival", queries[i], 10, query_vector=qvecs[i]))
        ours = {item for item, _ in index.nearest("archival", qvecs[0], 50)}
        theirs = {row[0] for row in db.fetchall(brute, [qvecs[0].tolist(), MODEL])}
        assert ours == theirs, "numpy and DuckDB disagree on the nearest 50"
    return result


def main() -> None:
    results: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "duckdb": duckdb.__version__, "numpy": np.__version__},
        "dim": DIM, "queries": QUERIES, "sizes": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for n in SIZES:
            results["sizes"].append(bench_size(n, Path(tmp)))  # type: ignore[union-attr]

    print(f"{'rows':>8} {'index s':>8} {'load s':>7}  {'method':<20} {'p50 ms':>8} {'p95 ms':>8}")
    for size in results["sizes"]:  # type: ignore[union-attr]
        for k, method in enumerate(("duckdb_brute_force", "numpy_matrix", "bm25_sql", "hybrid_search")):
            head = (f"{size['rows']:>8} {size['index_s']:>8.1f} {size['matrix_load_s']:>7.2f}" if k == 0
                    else " " * 25)
            print(f"{head}  {method:<20} {size[method]['p50_ms']:>8.2f} {size[method]['p95_ms']:>8.2f}")
    print(f"written to {report.save('search', results)}")


if __name__ == "__main__":
    main()
