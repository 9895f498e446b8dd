"""Fixtures of the attack tests: a home layout, and the real gate over the real tools."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from send2trash import plat_other

import tools
from app.memory.db import Database
from app.safety.confirm import ScriptedConfirmer
from app.safety.gate import Gate
from app.safety.journal import Journal
from app.safety.policy import Policy, Rule
from tests.safety.layouts import LAYOUTS, Layout, build


@pytest.fixture(params=LAYOUTS)
def layout(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Layout]:
    built = build(request.param, tmp_path, monkeypatch)
    yield built
    monkeypatch.undo()
    importlib.reload(plat_other)


@pytest.fixture
def plain_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Layout]:
    """The normal-install layout only, for attacks that do not depend on the layout."""
    built = build("normal", tmp_path, monkeypatch)
    yield built
    monkeypatch.undo()
    importlib.reload(plat_other)


class Rig:
    """The real gate over the real tool registry, a confirmer that answers from a list (then no)."""

    def __init__(self, tmp_path: Path, rules: list[str]) -> None:
        self.db = Database(tmp_path / f"journal-{id(self)}.duckdb")
        self.confirmer = ScriptedConfirmer(default="deny")
        self.policy = Policy(roots=["~"], rules=[Rule.parse(r) for r in rules])
        self.gate = Gate(tools.load_all(), self.policy, Journal(self.db), self.confirmer)

    def close(self) -> None:
        self.db.close()


@pytest.fixture
def rig_factory(tmp_path: Path) -> Iterator:
    made: list[Rig] = []

    def make(*rules: str) -> Rig:
        rig = Rig(tmp_path, list(rules))
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.close()
