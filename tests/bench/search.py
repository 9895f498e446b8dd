"""Search latency at 10k, 100k and 1M chunks: Pagemind's hybrid index against DuckDB brute force.

A synthetic corpus (texts of 8 to 20 made-up words with Zipf-like frequencies, random 384-dim
unit vectors) is indexed as Pagemind indexes it (postings, lengths and vectors in DuckDB), and
each query is answered, side by side, by
- DuckDB brute force over the table as Pagemind stores it (``vec FLOAT[]`` cast to ``FLOAT[384]``),
- DuckDB brute force over a ``FLOAT[384]`` column (the best DuckDB does without ``vss``),
- ``HybridIndex.nearest``: the in-memory numpy matrix (top 50),
- ``HybridIndex.bm25``: BM25 in SQL over our inverted index (top 50),
- ``HybridIndex.search``: both fused (limit 10, so top 50 of each side), query vector given,
- the same with the query embedded by the default embedder's runner, as a user's search does.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from app import paths
from app.memory.db import Database, columns_view
from app.memory.search import HybridIndex, terms
from tests.bench import report

NAME = "search"
TITLE = "Search latency: hybrid index vs DuckDB brute force"
DIM = 384
CORPUS = "archival"
MODEL = "bench-random-384"
TOP = 50
SYLLABLES = "ka lo mi ne ru sa ti vo ze ba de fi gu ho ja".split()
METHODS = {  # key: (label, colour)
    "duckdb_cast": ("DuckDB brute force, FLOAT[] as stored", "tab:red"),
    "duckdb_array": ("DuckDB brute force, FLOAT[384] column", "tab:orange"),
    "numpy_nearest": ("HybridIndex.nearest (numpy)", "tab:green"),
    "bm25": ("HybridIndex.bm25 (SQL)", "tab:purple"),
    "hybrid": ("HybridIndex.search (hybrid)", "tab:blue"),
    "hybrid_embedded": ("hybrid + query embedding", "tab:cyan"),
}
HEADLINE_DUCKDB = "duckdb_array"
"""The faster DuckDB variant: the ratio in the headline is not flattered by the cast."""


def log(message: str) -> None:
    print(f"[{NAME}] {message}", file=sys.stderr, flush=True)


class Corpus:
    """n texts as word ids (Zipf-like), their lengths and unit vectors; texts are built on demand."""

    def __init__(self, n: int, seed: int = 0) -> None:
        rng = random.Random(seed)
        words: set[str] = set()
        while len(words) < 20_000:
            word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
            if terms(word) == [word]:  # every word is one BM25 term
                words.add(word)
        self.words = np.array(sorted(words), dtype=object)
        gen = np.random.default_rng(seed)
        cum = np.cumsum(1 / np.arange(1, len(self.words) + 1))
        self.lengths = gen.integers(8, 21, n).astype(np.int64)
        self.word_ids = np.minimum(np.searchsorted(cum / cum[-1], gen.random(int(self.lengths.sum()))),
                                   len(self.words) - 1)
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)])
        self.ids = np.arange(1, n + 1, dtype=np.int64)
        vectors = gen.standard_normal((n, DIM), dtype=np.float32)
        self.vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def __len__(self) -> int:
        return len(self.ids)

    def texts(self) -> list[tuple[int, str]]:
        return [(int(self.ids[i]), " ".join(self.words[self.word_ids[self.starts[i]:self.starts[i + 1]]]))
                for i in range(len(self))]


def bulk_load(db: Database, corpus: Corpus) -> None:
    """Write postings, lengths and vectors in bulk, exactly as ``HybridIndex.add`` stores them.

    ``add`` counts terms in Python and takes about 10 s per 100k texts here (100 s at 1M), so the
    large corpora are loaded straight from numpy; at 10k both ways are checked to give the same rows.
    """
    doc = np.repeat(corpus.ids, corpus.lengths)
    pairs, tf = np.unique(doc * len(corpus.words) + corpus.word_ids, return_counts=True)
    with db.transaction() as conn:
        with columns_view(conn, "_bulk_lengths", {"item_id": corpus.ids, "length": corpus.lengths}):
            conn.execute("INSERT INTO doc_lengths SELECT ?, item_id, length FROM _bulk_lengths", [CORPUS])
        with (columns_view(conn, "_bulk_postings", {"item_id": pairs // len(corpus.words),
                                                     "term_id": pairs % len(corpus.words), "tf": tf}),
              columns_view(conn, "_bulk_words", {"term_id": np.arange(len(corpus.words)), "term": corpus.words})):
            conn.execute("INSERT INTO postings SELECT ?, p.item_id, w.term::VARCHAR, p.tf "
                         "FROM _bulk_postings p JOIN _bulk_words w USING (term_id)", [CORPUS])
        slab = 100_000
        for first in range(0, len(corpus), slab):
            vecs = corpus.vectors[first:first + slab]
            vecs = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)  # as the index normalises on writing
            column = np.empty(len(vecs), dtype=object)
            for k, vec in enumerate(vecs):
                column[k] = vec
            with columns_view(conn, "_bulk_vectors", {"item_id": corpus.ids[first:first + slab], "vec": column}):
                conn.execute("INSERT INTO vectors SELECT ?, item_id, ?, vec::FLOAT[] FROM _bulk_vectors",
                             [CORPUS, MODEL])


def same_rows(db: Database, other: Path) -> bool:
    """Whether ``db`` and the database file ``other`` hold the same postings, lengths and vectors."""
    db.execute(f"ATTACH '{other}' AS other (READ_ONLY)")
    try:
        return all(db.fetchone(f"SELECT (SELECT count(*) FROM (FROM {t} EXCEPT ALL FROM other.{t})) "
                               f"+ (SELECT count(*) FROM (FROM other.{t} EXCEPT ALL FROM {t}))")[0] == 0
                   for t in ("postings", "doc_lengths", "vectors"))
    finally:
        db.execute("DETACH other")


def timings(run: Callable[[int], object], n: int) -> list[float]:
    """Milliseconds of ``run(i)`` for i in range(n), after one warm-up call."""
    run(-1)
    samples = []
    for i in range(n):
        start = time.perf_counter()
        run(i)
        samples.append(1000 * (time.perf_counter() - start))
    return samples


def bench_size(n: int, queries: int, work: Path, embedder) -> dict:
    start = time.perf_counter()
    corpus = Corpus(n)
    result: dict = {"chunks": n, "queries": queries, "corpus_s": time.perf_counter() - start}
    rng = random.Random(1)
    common = corpus.words[50:2000].tolist()
    texts = [" ".join(rng.choice(common) for _ in range(3)) for _ in range(queries + 1)]
    qvecs = np.random.default_rng(1).standard_normal((queries + 1, DIM), dtype=np.float32)
    qvecs /= np.linalg.norm(qvecs, axis=1, keepdims=True)

    db = Database(work / f"search-{n}.duckdb")
    db.execute("SET enable_progress_bar = false")
    try:
        index = HybridIndex(db, embedder, MODEL)
        start = time.perf_counter()
        if n <= 10_000:  # the real path, timed; the bulk loader is checked against it
            index.add(CORPUS, corpus.texts(), corpus.vectors)
            result["index_s"] = time.perf_counter() - start
            result["indexed_with"] = "HybridIndex.add"
            with Database(work / f"search-{n}-bulk.duckdb") as bulk:
                bulk.execute("SET enable_progress_bar = false")
                bulk_load(bulk, corpus)
            assert same_rows(db, work / f"search-{n}-bulk.duckdb"), "the bulk load differs from add"
        else:
            bulk_load(db, corpus)
            result["index_s"] = time.perf_counter() - start
            result["indexed_with"] = "bulk load (same rows as HybridIndex.add)"
        result["postings"] = db.fetchone("SELECT count(*) FROM postings")[0]
        log(f"{n:,} chunks indexed in {result['index_s']:.1f} s ({result['indexed_with']})")

        start = time.perf_counter()
        index.nearest(CORPUS, qvecs[0], TOP)  # reads the matrix once
        result["matrix_load_s"] = time.perf_counter() - start
        start = time.perf_counter()
        db.execute(f"CREATE TABLE vec_array AS SELECT item_id, vec::FLOAT[{DIM}] AS vec FROM vectors "
                   "WHERE corpus = ? AND model = ?", [CORPUS, MODEL])
        result["duckdb_array_table_s"] = time.perf_counter() - start

        cast = (f"SELECT item_id, array_cosine_similarity(vec::FLOAT[{DIM}], ?::FLOAT[{DIM}]) AS s FROM vectors "
                f"WHERE corpus = '{CORPUS}' AND model = '{MODEL}' ORDER BY s DESC LIMIT {TOP}")
        array = (f"SELECT item_id, array_cosine_similarity(vec, ?::FLOAT[{DIM}]) AS s FROM vec_array "
                 f"ORDER BY s DESC LIMIT {TOP}")
        runs: dict[str, Callable[[int], object]] = {
            "duckdb_cast": lambda i: db.fetchall(cast, [qvecs[i].tolist()]),
            "duckdb_array": lambda i: db.fetchall(array, [qvecs[i].tolist()]),
            "numpy_nearest": lambda i: index.nearest(CORPUS, qvecs[i], TOP),
            "bm25": lambda i: index.bm25(CORPUS, texts[i], TOP),
            "hybrid": lambda i: index.search(CORPUS, texts[i], 10, query_vector=qvecs[i]),
            "hybrid_embedded": lambda i: index.search(CORPUS, texts[i], 10),
        }
        for key, run in runs.items():
            samples = timings(run, queries)
            result[key] = {"p50_ms": report.p50(samples), "p95_ms": report.p95(samples), "samples_ms": samples}
            log(f"{n:,} chunks, {METHODS[key][0]}: p50 {result[key]['p50_ms']:.1f} ms")
        ours = {item for item, _ in index.nearest(CORPUS, qvecs[0], TOP)}
        for sql in (cast, array):
            assert ours == {row[0] for row in db.fetchall(sql, [qvecs[0].tolist()])}, "numpy and DuckDB disagree"
    finally:
        db.close()
        for path in work.glob(f"search-{n}*"):
            path.unlink()
    return result


def plot(out: Path, sizes: list[dict]) -> None:
    from matplotlib.lines import Line2D

    x = [s["chunks"] for s in sizes]
    with report.figure(out, NAME, TITLE, width=10, height=5) as ax:
        handles = []
        for key, (label, colour) in METHODS.items():
            ax.plot(x, [s[key]["p50_ms"] for s in sizes], color=colour, marker="o", linestyle="-")
            ax.plot(x, [s[key]["p95_ms"] for s in sizes], color=colour, marker="o", linestyle="--", alpha=0.7)
            handles.append(Line2D([], [], color=colour, marker="o", label=label))
        handles += [Line2D([], [], color="grey", linestyle="-", label="p50"),
                    Line2D([], [], color="grey", linestyle="--", label="p95")]
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(x, [f"{n // 1000:,}k" if n < 1_000_000 else f"{n // 1_000_000}M" for n in x])
        ax.minorticks_off()
        ax.set_xlabel("corpus size (chunks, 384-dim vectors)")
        ax.set_ylabel("latency per query (ms, log scale)")
        ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)


def run(quick: bool, out: Path) -> report.Result:
    from models.convert import ensure_default_embedder
    from models.local_client import LocalEmbedder

    started = time.perf_counter()
    sizes, queries = ((10_000, 50_000), 8) if quick else ((10_000, 100_000, 1_000_000), 40)
    results = []
    with tempfile.TemporaryDirectory() as tmp, LocalEmbedder(ensure_default_embedder(paths.cache_dir() / "bench")) as embedder:
        assert embedder.dim == DIM
        for n in sizes:
            results.append(bench_size(n, queries, Path(tmp), embedder))
    plot(out, results)

    rows = [[f"{s['chunks']:,}", METHODS[key][0], s[key]["p50_ms"], s[key]["p95_ms"]]
            for s in results for key in METHODS]
    big = results[-1]
    ours, theirs = big["hybrid"]["p50_ms"], big[HEADLINE_DUCKDB]["p50_ms"]
    size = f"{big['chunks'] // 1_000_000}M" if big["chunks"] >= 1_000_000 else f"{big['chunks'] // 1000}k"
    headline = (f"{size} chunks: hybrid search p50 {ours:.1f} ms vs DuckDB brute force {theirs:.0f} ms "
                f"({theirs / ours:.1f}x faster)")
    return report.Result(
        name=NAME, title=TITLE, columns=["chunks", "method", "p50 ms", "p95 ms"], rows=rows,
        numbers={"dim": DIM, "top": TOP, "quick": quick, "sizes": results,
                 "hybrid_speedup_over_duckdb": {s["chunks"]: s[HEADLINE_DUCKDB]["p50_ms"] / s["hybrid"]["p50_ms"]
                                                for s in results}},
        headline=headline, plot=f"{NAME}.png", seconds=time.perf_counter() - started)
