"""The action journal: every side effect, recorded before it happens and after, with its undo.

An entry is written as "started" before the tool runs, so even a crash mid-action leaves a trace;
it becomes "done" or "failed" with the result and the tool's undo records. Arguments and records
are stored as ASCII JSON, so any text a tool met (a file name that is not UTF-8, a lone surrogate
from the model) is kept exactly and can never make storing fail. Undo replays the records in
reverse; it refuses, saying why, when the world changed since or a record names a place undo may
not change (app/safety/undo.py).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.memory.db import Database
from app.safety.undo import UndoRefused, undo


@dataclass(frozen=True)
class JournalEntry:
    id: int
    tool: str
    args: dict[str, Any]
    risk: str
    status: str
    """"started", "done", "failed", "undone" or "partly undone"."""
    result: str | None
    undo: list[dict[str, Any]]
    started_at: datetime.datetime

    @property
    def undoable(self) -> bool:
        return self.status == "done" and bool(self.undo)

    def line(self) -> str:
        args = json.dumps(self.args, ensure_ascii=False)
        mark = "undoable" if self.undoable else self.status
        return f"#{self.id} [{self.started_at:%Y-%m-%d %H:%M}] {self.tool} {args[:120]} ({mark})"


_COLUMNS = "id, tool, args, risk, status, result, undo, started_at"


def _entry(row: tuple[Any, ...]) -> JournalEntry:
    """One journal row; a row that cannot be read is shown as such and cannot be undone."""
    id_, tool, args, risk, status, result, undo_data, started = row
    try:
        parsed_args = json.loads(args)
        records = json.loads(undo_data or "[]")
        if not isinstance(parsed_args, dict) or not isinstance(records, list) or not all(
                isinstance(r, dict) for r in records):
            raise ValueError("not the shape of a journal entry")
    except (TypeError, ValueError):
        return JournalEntry(id_, str(tool), {"unreadable": str(args)[:200]}, str(risk), "unreadable", result, [], started)
    return JournalEntry(id_, tool, parsed_args, risk, status, result, records, started)


class Journal:
    def __init__(self, db: Database, roots: list[Path] | None = None) -> None:
        self.db = db
        self.roots = roots
        """The allowed folders undo may change (None: as the settings say at the time of the undo)."""

    def begin(self, tool: str, args: dict[str, Any], risk: str) -> int:
        row = self.db.fetchone(
            "INSERT INTO journal (tool, args, risk, status, started_at) VALUES (?, ?, ?, 'started', ?) RETURNING id",
            [tool, json.dumps(args), risk, datetime.datetime.now()],
        )
        return row[0]

    def finish(self, entry_id: int, *, ok: bool, result: str, undo_records: list[dict[str, Any]]) -> None:
        self.db.execute(
            "UPDATE journal SET status = ?, result = ?, undo = ?, finished_at = ? WHERE id = ?",
            ["done" if ok else "failed", result, json.dumps(undo_records, default=str), datetime.datetime.now(), entry_id],
        )

    def get(self, entry_id: int) -> JournalEntry:
        row = self.db.fetchone(f"SELECT {_COLUMNS} FROM journal WHERE id = ?", [entry_id])
        if row is None:
            raise UndoRefused(f"there is no action #{entry_id} in the journal")
        return _entry(row)

    def entries(self, limit: int = 20) -> list[JournalEntry]:
        rows = self.db.fetchall(f"SELECT {_COLUMNS} FROM journal ORDER BY id DESC LIMIT ?", [limit])
        return [_entry(row) for row in rows]

    def last_undoable(self) -> JournalEntry:
        for entry in self.entries(limit=200):
            if entry.undoable:
                return entry
        raise UndoRefused("there is nothing to undo")

    def undo(self, entry_id: int | None = None) -> str:
        """Undo one action (the last undoable one by default); returns what was done."""
        entry = self.last_undoable() if entry_id is None else self.get(entry_id)
        if entry.status == "undone":
            raise UndoRefused(f"action #{entry.id} was already undone")
        if not entry.undoable:
            raise UndoRefused(f"action #{entry.id} ({entry.tool}) cannot be undone")
        done: list[str] = []
        for record in reversed(entry.undo):
            try:
                done.append(undo(record, self.roots))
            except UndoRefused as exc:
                if not done:
                    raise
                self._mark(entry.id, "partly undone")
                raise UndoRefused(f"{'; '.join(done)}; but then: {exc}") from None
        self._mark(entry.id, "undone")
        return f"Undid #{entry.id} {entry.tool}: " + "; ".join(done)

    def _mark(self, entry_id: int, status: str) -> None:
        self.db.execute(
            "UPDATE journal SET status = ?, undone_at = ? WHERE id = ?", [status, datetime.datetime.now(), entry_id]
        )
