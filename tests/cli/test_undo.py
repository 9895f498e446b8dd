"""``main.py undo``: list the journal, undo the last action, undo one by id, refuse clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.memory.db import Database
from app.safety.confirm import ScriptedConfirmer
from app.safety.gate import Gate, Taint
from app.safety.journal import Journal
from app.safety.policy import Policy
from tests.cli.support import run
from tools import files  # noqa: F401  (registers the file tools)
from tools.registry import REGISTRY


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "home"
    root.mkdir()
    monkeypatch.setenv("HOME", str(root))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return root


def act(pagemind_home: Path, *calls: tuple[str, dict]) -> None:
    with Database(pagemind_home / "data" / "pagemind.duckdb") as db:
        gate = Gate(REGISTRY, Policy(roots=["~"], rules=[]), Journal(db), ScriptedConfirmer(default="once"))
        for name, args in calls:
            assert gate.run(name, {**args, "request_heartbeat": False}, Taint()).ran


def test_list_then_undo_last_then_by_id(pagemind_home: Path, home: Path):
    act(pagemind_home,
        ("write_file", {"path": "~/a.txt", "content": "alpha"}),
        ("move", {"src": "~/a.txt", "dst": "~/b.txt"}))
    listed = run("undo", "--list", home=pagemind_home)
    assert listed.returncode == 0
    assert "#2" in listed.stdout and "move" in listed.stdout and "(undoable)" in listed.stdout
    last = run("undo", home=pagemind_home)
    assert last.returncode == 0, last.stderr
    assert last.stdout.startswith("Undid #2 move") and (home / "a.txt").exists() and not (home / "b.txt").exists()
    again = run("undo", "2", home=pagemind_home)
    assert again.returncode == 2 and "already undone" in again.stderr
    first = run("undo", "1", home=pagemind_home)
    assert first.returncode == 0 and not (home / "a.txt").exists()


def test_undo_refuses_when_the_file_changed(pagemind_home: Path, home: Path):
    act(pagemind_home, ("write_file", {"path": "~/c.txt", "content": "one"}))
    (home / "c.txt").write_text("edited by hand")
    result = run("undo", home=pagemind_home)
    assert result.returncode == 2
    assert result.stderr.startswith("pagemind: cannot undo:") and "edited" in result.stderr
    assert (home / "c.txt").read_text() == "edited by hand"


def test_nothing_to_undo(pagemind_home: Path):
    result = run("undo", home=pagemind_home)
    assert result.returncode == 2 and "nothing to undo" in result.stderr
    assert run("undo", "--list", home=pagemind_home).stdout.strip() == "The journal is empty."


def test_rules_are_listed_and_revoked(pagemind_home: Path, home: Path):
    from app.safety.policy import Policy, Rule

    assert "No standing rules" in run("rules", home=pagemind_home).stdout
    Policy(roots=["~"]).grant(Rule("write", str(home / "Notes")))
    assert run("rules", "list", home=pagemind_home).stdout.strip() == f"write {home / 'Notes'}"
    revoked = run("rules", "revoke", f"write {home / 'Notes'}", home=pagemind_home)
    assert revoked.returncode == 0 and "Revoked" in revoked.stdout
    missing = run("rules", "revoke", "launch firefox", home=pagemind_home)
    assert missing.returncode == 2 and "there is no rule" in missing.stderr
