"""Shared fixtures: every test runs with its own PAGEMIND_HOME, so none touches the real home."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import tomli_w

from models.convert import ensure_default_embedder
from models.local_client import LocalEmbedder


@pytest.fixture(scope="session", autouse=True)
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home for session- and module-scoped fixtures, which run before per-test fixtures."""
    home = tmp_path_factory.mktemp("session-home")
    patch = pytest.MonkeyPatch()
    patch.setenv("PAGEMIND_HOME", str(home))
    yield home
    patch.undo()


@pytest.fixture(autouse=True)
def pagemind_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "pagemind-home"
    home.mkdir()
    monkeypatch.setenv("PAGEMIND_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEmbedder]:
    """The real default embedder (MiniLM converted to GGUF) in its runner, once per test session."""
    path = ensure_default_embedder(tmp_path_factory.mktemp("embedder"))
    with LocalEmbedder(path) as model:
        yield model


@pytest.fixture
def indexing_home(tmp_path: Path, embedder: LocalEmbedder) -> Path:
    """A PAGEMIND_HOME whose settings name the real embedder, for commands that index and search."""
    folder = tmp_path / "home"
    (folder / "config").mkdir(parents=True)
    (folder / "config" / "settings.toml").write_text(tomli_w.dumps({"embed_model": embedder.info.path}))
    return folder
