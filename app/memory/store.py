"""The memory hierarchy over one database: core, recall, archival, documents, summaries, one search index."""

from __future__ import annotations

import logging
from pathlib import Path

from app import paths, settings
from app.memory.archival import Archival
from app.memory.core import CoreMemory
from app.memory.db import Database
from app.memory.documents import Documents
from app.memory.recall import Recall
from app.memory.search import HybridIndex
from app.memory.summaries import SummaryStore
from models.convert import DEFAULT_EMBEDDER_FILE, ensure_default_embedder
from models.errors import ModelError
from models.interface import Embedder
from models.local_client import LocalEmbedder

log = logging.getLogger(__name__)


def embedder_path() -> Path | None:
    """The embedder in the settings, else the converted default, else None.

    An installed bundle copies the default it ships into the models folder on first use.
    """
    chosen = settings.load().embed_model
    path = Path(chosen).expanduser() if chosen else paths.models_dir() / DEFAULT_EMBEDDER_FILE
    if not path.exists() and not chosen and paths.bundled_models_dir() is not None:
        try:
            path = ensure_default_embedder(paths.models_dir(), paths.bundled_models_dir())
        except (ModelError, OSError) as exc:
            log.warning("the bundled embedder cannot be installed: %s", exc)
    return path if path.exists() else None


class MemoryStore:
    def __init__(self, db: Database, embedder: Embedder | None = None, model_id: str = "") -> None:
        self.db = db
        self.index = HybridIndex(db, embedder, model_id)
        self.core = CoreMemory(db)
        self.recall = Recall(db, self.index)
        self.archival = Archival(db, self.index)
        self.documents = Documents(db, self.index)
        self.summaries = SummaryStore(db)
        self.embedder: LocalEmbedder | None = None
        """The embedder this store started and must close (None when it was given one)."""

    @classmethod
    def open(cls, path: Path | None = None, embedder: Embedder | None = None, model_id: str = "") -> MemoryStore:
        return cls(Database(path), embedder, model_id)

    @classmethod
    def open_default(cls, path: Path | None = None) -> MemoryStore:
        """The user's memory with the configured embedder (words only when none is available)."""
        embedder = None
        model_path = embedder_path()
        if model_path is None:
            log.warning("no embedder is set up (`%s models setup`); searching by words only", paths.launcher())
        else:
            try:
                embedder = LocalEmbedder(model_path)
            except ModelError as exc:
                log.warning("the embedder cannot be loaded (%s); searching by words only", exc)
        store = cls(Database(path), embedder, embedder.info.file_hash if embedder else "")
        store.embedder = embedder
        mended = store.recall.repair()
        if mended:
            log.info("indexed %d messages that were committed but not yet searchable", mended)
        return store

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
        if self.embedder is not None:
            self.embedder.close()
        self.db.close()
