"""Recall memory: every message ever exchanged, committed before the model sees it.

A message row is committed on its own first (a crash after that never loses it); it is then added
to the search index. If embedding fails (the embedder's runner died, say), the message is still
found by its words, and ``backfill_vectors`` embeds it later.
"""

from __future__ import annotations

import datetime
import json
import logging
from dataclasses import dataclass
from typing import Any, Sequence

from app.memory.db import Database
from app.memory.paging import PAGE_SIZE, Page, page_of, ranked_page
from app.memory.search import HybridIndex
from models.errors import ModelError

log = logging.getLogger(__name__)

CORPUS = "recall"
_COLUMNS = "id, conversation, role, content, tool_name, tool_args, created_at, n_tokens, in_context, source"


@dataclass(frozen=True)
class Message:
    id: int
    conversation: str
    role: str
    """"system", "user", "assistant" (a tool call when tool_name is set) or "tool" (its result)."""
    content: str
    tool_name: str | None
    tool_args: str | None
    """The call's arguments as JSON text."""
    created_at: datetime.datetime
    n_tokens: int | None
    in_context: bool
    source: str | None = None
    """Where untrusted text in it came from (a file read, names chosen by others); None when trusted."""

    @property
    def is_tool_call(self) -> bool:
        return self.role == "assistant" and self.tool_name is not None

    def line(self) -> str:
        """One line for search results."""
        stamp = self.created_at.strftime("%Y-%m-%d %H:%M")
        what = f"{self.role} ({self.tool_name})" if self.tool_name else self.role
        return f"[{stamp}] {what}: {self.content}"


class Recall:
    def __init__(self, db: Database, index: HybridIndex) -> None:
        self.db = db
        self.index = index

    def add(
        self,
        conversation: str,
        role: str,
        content: str,
        *,
        tool_name: str | None = None,
        tool_args: dict[str, Any] | None = None,
        n_tokens: int | None = None,
        created_at: datetime.datetime | None = None,
        source: str | None = None,
    ) -> Message:
        """Commit one message, then index it; ``source`` names where untrusted text in it came from."""
        created = created_at or datetime.datetime.now()
        args = json.dumps(tool_args, ensure_ascii=False) if tool_args is not None else None
        row = self.db.fetchone(
            "INSERT INTO messages (conversation, role, content, tool_name, tool_args, created_at, "
            f"n_tokens, in_context, source) VALUES (?, ?, ?, ?, ?, ?, ?, TRUE, ?) RETURNING {_COLUMNS}",
            [conversation, role, content, tool_name, args, created, n_tokens, source],
        )
        message = Message(*row)
        self._index([message])
        return message

    def _index(self, messages: Sequence[Message]) -> None:
        items = [(m.id, self._searchable(m)) for m in messages]
        try:
            self.index.add(CORPUS, items)
        except ModelError as exc:
            log.warning("messages are searchable by words only until they can be embedded: %s", exc)
            self.index.add(CORPUS, items, vectors=None, embed=False)

    @staticmethod
    def _searchable(message: Message) -> str:
        if message.tool_name and message.tool_args:
            return f"{message.tool_name} {message.tool_args} {message.content}"
        return message.content

    def repair(self) -> int:
        """Index what was committed but never indexed (the process died between the two); returns
        how many messages were mended. Run at every start."""
        rows = self.db.fetchall(
            "SELECT m.id FROM messages m ANTI JOIN doc_lengths l ON l.corpus = ? AND l.item_id = m.id ORDER BY m.id",
            [CORPUS])
        unindexed = [row[0] for row in rows]
        if unindexed:
            self._index(self.get_many(unindexed))
        return len(unindexed)

    def backfill_vectors(self, most: int = 64) -> int:
        """Embed up to ``most`` messages that were indexed without a vector (the embedder was down,
        or another one was chosen since); returns how many. Call it again until it returns 0."""
        if self.index.embedder is None:
            return 0
        ids = self.index.missing_vectors(CORPUS)[:most]
        if not ids:
            return 0
        messages = self.get_many(ids)
        try:
            self.index.add(CORPUS, [(m.id, self._searchable(m)) for m in messages])
        except ModelError as exc:
            log.warning("messages stay searchable by words only until they can be embedded: %s", exc)
            return 0
        return len(messages)

    def get_many(self, ids: Sequence[int]) -> list[Message]:
        if not ids:
            return []
        rows = self.db.fetchall(
            f"SELECT {_COLUMNS} FROM messages WHERE id IN (SELECT unnest(?)) ORDER BY id", [list(ids)]
        )
        return [Message(*row) for row in rows]

    def in_context(self, conversation: str) -> list[Message]:
        """The conversation's messages still in the main context, oldest first."""
        rows = self.db.fetchall(
            f"SELECT {_COLUMNS} FROM messages WHERE conversation = ? AND in_context ORDER BY id",
            [conversation],
        )
        return [Message(*row) for row in rows]

    def evict(self, ids: Sequence[int]) -> None:
        """Take messages out of the main context; they stay in recall."""
        if ids:
            self.db.execute("UPDATE messages SET in_context = FALSE WHERE id IN (SELECT unnest(?))", [list(ids)])

    def count(self, conversation: str | None = None) -> int:
        if conversation is None:
            return self.db.fetchone("SELECT count(*) FROM messages")[0]
        return self.db.fetchone("SELECT count(*) FROM messages WHERE conversation = ?", [conversation])[0]

    def search(self, query: str, page: int = 0, size: int = PAGE_SIZE) -> Page[Message]:
        """Messages matching ``query`` by words and meaning, best first, paginated."""
        hits = self.index.search(CORPUS, query, limit=(page + 1) * size + size * 10)
        return ranked_page([h.item_id for h in hits], page, self.get_many, size)

    def search_date(
        self, start: datetime.datetime, end: datetime.datetime, page: int = 0, size: int = PAGE_SIZE
    ) -> Page[Message]:
        """Messages from ``start`` up to ``end`` (inclusive), oldest first, paginated."""
        total = self.db.fetchone(
            "SELECT count(*) FROM messages WHERE created_at BETWEEN ? AND ?", [start, end]
        )[0]
        rows = self.db.fetchall(
            f"SELECT {_COLUMNS} FROM messages WHERE created_at BETWEEN ? AND ? "
            "ORDER BY created_at, id LIMIT ? OFFSET ?",
            [start, end, size, max(0, page) * size],
        )
        return page_of([Message(*row) for row in rows], page, total=total, size=size)
