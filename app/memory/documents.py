"""The user's documents as memory: a manifest row per file, its chunks, and hybrid search over them.

app/ingest fills it (one transaction per group of documents, through ``write``); the model's
``search_documents`` tool, ``python main.py search`` and the inspector read it. A chunk's text is
the document's own words, so whatever reads a hit must treat it as untrusted.

File paths are kept as text by ``path_text`` and read back by ``path_from_text``: every path that
goes into or comes out of the database (documents, the ingest queue) passes through this one pair.
In Python a path is what the OS gives (undecodable bytes of a name held as surrogate escapes).
"""

from __future__ import annotations

from typing import Any

import datetime
import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, fields

import duckdb
import numpy as np

from app.memory.db import Database, columns_view, storable
from app.memory.paging import PAGE_SIZE, Page, page_of
from app.memory.search import HybridIndex, terms

CORPUS = "documents"
SNIPPET_CHARS = 360

Conn = duckdb.DuckDBPyConnection
_COLUMNS = "path, root, size, mtime, content_hash, status, error, kind, title, id, n_chunks, indexed_at"

_ESCAPE = re.compile(r"\\(\\|x[89a-f][0-9a-f])")
"""What ``path_text`` writes for a byte that is not UTF-8 (always 0x80 or above) or a backslash."""


def _escaped(char: str) -> bool:
    """Whether ``char`` stands for a byte that is not UTF-8 (how Python holds it in a file name)."""
    return "\udc80" <= char <= "\udcff"


def _reads_as_escape(rest: str) -> bool:
    """Whether a backslash written before ``rest`` (the path's text after it) would read back as an escape."""
    return bool(rest) and (_escaped(rest[0]) or _ESCAPE.match("\\" + rest[:3]) is not None)


def path_text(path: str) -> str:
    """A path as valid text that reads back losslessly: how the database keeps it and the user sees it.

    A name's bytes that are not UTF-8 become visible escapes (b"caf\\xe9.txt" -> ``caf\\xe9.txt``),
    and only a backslash that would otherwise read as such an escape is doubled; every other path,
    the usual case, is its own text. (A lossy escape, as ``Database`` applies to other text, would
    lose the file: its name could not be opened again.)
    """
    text = os.fsencode(path).decode("utf-8", "surrogateescape")
    if "\\" not in text and not any(map(_escaped, text)):
        return text
    out = []
    for at, char in enumerate(text):
        if _escaped(char):
            out.append(f"\\x{ord(char) - 0xDC00:02x}")
        elif char == "\\" and _reads_as_escape(text[at + 1:at + 4]):
            out.append("\\\\")
        else:
            out.append(char)
    return "".join(out)


def path_from_text(text: str) -> str:
    """The path that ``path_text`` turned into ``text``."""
    if "\\" not in text:
        return text
    raw = _ESCAPE.sub(lambda m: "\\" if m[1] == "\\" else chr(0xDC00 + int(m[1][1:], 16)), text)
    return os.fsdecode(raw.encode("utf-8", "surrogateescape"))


def _paths(paths: Sequence[str]) -> list[str]:
    return [path_text(path) for path in paths]


def _folder_match(folder: str) -> list[object]:
    """Parameters for ``(? = '' OR path = ? OR starts_with(path, ?))``: ``folder`` and what lies below it."""
    text = path_text(folder) if folder else ""
    return [text, text, text.rstrip("/") + "/"]


@dataclass(frozen=True)
class DocumentRow:
    """A file's manifest row as the pipeline writes it."""

    path: str
    root: str
    size: int
    mtime: float
    content_hash: str
    status: str
    error: str | None = None
    kind: str = ""
    title: str = ""


@dataclass(frozen=True)
class Document(DocumentRow):
    """A file's manifest row as stored: ``status`` is "indexed", "skipped" (the reason is in
    ``error``) or "failed" (it could not be read)."""

    id: int = 0
    n_chunks: int = 0
    indexed_at: datetime.datetime | None = None


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
        """The hit as JSON-ready values, its path as ``path_text`` shows it."""
        return {**asdict(self), "path": path_text(self.path)}


_ROW_FIELDS = tuple(f.name for f in fields(DocumentRow))


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
            lines.append(f"- {path_text(hit.path)}{title}, characters {hit.start}-{hit.end}:\n"
                         f"  {hit.snippet(self.query)}")
        return "\n".join(lines)


def _document(row: Sequence[Any]) -> Document:
    path, root, *rest = row
    return Document(path_from_text(str(path)), path_from_text(str(root)), *rest)


class Documents:
    def __init__(self, db: Database, index: HybridIndex) -> None:
        self.db, self.index = db, index

    # -- reading -------------------------------------------------------------------------------
    def get(self, path: str) -> Document | None:
        row = self.db.fetchone(f"SELECT {_COLUMNS} FROM documents WHERE path = ?", [path_text(path)])
        return _document(row) if row else None

    def get_many(self, paths: Sequence[str]) -> dict[str, Document]:
        if not paths:
            return {}
        rows = self.db.fetchall(f"SELECT {_COLUMNS} FROM documents WHERE path IN (SELECT unnest(?))", [_paths(paths)])
        return {document.path: document for document in map(_document, rows)}

    def under(self, folder: str, status: str | None = None, limit: int | None = None) -> list[Document]:
        """The documents at or below ``folder`` (every one for ""), by path."""
        sql = f"SELECT {_COLUMNS} FROM documents WHERE (? = '' OR path = ? OR starts_with(path, ?))"
        params: list[object] = _folder_match(folder)
        if status:
            sql += " AND status = ?"
            params.append(status)
        sql += " ORDER BY path" + (f" LIMIT {int(limit)}" if limit else "")
        return [_document(row) for row in self.db.fetchall(sql, params)]

    def counts(self, folder: str = "") -> dict[str, int]:
        """Documents per status at or below ``folder``, and their chunks."""
        rows = self.db.fetchall(
            "SELECT status, count(*), sum(n_chunks) FROM documents WHERE (? = '' OR path = ? "
            "OR starts_with(path, ?)) GROUP BY status", _folder_match(folder))
        counts = {status: n for status, n, _ in rows}
        counts["chunks"] = int(sum(c or 0 for _, _, c in rows))
        return counts

    def search(self, query: str, page: int = 0, size: int = PAGE_SIZE,
               query_vector: np.ndarray | None = None) -> DocumentPage:
        """Page ``page`` of the chunks best matching ``query`` by words and meaning."""
        hits = self.index.search(CORPUS, query, limit=(page + 1) * size + size * 10, query_vector=query_vector)
        wanted = hits[page * size:(page + 1) * size]
        rows = {row[0]: row for row in self._chunks([h.item_id for h in wanted])}
        items = [DocumentHit(path_from_text(rows[h.item_id][1]), h.score, *rows[h.item_id][2:])
                 for h in wanted if h.item_id in rows]
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
    def store(self, conn: Conn, rows: Sequence[DocumentRow], chunks: Mapping[str, Sequence[NewChunk]],
              vectors: Mapping[str, np.ndarray]) -> None:
        """Insert or update manifest rows, and swap each one's chunks for ``chunks[path]`` (none if absent).

        A chunk gets the vector stored under its content hash in ``vectors``; one without is found
        by its words until ``HybridIndex.set_vectors`` gives it one.
        """
        if not rows:
            return
        now = datetime.datetime.now()
        # bulk writes bypass Database's own storable(): text is made storable here, paths by path_text
        table = {name: np.asarray([storable(getattr(r, name)) for r in rows], dtype=object) for name in _ROW_FIELDS}
        table["path"] = np.asarray(_paths([r.path for r in rows]), dtype=object)
        table["root"] = np.asarray(_paths([r.root for r in rows]), dtype=object)
        table["indexed_at"] = np.asarray([now if r.status == "indexed" else None for r in rows], dtype=object)
        with columns_view(conn, "_doc_rows", table):
            ids = dict(conn.execute(
                f"INSERT INTO documents ({', '.join(_ROW_FIELDS)}, indexed_at) SELECT {', '.join(_ROW_FIELDS)}, "
                "indexed_at::TIMESTAMP FROM _doc_rows ON CONFLICT (path) DO UPDATE SET "
                + ", ".join(f"{name} = excluded.{name}" for name in (*_ROW_FIELDS[1:], "indexed_at"))
                + " RETURNING path, id").fetchall())
        self.drop_chunks(conn, list(ids.values()))
        new = [(ids[path_text(r.path)], seq, NewChunk(storable(c.text), c.start, c.end, c.content_hash))
               for r in rows for seq, c in enumerate(chunks.get(r.path, ()))]
        if new:
            chunk_ids = [row[0] for row in conn.execute("SELECT nextval('chunk_ids') FROM range(?)", [len(new)]).fetchall()]
            columns = {
                "id": np.asarray(chunk_ids, np.int64),
                "document_id": np.asarray([d for d, _, _ in new], np.int64),
                "seq": np.asarray([s for _, s, _ in new], np.int32),
                "content": np.asarray([c.text for _, _, c in new], dtype=object),
                "start_char": np.asarray([c.start for _, _, c in new], np.int64),
                "end_char": np.asarray([c.end for _, _, c in new], np.int64),
                "content_hash": np.asarray([c.content_hash for _, _, c in new], dtype=object),
            }
            with columns_view(conn, "_new_chunks", columns):
                conn.execute(f"INSERT INTO chunks ({', '.join(columns)}) SELECT * FROM _new_chunks")
            embedded = [k for k, (_, _, c) in enumerate(new) if c.content_hash in vectors]
            bare = [k for k, (_, _, c) in enumerate(new) if c.content_hash not in vectors]
            if embedded:
                self.index.write(conn, CORPUS, [(chunk_ids[k], new[k][2].text) for k in embedded],
                                 np.stack([vectors[new[k][2].content_hash] for k in embedded]))
            if bare:
                self.index.write(conn, CORPUS, [(chunk_ids[k], new[k][2].text) for k in bare])
        counts = {doc_id: 0 for doc_id in ids.values()}
        for doc_id, _, _ in new:
            counts[doc_id] += 1
        with columns_view(conn, "_doc_counts", {"id": np.fromiter(counts, np.int64),
                                          "n": np.fromiter(counts.values(), np.int64)}):
            conn.execute("UPDATE documents SET n_chunks = c.n FROM _doc_counts c WHERE documents.id = c.id")

    def drop_chunks(self, conn: Conn, document_ids: Sequence[int]) -> None:
        if not document_ids:
            return
        old = [row[0] for row in conn.execute(
            "SELECT id FROM chunks WHERE document_id IN (SELECT unnest(?))", [list(document_ids)]).fetchall()]
        if old:
            self.index.remove(CORPUS, old)
            conn.execute("DELETE FROM chunks WHERE document_id IN (SELECT unnest(?))", [list(document_ids)])

    def indexed_with(self, hashes: Sequence[str]) -> list[tuple[int, str, str]]:
        """(id, path, content hash) of the indexed documents holding any of these contents."""
        rows = self.db.fetchall("SELECT id, path, content_hash FROM documents WHERE status = 'indexed' "
                                "AND content_hash IN (SELECT unnest(?))", [list(hashes)])
        return [(doc_id, path_from_text(path), content_hash) for doc_id, path, content_hash in rows]

    def touch(self, conn: Conn, path: str, size: int, mtime: float) -> None:
        """A document whose content is unchanged got a new size or time (a save without changes)."""
        conn.execute("UPDATE documents SET size = ?, mtime = ? WHERE path = ?", [size, mtime, path_text(path)])

    def chunk_texts(self, ids: Sequence[int]) -> dict[int, str]:
        """The text of each chunk by id."""
        return dict(self.db.fetchall("SELECT id, content FROM chunks WHERE id IN (SELECT unnest(?))", [list(ids)]))

    def move(self, conn: Conn, document_id: int, path: str, root: str, size: int, mtime: float) -> None:
        """A renamed or moved file keeps its row and its chunks under its new path."""
        conn.execute("UPDATE documents SET path = ?, root = ?, size = ?, mtime = ? WHERE id = ?",
                     [path_text(path), path_text(root), size, mtime, document_id])

    def forget(self, conn: Conn, paths: Sequence[str]) -> int:
        """Remove these files' rows and chunks; returns how many were known."""
        if not paths:
            return 0
        ids = [row[0] for row in conn.execute(
            "SELECT id FROM documents WHERE path IN (SELECT unnest(?))", [_paths(paths)]).fetchall()]
        self.drop_chunks(conn, ids)
        conn.execute("DELETE FROM documents WHERE id IN (SELECT unnest(?))", [ids])
        return len(ids)

    def forget_under(self, folder: str) -> int:
        """Remove every document at or below ``folder`` with its chunks; returns how many."""
        with self.db.transaction() as conn:
            ids = [row[0] for row in conn.execute("SELECT id FROM documents WHERE path = ? OR starts_with(path, ?)",
                                                  _folder_match(folder)[1:]).fetchall()]
            self.drop_chunks(conn, ids)
            conn.execute("DELETE FROM documents WHERE id IN (SELECT unnest(?))", [ids])
            return len(ids)
