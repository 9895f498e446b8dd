"""Ingestion fixtures: the real default embedder (MiniLM converted to GGUF) in its runner, once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.ingest.pipeline import Pipeline
from app.memory.store import MemoryStore
from models.local_client import LocalEmbedder


@pytest.fixture
def memory(tmp_path: Path, embedder: LocalEmbedder) -> Iterator[MemoryStore]:
    store = MemoryStore.open(tmp_path / "memory.duckdb", embedder, embedder.info.file_hash)
    yield store
    store.close()


@pytest.fixture
def pipeline(memory: MemoryStore) -> Iterator[Pipeline]:
    made = Pipeline(memory)
    yield made
    made.close()


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    return folder
