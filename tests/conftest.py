"""Shared fixtures: every test runs with its own PAGEMIND_HOME, so none touches the real home."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def pagemind_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "pagemind-home"
    home.mkdir()
    monkeypatch.setenv("PAGEMIND_HOME", str(home))
    return home
