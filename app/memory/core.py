"""Core memory: named blocks the model always sees (MemGPT), each with a character limit.

Every change is a new version in ``core_history``, so any earlier version can be restored. A
replace needs an exact match; on a miss the error quotes the closest existing line so the model
can correct itself.
"""

from __future__ import annotations

import datetime
import difflib
from dataclasses import dataclass

from app.memory.db import Database

DEFAULT_LIMIT = 2000
DEFAULT_BLOCKS = {
    "persona": (
        "I am Pagemind, a private assistant that works on this computer for its user. I act only "
        "through my tools, ask before anything risky, and keep what matters in my memory."
    ),
    "human": "Nothing is known about the user yet.",
}


class CoreMemoryError(ValueError):
    """A core memory edit could not be applied; the message tells the model what to do instead."""


@dataclass(frozen=True)
class Block:
    label: str
    value: str
    limit: int
    version: int
    updated_at: datetime.datetime


@dataclass(frozen=True)
class Version:
    label: str
    version: int
    value: str
    action: str
    created_at: datetime.datetime


def _closest_line(text: str, wanted: str) -> str | None:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    pieces = lines + [s.strip() + "." for line in lines for s in line.split(".") if s.strip()]
    found = difflib.get_close_matches(wanted.strip(), pieces, n=1, cutoff=0.3)
    return found[0] if found else None


class CoreMemory:
    def __init__(self, db: Database) -> None:
        self.db = db
        with db.lock:
            for label, value in DEFAULT_BLOCKS.items():
                if self._row(label) is None:
                    self.create(label, value)

    def _row(self, label: str) -> Block | None:
        row = self.db.fetchone(
            "SELECT label, value, char_limit, version, updated_at FROM core_blocks WHERE label = ?",
            [label],
        )
        return Block(*row) if row else None

    def get(self, label: str) -> Block:
        block = self._row(label)
        if block is None:
            known = ", ".join(b.label for b in self.blocks())
            raise CoreMemoryError(f"There is no core memory block {label!r}; the blocks are: {known}.")
        return block

    def blocks(self) -> list[Block]:
        rows = self.db.fetchall(
            "SELECT label, value, char_limit, version, updated_at FROM core_blocks ORDER BY "
            "CASE label WHEN 'persona' THEN 0 WHEN 'human' THEN 1 ELSE 2 END, label"
        )
        return [Block(*row) for row in rows]

    def _write(self, label: str, value: str, limit: int, version: int, action: str) -> Block:
        now = datetime.datetime.now()
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO core_blocks VALUES (?, ?, ?, ?, ?)",
                [label, value, limit, version, now],
            )
            conn.execute(
                "INSERT INTO core_history VALUES (?, ?, ?, ?, ?)", [label, version, value, action, now]
            )
        return Block(label, value, limit, version, now)

    def _checked(self, block: Block, value: str) -> str:
        if len(value) > block.limit:
            raise CoreMemoryError(
                f"Block {block.label!r} would hold {len(value):,} characters; its limit is "
                f"{block.limit:,}. Replace or shorten something first."
            )
        return value

    def create(self, label: str, value: str = "", limit: int = DEFAULT_LIMIT) -> Block:
        label = label.strip()
        if not label.isidentifier():
            raise CoreMemoryError(f"A block label must be a single word (letters, digits, _), not {label!r}.")
        with self.db.lock:
            if self._row(label) is not None:
                raise CoreMemoryError(f"Block {label!r} already exists.")
            if len(value) > limit:
                raise CoreMemoryError(f"The text has {len(value):,} characters; the limit is {limit:,}.")
            return self._write(label, value, limit, 1, "create")

    def append(self, label: str, content: str) -> Block:
        with self.db.lock:
            block = self.get(label)
            value = (block.value.rstrip("\n") + "\n" + content).strip("\n") if block.value else content
            return self._write(label, self._checked(block, value), block.limit, block.version + 1, "append")

    def replace(self, label: str, old: str, new: str) -> Block:
        with self.db.lock:
            block = self.get(label)
            if not old:
                raise CoreMemoryError("old_content is empty; quote the exact text to replace.")
            if old not in block.value:
                closest = _closest_line(block.value, old)
                hint = f" The closest line is: {closest!r}" if closest else ""
                raise CoreMemoryError(f"{old!r} is not in block {label!r}.{hint}")
            value = block.value.replace(old, new, 1)
            return self._write(label, self._checked(block, value), block.limit, block.version + 1, "replace")

    def set(self, label: str, value: str) -> Block:
        """The user's own edit (the inspector, ``memory edit``)."""
        with self.db.lock:
            block = self.get(label)
            if value == block.value:
                return block
            return self._write(label, self._checked(block, value), block.limit, block.version + 1, "edit")

    def history(self, label: str) -> list[Version]:
        self.get(label)
        rows = self.db.fetchall(
            "SELECT label, version, value, action, created_at FROM core_history "
            "WHERE label = ? ORDER BY version",
            [label],
        )
        return [Version(*row) for row in rows]

    def restore(self, label: str, version: int) -> Block:
        with self.db.lock:
            block = self.get(label)
            row = self.db.fetchone(
                "SELECT value FROM core_history WHERE label = ? AND version = ?", [label, version]
            )
            if row is None:
                raise CoreMemoryError(f"Block {label!r} has no version {version}.")
            return self._write(label, self._checked(block, row[0]), block.limit, block.version + 1,
                               f"restore {version}")

    def render(self) -> str:
        """The snapshot the model sees in its main context."""
        parts = []
        for block in self.blocks():
            parts.append(
                f'<{block.label} characters="{len(block.value)}/{block.limit}">\n{block.value}\n</{block.label}>'
            )
        return "\n".join(parts)
