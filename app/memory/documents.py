"""The user's documents as memory: a manifest row per file, its chunks, and hybrid search over them.

app/ingest fills it (one transaction per group of documents, through ``write``); the model's
``search_documents`` tool, ``python main.py search`` and the inspector read it. A chunk's text is
the document's own words, so whatever reads a hit must treat it as untrusted.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass

import duckdb
import numpy as np

from app.memory.db import Database
from app.memory.paging import PAGE_SIZE, Page, page_of
from app.memory.search import HybridIndex, terms

CORPUS = "documents"
SNIPPET_CHARS = 360

Conn = duckdb.DuckDBPyConnection
_COLUMNS = "id, path, root, size, mtime, content_hash, status, error, kind, title, n_chunks, indexed_at"


@dataclass(frozen=True)
class Document:
    id: int
    path: str
    root: str
    size: int
    mtime: float
    content_hash: str
    status: str
    """"indexed", "skipped" (the reason is in ``error``) or "failed" (it could not be read)."""
    error: str | None
    kind: str
    title: str
    n_chunks: int
    indexed_at: datetime.datetime | None


@dataclass(frozen=True)
class DocumentHit:
    path: str
    score: float
    text: str
    """The whole chunk."""
    start: int
    end: int
    chunk_id: int
    title: str

    def snippet(self, query: str, width: int = SNIPPET_CHARS) -> str:
        """About ``width`` characters of the chunk around the first word of the query it holds."""
        text = " ".join(self.text.split())
        if len(text) <= width:
            return text
        at = 0
        for word in terms(query):
            match = re.search(rf"\b{re.escape(word)}", text, re.IGNORECASE)
            if match:
                at = max(0, match.start() - width // 3)
                break
        piece = text[at:at + width]
        return ("..." if at else "") + piece + ("..." if at + width < len(text) else "")

    def as_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class NewChunk:
    text: str
    start: int
    end: int
    content_hash: str


@dataclass(frozen=True)
class DocumentPage(Page[DocumentHit]):
    query: str = ""

    def text(self) -> str:
        lines = [self.header()]
        for hit in self.items:
            title = f" ({hit.title})" if hit.title else ""
            lines.append(f"- {hit.path}{title}, characters {hit.start}-{hit.end}:\n  {hit.snippet(self.query)}")
        return "\n".join(lines)


class Documents:
    def __init__(self, db: Database, index: HybridIndex) -> None:
        self.db, self.index = db, index

    # -- reading -------------------------------------------------------------------------------
    def get(self, path: str) -> Document | None:
        row = self.db.fetchone(f"SELECT {_COLUMNS} FROM documents WHERE path = ?", [path])
        return Document(*row) if row else None

    def under(self, folder: str, status: str | None = None, limit: int | None = None) -> list[Document]:
        """The documents at or below ``folder`` (every one for ""), by path."""
        sql = f"SELECT {_COLUMNS} FROM documents WHERE (? = '' OR path = ? OR starts_with(path, ?))"
        params: list[object] = [folder, folder, folder.rstrip("/") + "/"]
        if status:
            sql += " AND status = ?"
            params.append(status)
        sql += " ORDER BY path" + (f" LIMIT {int(limit)}" if limit else "")
        return [Document(*row) for row in self.db.fetchall(sql, params)]

    def counts(self, folder: str = "") -> dict[str, int]:
        """Documents per status at or below ``folder``, and their chunks."""
        rows = self.db.fetchall(
            "SELECT status, count(*), sum(n_chunks) FROM documents WHERE (? = '' OR path = ? "
            "OR starts_with(path, ?)) GROUP BY status", [folder, folder, folder.rstrip("/") + "/"])
        counts = {status: n for status, n, _ in rows}
        counts["chunks"] = int(sum(c or 0 for _, _, c in rows))
        return counts

    def search(self, query: str, page: int = 0, size: int = PAGE_SIZE,
               query_vector: np.ndarray | None = None) -> DocumentPage:
        """Page ``page`` of the chunks best matching ``query`` by words and meaning."""
        hits = self.index.search(CORPUS, query, limit=(page + 1) * size + size * 10, query_vector=query_vector)
        wanted = hits[page * size:(page + 1) * size]
        rows = {row[0]: row for row in self._chunks([h.item_id for h in wanted])}
        items = [DocumentHit(rows[h.item_id][1], h.score, *rows[h.item_id][2:]) for h in wanted if h.item_id in rows]
        found = page_of(items, page, total=len(hits), size=size)
        return DocumentPage(found.items, found.page, found.pages, found.total, query)

    def _chunks(self, ids: Sequence[int]) -> list[tuple]:
        if not ids:
            return []
        return self.db.fetchall(
            "SELECT c.id, d.path, c.content, c.start_char, c.end_char, c.id, d.title FROM chunks c "
            "JOIN documents d ON d.id = c.document_id WHERE c.id IN (SELECT unnest(?))", [list(ids)])

    def vectors_for(self, hashes: Collection[str]) -> dict[str, np.ndarray]:
        """Vectors of this index's model already computed for chunks of these contents."""
        if not hashes or self.index.embedder is None:
            return {}
        rows = self.db.fetchall(
            "SELECT c.content_hash, any_value(v.vec) FROM chunks c JOIN vectors v ON v.corpus = ? "
            "AND v.item_id = c.id AND v.model = ? WHERE c.content_hash IN (SELECT unnest(?)) "
            "GROUP BY c.content_hash", [CORPUS, self.index.model_id, list(hashes)])
        return {h: np.asarray(vec, np.float32) for h, vec in rows}

    # -- writing, inside the caller's transaction ----------------------------------------------
    def record(self, conn: Conn, path: str, root: str, size: int, mtime: float, *, content_hash: str = "",
               status: str, error: str | None = None, kind: str = "", title: str = "") -> int:
        """Insert or update a file's manifest row (chunks untouched); returns its id."""
        indexed_at = datetime.datetime.now() if status == "indexed" else None
        return conn.execute(
            "INSERT INTO documents (path, root, size, mtime, content_hash, status, error, kind, title, "
            "indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (path) DO UPDATE SET "
            "root = excluded.root, size = excluded.size, mtime = excluded.mtime, "
            "content_hash = excluded.content_hash, status = excluded.status, error = excluded.error, "
            "kind = excluded.kind, title = excluded.title, indexed_at = excluded.indexed_at RETURNING id",
            [path, root, size, mtime, content_hash, status, error, kind, title, indexed_at]).fetchone()[0]

    def replace_chunks(self, conn: Conn, document_id: int, chunks: Sequence[NewChunk],
                       vectors: np.ndarray | None) -> None:
        """Swap a document's chunks (postings and vectors with them) for ``chunks``."""
        self.drop_chunks(conn, document_id)
        if chunks:
            ids = [row[0] for row in conn.execute(
                "SELECT nextval('chunk_ids') FROM range(?)", [len(chunks)]).fetchall()]
            columns = {
                "id": np.asarray(ids, np.int64),
                "seq": np.arange(len(chunks), dtype=np.int32),
                "content": np.asarray([c.text for c in chunks], dtype=object),
                "start_char": np.asarray([c.start for c in chunks], np.int64),
                "end_char": np.asarray([c.end for c in chunks], np.int64),
                "content_hash": np.asarray([c.content_hash for c in chunks], dtype=object),
            }
            conn.register("_new_chunks", columns)
            try:
                conn.execute("INSERT INTO chunks (id, document_id, seq, content, start_char, end_char, "
                             "content_hash) SELECT id, ?, seq, content, start_char, end_char, content_hash "
                             "FROM _new_chunks", [document_id])
            finally:
                conn.unregister("_new_chunks")
            self.index.write(conn, CORPUS, list(zip(ids, (c.text for c in chunks))), vectors)
        conn.execute("UPDATE documents SET n_chunks = ? WHERE id = ?", [len(chunks), document_id])

    def drop_chunks(self, conn: Conn, document_id: int) -> None:
        old = [row[0] for row in conn.execute("SELECT id FROM chunks WHERE document_id = ?", [document_id]).fetchall()]
        if old:
            self.index.remove(CORPUS, old)
            conn.execute("DELETE FROM chunks WHERE document_id = ?", [document_id])

    def move(self, conn: Conn, document_id: int, path: str, root: str, size: int, mtime: float) -> None:
        """A renamed or moved file keeps its row and its chunks under its new path."""
        conn.execute("UPDATE documents SET path = ?, root = ?, size = ?, mtime = ? WHERE id = ?",
                     [path, root, size, mtime, document_id])

    def forget(self, conn: Conn, path: str) -> bool:
        """Remove a file's row and chunks; False when it was not known."""
        row = conn.execute("SELECT id FROM documents WHERE path = ?", [path]).fetchone()
        if row is None:
            return False
        self.drop_chunks(conn, row[0])
        conn.execute("DELETE FROM documents WHERE id = ?", [row[0]])
        return True

    def forget_under(self, folder: str) -> int:
        """Remove every document at or below ``folder`` with its chunks; returns how many."""
        prefix = folder.rstrip("/") + "/"
        with self.db.transaction() as conn:
            chunk_ids = [row[0] for row in conn.execute(
                "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id "
                "WHERE d.path = ? OR starts_with(d.path, ?)", [folder, prefix]).fetchall()]
            if chunk_ids:
                self.index.remove(CORPUS, chunk_ids)
            conn.execute("DELETE FROM chunks WHERE document_id IN (SELECT id FROM documents "
                         "WHERE path = ? OR starts_with(path, ?))", [folder, prefix])
            return len(conn.execute("DELETE FROM documents WHERE path = ? OR starts_with(path, ?) RETURNING id",
                                    [folder, prefix]).fetchall())
