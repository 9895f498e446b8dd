"""Shared fixtures: every test runs with its own PAGEMIND_HOME, so none touches the real home."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest


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
