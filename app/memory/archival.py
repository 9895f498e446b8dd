"""Archival memory: passages the model chose to keep, with optional tags, searchable."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Sequence

from app.memory.db import Database
from app.memory.paging import PAGE_SIZE, Page, ranked_page
from app.memory.search import HybridIndex

CORPUS = "archival"
MAX_PASSAGE_CHARS = 8000


class ArchivalError(ValueError):
    """A passage could not be stored; the message says why."""


@dataclass(frozen=True)
class Passage:
    id: int
    content: str
    tags: list[str]
    created_at: datetime.datetime
    source: str | None = None
    """Where its text came from when it was stored from untrusted text; None when trusted."""

    def line(self) -> str:
        tags = f" [{', '.join(self.tags)}]" if self.tags else ""
        return f"[{self.created_at:%Y-%m-%d %H:%M}]{tags} {self.content}"


class Archival:
    def __init__(self, db: Database, index: HybridIndex) -> None:
        self.db = db
        self.index = index

    def insert(self, content: str, tags: Sequence[str] = (), source: str | None = None) -> Passage:
        content = content.strip()
        if not content:
            raise ArchivalError("An archival passage cannot be empty.")
        if len(content) > MAX_PASSAGE_CHARS:
            raise ArchivalError(
                f"The passage has {len(content):,} characters; store at most {MAX_PASSAGE_CHARS:,} at a time."
            )
        clean_tags = sorted({t.strip().lower() for t in tags if t.strip()})
        vectors = self.index.embed([content])  # before the transaction: embedding is slow
        with self.db.transaction() as conn:
            row = conn.execute(
                "INSERT INTO passages (content, tags, created_at, source) VALUES (?, ?, ?, ?) "
                "RETURNING id, content, tags, created_at, source",
                [content, clean_tags, datetime.datetime.now(), source],
            ).fetchone()
            passage = Passage(*row)
            self.index.write(conn, CORPUS, [(passage.id, content)], vectors)
        return passage

    def get_many(self, ids: Sequence[int]) -> list[Passage]:
        if not ids:
            return []
        rows = self.db.fetchall(
            "SELECT id, content, tags, created_at, source FROM passages WHERE id IN (SELECT unnest(?))", [list(ids)]
        )
        return [Passage(*row) for row in rows]

    def count(self) -> int:
        return self.db.fetchone("SELECT count(*) FROM passages")[0]

    def search(self, query: str, page: int = 0, tags: Sequence[str] = (), size: int = PAGE_SIZE) -> Page[Passage]:
        ids = None
        if tags:
            wanted = [t.strip().lower() for t in tags]
            rows = self.db.fetchall(
                "SELECT id FROM passages WHERE len(list_intersect(tags, ?)) > 0", [wanted]
            )
            ids = {r[0] for r in rows}
        hits = self.index.search(CORPUS, query, limit=(page + 1) * size + size * 10, ids=ids)
        return ranked_page([h.item_id for h in hits], page, self.get_many, size)
