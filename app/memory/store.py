"""The memory hierarchy over one database: core, recall, archival, documents, summaries, one search index."""

from __future__ import annotations

import logging
from pathlib import Path

from app.memory.archival import Archival
from app.memory.core import CoreMemory
from app.memory.db import Database
from app.memory.documents import Documents
from app.memory.recall import Recall
from app.memory.search import HybridIndex
from app.memory.summaries import SummaryStore
from models.interface import Embedder

log = logging.getLogger(__name__)


class MemoryStore:
    def __init__(self, db: Database, embedder: Embedder | None = None, model_id: str = "") -> None:
        self.db = db
        self.index = HybridIndex(db, embedder, model_id)
        self.core = CoreMemory(db)
        self.recall = Recall(db, self.index)
        self.archival = Archival(db, self.index)
        self.documents = Documents(db, self.index)
        self.summaries = SummaryStore(db)
        self.owned: Embedder | None = None
        """An embedder this store closes when it closes (the one it was opened with: app/kernel/assembly.py)."""

    @classmethod
    def open(cls, path: Path | None = None, embedder: Embedder | None = None, model_id: str = "") -> MemoryStore:
        return cls(Database(path), embedder, model_id)

    def sizes(self) -> dict[str, int]:
        """How much each tier holds, for ``memory show`` and the inspector."""
        count = lambda table: self.db.fetchone(f"SELECT count(*) FROM {table}")[0]  # noqa: E731
        return {
            "core blocks": count("core_blocks"),
            "recall messages": count("messages"),
            "archival passages": count("passages"),
            "documents": count("documents"),
            "document chunks": count("chunks"),
        }

    def close(self) -> None:
        if self.owned is not None:
            self.owned.close()
        self.db.close()
