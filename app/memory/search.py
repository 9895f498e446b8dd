"""Hybrid search for every corpus ("recall", "archival", "documents"): BM25 in SQL over our own
inverted index, cosine similarity in numpy, fused by reciprocal rank fusion (DESIGN.md decision 4).

Postings and lengths live in DuckDB; vectors too, one row per (corpus, item, model), and only the
rows of this index's model are used, so switching embedders never mixes spaces. Each corpus's
vectors are also held in an in-memory float32 matrix, read once and then kept current by writes.

Transactions: DuckDB cannot nest them. ``add``, ``remove`` and ``set_vectors`` join the transaction
open on the connection (a caller inside ``db.transaction()``), else run in one of their own;
``write(conn, ...)`` writes in the transaction the caller holds. Every write marks its items stale,
and the matrix re-reads just those rows at its next use, once no transaction is open any more: a
rollback leaves no trace, and a search never re-reads all the vectors.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import duckdb
import numpy as np

from app.memory.db import Database, columns_view
from models.errors import ModelError
from models.interface import Embedder

log = logging.getLogger(__name__)

K1, B, RRF_K = 1.2, 0.75, 60
LEXICAL_WEIGHT = 0.5
"""BM25's weight in the fusion (meaning's is 1). With equal weights, paraphrased questions lost
their answer to messages sharing common words (recall@5 0.80 against 0.90 at 0.5, measured in
tests/memory/test_retrieval.py); exact names and codes still rise, being first in both lists."""
STOPWORDS = frozenset(
    "a about after all also am an and any are as at be been but by can could did do does for from "
    "had has have he her here him his how if in into is it its me my no not of on or our she so "
    "than that the their them then there these they this those to too us was we were what when "
    "where which who why will with would you your".split()
)
_WORD = re.compile(r"\w+(?:['’]\w+)*")
_BM25 = f"""
WITH q AS (SELECT DISTINCT unnest($terms::VARCHAR[]) AS term),
hits AS MATERIALIZED (
    SELECT item_id, term, tf::DOUBLE AS tf FROM postings WHERE corpus = $corpus AND term IN (FROM q)),
df AS (SELECT term, count(*)::DOUBLE AS df FROM hits GROUP BY term),
stats AS (SELECT count(*)::DOUBLE AS n, avg(length) AS avgdl FROM doc_lengths WHERE corpus = $corpus)
SELECT h.item_id, sum(ln(1 + (s.n - d.df + 0.5) / (d.df + 0.5)) * h.tf * ({K1} + 1)
                      / (h.tf + {K1} * (1 - {B} + {B} * l.length / s.avgdl))) AS score
FROM hits h JOIN df d USING (term) JOIN doc_lengths l ON l.corpus = $corpus AND l.item_id = h.item_id, stats s
WHERE {{where}}
GROUP BY h.item_id ORDER BY score DESC, h.item_id LIMIT $limit
"""
_IN_IDS = "item_id IN (SELECT item_id FROM _search_ids)"

Conn = duckdb.DuckDBPyConnection


def terms(text: str) -> list[str]:
    """BM25 terms: lowercase Unicode words and numbers, minus stopwords and one-character tokens.

    A trailing possessive is folded ("Anna's" -> "anna"); other apostrophes go ("don't" -> "dont").
    """
    words = (w.replace("’", "'").removesuffix("'s").replace("'", "") for w in _WORD.findall(text.lower()))
    return [w for w in words if len(w) > 1 and w not in STOPWORDS]


@dataclass(frozen=True)
class Hit:
    item_id: int
    score: float
    """Weighted reciprocal rank fusion: the sum of weight / (60 + rank) over the lists the item is in."""
    bm25_rank: int | None
    vector_rank: int | None


def fuse(lexical: Sequence[int], semantic: Sequence[int], limit: int) -> list[Hit]:
    """Weighted reciprocal rank fusion (k = 60, ranks from 1) of two ranked id lists; ties by item id."""
    ranks: dict[int, list[int | None]] = {}
    for side, ranked in enumerate((lexical, semantic)):
        for rank, item in enumerate(ranked, start=1):
            ranks.setdefault(item, [None, None])[side] = rank
    weights = (LEXICAL_WEIGHT, 1.0)
    hits = [Hit(item, sum(w / (RRF_K + r) for w, r in zip(weights, pair) if r is not None), *pair)
            for item, pair in ranks.items()]
    return sorted(hits, key=lambda h: (-h.score, h.item_id))[:limit]


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.ascontiguousarray(vectors / np.where(norms > 0, norms, 1), dtype=np.float32)


def _in_transaction(conn: Conn) -> bool:
    """Whether an explicit transaction is open: each autocommit statement gets a new id."""
    first = conn.execute("SELECT txid_current()").fetchall()
    return conn.execute("SELECT txid_current()").fetchall() == first


class _Matrix:
    """One corpus's vectors in memory: rows [0, n) of ``vecs`` belong to ``ids[:n]``."""

    def __init__(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        self.ids, self.vecs, self.n = ids, vecs, len(ids)
        self.row = {item: r for r, item in enumerate(ids.tolist())}

    def upsert(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        if not len(ids):
            return
        if self.vecs.shape[1] != vecs.shape[1]:
            if self.n:
                raise ValueError(f"vectors of {vecs.shape[1]} dims in an index of {self.vecs.shape[1]}")
            self.vecs = np.empty((0, vecs.shape[1]), np.float32)
        rows = np.fromiter((self.row.get(i, -1) for i in ids.tolist()), np.int64, len(ids))
        new = rows < 0
        rows[new] = np.arange(self.n, self.n + int(new.sum()))
        if rows.max() >= len(self.ids):  # grow by doubling
            size = max(int(rows.max()) + 1, 2 * len(self.ids), 64)
            self.ids = np.concatenate([self.ids[: self.n], np.empty(size - self.n, np.int64)])
            self.vecs = np.concatenate([self.vecs[: self.n], np.empty((size - self.n, vecs.shape[1]), np.float32)])
        self.row.update(zip(ids[new].tolist(), rows[new].tolist()))
        self.ids[rows], self.vecs[rows] = ids, vecs
        self.n += int(new.sum())

    def delete(self, ids: Collection[int]) -> None:
        for item in ids:
            r = self.row.pop(int(item), None)
            if r is not None:  # move the last row into the gap
                self.n -= 1
                if r != self.n:
                    self.ids[r], self.vecs[r] = self.ids[self.n], self.vecs[self.n]
                    self.row[int(self.ids[r])] = r

    def nearest(self, query: np.ndarray, k: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        if not self.n:
            return []
        if query.shape != (self.vecs.shape[1],):
            raise ValueError(f"a query vector of shape {query.shape} for vectors of {self.vecs.shape[1]} dims")
        ids, scores = self.ids[: self.n], self.vecs[: self.n] @ query
        if allowed is not None:
            keep = np.isin(ids, allowed)
            ids, scores = ids[keep], scores[keep]
        if len(ids) > k:
            top = np.argpartition(-scores, k - 1)[:k]
            ids, scores = ids[top], scores[top]
        order = np.lexsort((ids, -scores))
        return list(zip(ids[order].tolist(), scores[order].tolist()))


class HybridIndex:
    """BM25 + vector search over the corpora of one database, for one embedding model."""

    def __init__(self, db: Database, embedder: Embedder | None = None, model_id: str = "") -> None:
        self.db, self.embedder, self.model_id = db, embedder, model_id
        self._matrices: dict[str, _Matrix] = {}
        self._stale: dict[str, set[int]] = {}
        """Per corpus, the items written since the matrix last read them."""

    def embed(self, texts: Sequence[str]) -> np.ndarray | None:
        """Unit vectors of ``texts`` (None without an embedder). Slow: call it outside transactions."""
        if self.embedder is None:
            return None
        if not texts:
            return np.empty((0, self.embedder.dim), np.float32)
        return _unit(np.asarray(self.embedder.embed(list(texts)), np.float32).reshape(len(texts), -1))

    def add(self, corpus: str, items: Sequence[tuple[int, str]], vectors: np.ndarray | None = None,
            *, embed: bool = True) -> None:
        """Index (id, text) items in one transaction, replacing earlier entries of the same ids.

        Without ``vectors`` the embedder computes them, before any write, unless ``embed`` is False;
        items without vectors are found by their words until ``set_vectors`` gives them one.
        """
        items = list(items)
        if vectors is None and embed:
            vectors = self.embed([text for _, text in items])
        ids, texts, vecs = self._prepare(items, vectors)
        self._run(corpus, ids, lambda conn: self._write(conn, corpus, ids, texts, vecs))

    def write(self, conn: Conn, corpus: str, items: Sequence[tuple[int, str]],
              vectors: np.ndarray | None = None) -> None:
        """``add`` without embedding, in the transaction the caller holds open on ``conn``."""
        ids, texts, vecs = self._prepare(list(items), vectors)
        with self.db.lock:
            self._write(conn, corpus, ids, texts, vecs)
            self._mark_stale(corpus, ids)

    def remove(self, corpus: str, item_ids: Collection[int]) -> None:
        """Forget items: their postings, lengths and vectors (of every model)."""
        ids = np.fromiter(item_ids, np.int64)
        self._run(corpus, ids, lambda conn: self._delete(conn, corpus, ids))

    def missing_vectors(self, corpus: str) -> list[int]:
        """Indexed items with no vector of this index's model, by id."""
        rows = self.db.fetchall(
            "SELECT l.item_id FROM doc_lengths l ANTI JOIN vectors v ON v.corpus = l.corpus "
            "AND v.item_id = l.item_id AND v.model = ? WHERE l.corpus = ? ORDER BY l.item_id",
            [self.model_id, corpus])
        return [row[0] for row in rows]

    def set_vectors(self, corpus: str, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Store this model's vectors of indexed items (ids no longer indexed are skipped)."""
        wanted, _, vecs = self._prepare([(item, "") for item in ids], np.asarray(vectors, np.float32))
        assert vecs is not None

        def write(conn: Conn) -> None:
            with columns_view(conn, "_search_ids", {"item_id": wanted}):
                conn.execute(f"DELETE FROM vectors WHERE corpus = ? AND model = ? AND {_IN_IDS}",
                             [corpus, self.model_id])
            self._insert_vectors(conn, corpus, wanted, vecs)

        self._run(corpus, wanted, write)

    def bm25(self, corpus: str, query: str, limit: int,
             ids: Collection[int] | None = None) -> list[tuple[int, float]]:
        """(item id, BM25 score), best first, among ``ids`` when given."""
        words = sorted(set(terms(query)))
        if not words or limit <= 0:
            return []
        params = {"terms": words, "corpus": corpus, "limit": limit}
        with self.db.lock:
            if ids is None:
                return self.db.fetchall(_BM25.format(where="true"), params)
            with columns_view(self.db.conn, "_search_ids", {"item_id": np.fromiter(ids, np.int64)}):
                return self.db.fetchall(_BM25.format(where=f"h.{_IN_IDS}"), params)

    def nearest(self, corpus: str, query_vector: np.ndarray, limit: int,
                ids: Collection[int] | None = None) -> list[tuple[int, float]]:
        """(item id, cosine similarity), best first, among ``ids`` when given."""
        allowed = None if ids is None else np.fromiter(ids, np.int64)
        with self.db.lock:
            return self._matrix(corpus).nearest(_unit(np.asarray(query_vector, np.float32)), limit, allowed)

    def search(self, corpus: str, query: str, limit: int = 10, query_vector: np.ndarray | None = None,
               ids: Collection[int] | None = None) -> list[Hit]:
        """The items best matching ``query`` by words and by meaning, fused by reciprocal rank.

        The query is embedded unless ``query_vector`` is given; ``ids`` restricts the results.
        """
        if limit <= 0 or (ids is not None and len(ids) == 0):
            return []
        if query_vector is None and query.strip():
            try:
                embedded = self.embed([query])
            except ModelError as exc:  # the embedder's runner died, say: words still work
                log.warning("searching by words only: %s", exc)
                embedded = None
            query_vector = None if embedded is None else embedded[0]
        depth = max(50, limit * 5)
        with self.db.lock:
            lexical = [item for item, _ in self.bm25(corpus, query, depth, ids)]
            semantic = [] if query_vector is None else self.nearest(corpus, query_vector, depth, ids)
        return fuse(lexical, [item for item, _ in semantic], limit)

    def _prepare(self, items: list[tuple[int, str]], vectors: np.ndarray | None
                 ) -> tuple[np.ndarray, list[str], np.ndarray | None]:
        """Ids, texts and unit vectors of ``items``, the last occurrence of an id winning."""
        if vectors is not None:
            vectors = np.asarray(vectors, np.float32)
            if vectors.ndim != 2 or len(vectors) != len(items):
                raise ValueError(f"{len(items)} items but vectors of shape {vectors.shape}")
            if self.embedder is not None and vectors.shape[1] != self.embedder.dim:
                raise ValueError(f"vectors of {vectors.shape[1]} dims for an embedder of {self.embedder.dim}")
        last = {int(item): k for k, (item, _) in enumerate(items)}
        pick = list(last.values())
        if vectors is not None:
            vectors = _unit(vectors if len(pick) == len(items) else vectors[pick])
        return np.fromiter(last, np.int64, len(last)), [items[k][1] for k in pick], vectors

    def _run(self, corpus: str, ids: np.ndarray, write: Callable[[Conn], None]) -> None:
        """``write`` the rows of ``ids`` in the caller's open transaction, else in one of its own."""
        if not len(ids):
            return
        with self.db.lock:
            joined = _in_transaction(self.db.conn)
            with contextlib.nullcontext(self.db.conn) if joined else self.db.transaction() as conn:
                write(conn)
            self._mark_stale(corpus, ids)

    def _mark_stale(self, corpus: str, ids: np.ndarray) -> None:
        if corpus in self._matrices:  # an unread matrix will read the database as it is then
            self._stale.setdefault(corpus, set()).update(ids.tolist())

    def _write(self, conn: Conn, corpus: str, ids: np.ndarray, texts: list[str], vecs: np.ndarray | None) -> None:
        counts = [Counter(terms(text)) for text in texts]
        self._delete(conn, corpus, ids)
        lengths = np.array([c.total() for c in counts], np.int64)
        with columns_view(conn, "_search_items", {"item_id": ids, "length": lengths}):
            conn.execute("INSERT INTO doc_lengths SELECT ?, item_id, length FROM _search_items", [corpus])
        postings = {"item_id": np.repeat(ids, [len(c) for c in counts]),
                    "term": np.array([t for c in counts for t in c], dtype=object),
                    "tf": np.array([n for c in counts for n in c.values()], dtype=np.int64)}
        if len(postings["term"]):
            with columns_view(conn, "_search_postings", postings):
                conn.execute("INSERT INTO postings SELECT ?, item_id, term::VARCHAR, tf FROM _search_postings",
                             [corpus])
        if vecs is not None:
            self._insert_vectors(conn, corpus, ids, vecs)

    def _delete(self, conn: Conn, corpus: str, ids: np.ndarray) -> None:
        with columns_view(conn, "_search_ids", {"item_id": ids}):
            for table in ("postings", "doc_lengths", "vectors"):
                conn.execute(f"DELETE FROM {table} WHERE corpus = ? AND {_IN_IDS}", [corpus])

    def _insert_vectors(self, conn: Conn, corpus: str, ids: np.ndarray, vecs: np.ndarray) -> None:
        """Insert this model's vectors of the ids indexed in ``corpus``."""
        column = np.empty(len(ids), dtype=object)
        for k, vec in enumerate(vecs):
            column[k] = vec
        with columns_view(conn, "_search_vectors", {"item_id": ids, "vec": column}):
            conn.execute("INSERT INTO vectors SELECT ?, item_id, ?, vec::FLOAT[] FROM _search_vectors "
                         "WHERE item_id IN (SELECT item_id FROM doc_lengths WHERE corpus = ?)",
                         [corpus, self.model_id, corpus])

    def _matrix(self, corpus: str) -> _Matrix:
        """The corpus's matrix: read whole once, then only its stale rows."""
        matrix = self._matrices.get(corpus)
        if matrix is None:
            matrix = _Matrix(*self._read(corpus, None))
            if not _in_transaction(self.db.conn):  # else it may hold rows that will roll back
                self._matrices[corpus] = matrix
            return matrix
        stale = self._stale.pop(corpus, set())
        if stale:
            matrix.delete(stale)
            matrix.upsert(*self._read(corpus, stale))
        if stale and _in_transaction(self.db.conn):  # they may yet roll back: read them again later
            self._stale[corpus] = stale
        return matrix

    def _read(self, corpus: str, only: set[int] | None) -> tuple[np.ndarray, np.ndarray]:
        """This model's vectors in ``corpus`` (of the ids in ``only`` when given)."""
        sql = "SELECT item_id, vec FROM vectors WHERE corpus = ? AND model = ?"
        with contextlib.ExitStack() as stack:
            if only is not None:
                stack.enter_context(columns_view(self.db.conn, "_search_ids", {"item_id": np.fromiter(only, np.int64)}))
                sql += f" AND {_IN_IDS}"
            got = self.db.conn.execute(sql, [corpus, self.model_id]).fetchnumpy()
        ids = np.asarray(got["item_id"], np.int64)
        vecs = np.stack(got["vec"]).astype(np.float32) if len(ids) else np.empty((0, 0), np.float32)
        return ids, vecs
