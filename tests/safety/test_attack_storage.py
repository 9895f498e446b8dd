"""Text that cannot be stored, and the small holes (findings 8 and 11): lone surrogates and file
names that are not UTF-8 through the gate, the journal and a real turn; link loops, non-finite
numbers, a pipe for a settings file, bad rules and journal rows, forged undo records, undo that
restores times and owners, and backups kept for a number of days."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app import paths, settings
from app.kernel.events import user_message
from app.kernel.scripted import ScriptedModel
from app.kernel.assembly import assemble
from app.memory.store import MemoryStore
from app.safety.confirm import ScriptedConfirmer
from app.safety.gate import Taint
from app.safety.policy import Policy
from app.safety.undo import UndoRefused
from models.grammar import tool_call_grammar
from models.toolcall import parse_tool_call
from tests.safety.layouts import Layout
from tools.fs import backups
from tools.registry import REGISTRY, Registry, tool

ROOT = Path(__file__).resolve().parents[2]
LATIN1 = b"caf\xe9.txt"


def call(rig, tool: str, **args):
    return rig.gate.run(tool, {**args, "request_heartbeat": False}, Taint())


# -- finding 8: text that cannot be stored ---------------------------------------------------------

@pytest.mark.parametrize("odd", ["\udc80", "\ud800", "a\udcff\udcfe", "\udfff\ud800x"])
def test_lone_surrogates_in_arguments_never_crash_the_gate_or_the_journal(plain_layout: Layout, rig_factory, odd):
    home = plain_layout.home
    rig = rig_factory("write " + str(home / "Notes"))
    for name, args in [("write_file", {"path": f"~/Notes/{odd}.txt", "content": f"x{odd}"}),
                       ("create_folder", {"path": f"~/Notes/{odd}"}),
                       ("read_file", {"path": f"~/Notes/{odd}"}), ("list_dir", {"path": f"~/{odd}"}),
                       ("archival_memory_insert", {"content": odd}), ("launch_app", {"name": odd})]:
        outcome = call(rig, name, **args)
        assert isinstance(outcome.text, str)
    entries = rig.gate.journal.entries(limit=50)
    assert entries and all(entry.status in ("done", "failed") for entry in entries)
    assert all(isinstance(entry.line(), str) for entry in entries)


def _latin1_file(folder: Path) -> Path:
    path = Path(os.fsdecode(os.fsencode(folder) + b"/" + LATIN1))
    with open(os.fsencode(path), "wb") as out:
        out.write(b"an old note\n")
    return path


def test_a_name_that_is_not_utf8_is_listed_overwritten_and_undone(plain_layout: Layout, rig_factory):
    home = plain_layout.home
    odd = _latin1_file(home / "Notes")
    rig = rig_factory("write " + str(home / "Notes"))
    listing = call(rig, "list_dir", path="~/Notes")
    assert "caf\\xe9.txt" in listing.text and listing.ran
    outcome = call(rig, "write_file", path=str(odd), content="new text\n", overwrite=True)
    assert outcome.ran and outcome.undoable, outcome.text
    entry = rig.gate.journal.get(outcome.journal_id)
    assert entry.status == "done" and entry.undo[0]["path"] == str(odd)  # kept exactly
    assert "Restored" in rig.gate.journal.undo(outcome.journal_id)
    with open(os.fsencode(odd), "rb") as restored:
        assert restored.read() == b"an old note\n"


def test_a_turn_that_lists_such_a_folder_completes_and_is_remembered(plain_layout: Layout, tmp_path: Path):
    home = plain_layout.home
    _latin1_file(home / "Notes")
    model = ScriptedModel([
        {"tool": "list_dir", "args": {"path": "~/Notes", "request_heartbeat": True}},
        {"tool": "send_message", "args": {"message": "One note is named caf\udce9.txt"}},
    ])
    store = MemoryStore.open(tmp_path / "memory.duckdb")
    kernel = assemble(store, model, ScriptedConfirmer(), policy=Policy(roots=["~"], rules=[]))
    try:
        result = kernel.agent.run(user_message("what's in Notes?"))
        assert result.stop == "replied", result
        texts = [m.content for m in store.recall.in_context("main")]
        assert any("caf\\xe9.txt" in text for text in texts)
    finally:
        kernel.close(save_state=False)
        store.close()


# -- finding 11 --------------------------------------------------------------------------------------

def test_a_symlink_loop_does_not_stop_a_listing(plain_layout: Layout, rig_factory):
    home = plain_layout.home
    (home / "loop").symlink_to(home / "loop")
    (home / "a").symlink_to(home / "b")
    (home / "b").symlink_to(home / "a")
    outcome = call(rig_factory(), "list_dir", path="~")
    assert outcome.ran and "Notes/" in outcome.text and "loop -> " in outcome.text, outcome.text
    found = call(rig_factory(), "find_files", root="~", pattern="*")
    assert found.ran and "list.txt" in found.text


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_refused_by_the_schema_and_the_parser(plain_layout: Layout, rig_factory, number):
    outcome = call(rig_factory(), "kill_process", pid=os.getpid() + 10_000_000, timeout_s=number)
    assert outcome.text.startswith("Error: invalid arguments for kill_process: timeout_s:"), outcome.text
    assert not outcome.ran
    specs = REGISTRY.specs(["kill_process"])
    raw = '{"thought": "", "tool": "kill_process", "args": {"pid": 5, "timeout_s": NaN, "request_heartbeat": false}}'
    assert "not a JSON object" in parse_tool_call(raw, specs).message
    assert "NaN" not in tool_call_grammar(specs)
    assert "is not a finite number" in _scale.invalid({"factor": number, "more": [1.0, number]})


_LOCAL = Registry()


@tool(risk="read", registry=_LOCAL)
def _scale(factor: float, more: list[float]) -> str:
    """Scale by a factor, with no bounds that would catch an infinity.

    Args:
        factor: any number.
        more: more numbers.
    """
    return str(factor)


def test_a_pipe_in_place_of_the_settings_file_is_one_clear_line(plain_layout: Layout):
    settings_file = paths.settings_file()
    settings_file.unlink()
    os.mkfifo(settings_file)
    with pytest.raises(settings.SettingsError, match="not a regular file"):
        settings.load()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "ask", "list ~/Notes"], capture_output=True,
                          text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "not a regular file" in done.stderr and "Traceback" not in done.stderr


def test_a_bad_rule_in_the_settings_is_ignored_with_a_reason(plain_layout: Layout):
    chosen = settings.load()
    chosen.permission_rules = ["sudo rm -rf", "write /", f"write {plain_layout.home / 'Notes'}"]
    settings.save(chosen)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    listed = subprocess.run([sys.executable, str(ROOT / "main.py"), "rules"], capture_output=True, text=True,
                            timeout=60, env=env)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr
    assert f"write {plain_layout.home / 'Notes'}" in listed.stdout
    assert "ignored: 'sudo rm -rf'" in listed.stdout and "ignored: 'write /'" in listed.stdout
    revoked = subprocess.run([sys.executable, str(ROOT / "main.py"), "rules", "revoke", "sudo rm -rf"],
                             capture_output=True, text=True, timeout=60, env=env)
    assert revoked.returncode == 0 and settings.load().permission_rules == chosen.permission_rules[1:]


def test_a_malformed_journal_row_does_not_break_the_list(plain_layout: Layout, rig_factory):
    rig = rig_factory("write " + str(plain_layout.home / "Notes"))
    call(rig, "write_file", path="~/Notes/new.txt", content="x")
    rig.db.execute("INSERT INTO journal (tool, args, risk, status, undo, started_at) VALUES "
                   "('move', '{not json', 'write', 'done', '[{\"kind\": 1', ?)", [datetime.datetime.now()])
    entries = rig.gate.journal.entries()
    assert [e.status for e in entries] == ["unreadable", "done"]
    assert "unreadable" in entries[0].line()
    with pytest.raises(UndoRefused, match="cannot be undone"):
        rig.gate.journal.undo(entries[0].id)


def test_a_forged_undo_record_cannot_move_a_file_out_of_the_allowed_folders(plain_layout: Layout, rig_factory):
    home, outside = plain_layout.home, plain_layout.outside
    rig = rig_factory()
    forged = [{"kind": "moved", "src": str(outside / "stolen.txt"), "dst": str(home / "Notes" / "list.txt")}]
    row = rig.db.fetchone("INSERT INTO journal (tool, args, risk, status, undo, started_at) VALUES "
                          "('move', '{}', 'write', 'done', ?, ?) RETURNING id", [json.dumps(forged), datetime.datetime.now()])
    with pytest.raises(UndoRefused, match="outside the allowed folders"):
        rig.gate.journal.undo(row[0])
    forged = [{"kind": "moved", "src": str(paths.config_dir() / "x"), "dst": str(home / "Notes" / "list.txt")}]
    row = rig.db.fetchone("INSERT INTO journal (tool, args, risk, status, undo, started_at) VALUES "
                          "('move', '{}', 'write', 'done', ?, ?) RETURNING id", [json.dumps(forged), datetime.datetime.now()])
    with pytest.raises(UndoRefused, match="refused"):
        rig.gate.journal.undo(row[0])
    forged = [{"kind": "overwritten", "path": str(home / "Notes" / "list.txt"), "backup": "/etc/shadow",
               "sha256": __import__("hashlib").sha256(b"milk\n").hexdigest()}]
    row = rig.db.fetchone("INSERT INTO journal (tool, args, risk, status, undo, started_at) VALUES "
                          "('write_file', '{}', 'write', 'done', ?, ?) RETURNING id", [json.dumps(forged), datetime.datetime.now()])
    with pytest.raises(UndoRefused, match="not one of Pagemind's backups"):
        rig.gate.journal.undo(row[0])
    assert (home / "Notes" / "list.txt").read_text() == "milk\n" and not (outside / "stolen.txt").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another owner needs root")
def test_undo_of_an_overwrite_restores_the_time_and_the_owner(plain_layout: Layout, rig_factory):
    home = plain_layout.home
    note = home / "Notes" / "list.txt"
    os.utime(note, (1_000_000_000, 1_000_000_000))
    os.chown(note, 65534, 65534)
    note.chmod(0o640)
    rig = rig_factory("write " + str(home / "Notes"))
    outcome = call(rig, "write_file", path="~/Notes/list.txt", content="bread\n", overwrite=True)
    assert outcome.ran
    rig.gate.journal.undo(outcome.journal_id)
    info = note.stat()
    assert note.read_text() == "milk\n" and info.st_mtime == 1_000_000_000
    assert (info.st_uid, info.st_gid) == (65534, 65534) and info.st_mode & 0o777 == 0o640


def test_backups_are_pruned_after_the_retention_and_undo_says_so(plain_layout: Layout, rig_factory):
    rig = rig_factory("write " + str(plain_layout.home / "Notes"))
    outcome = call(rig, "write_file", path="~/Notes/list.txt", content="bread\n", overwrite=True)
    assert backups.prune(30) == 0  # young backups stay
    assert backups.prune(30, now=time.time() + 31 * 86400) == 1
    with pytest.raises(UndoRefused, match="backups are kept for a limited number of days"):
        rig.gate.journal.undo(outcome.journal_id)
    assert settings.Settings().backup_days == 30
    with pytest.raises(settings.SettingsError):
        settings.Settings(backup_days=-1).validate()


def test_a_screenshot_path_is_judged_and_written_in_the_same_place(plain_layout: Layout, rig_factory,
                                                                    monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from tools import desktop

    monkeypatch.chdir(tmp_path)
    judged = desktop.screenshot.judge({"path": "shot.png"})
    assert judged.targets[0].path == plain_layout.home / "shot.png"  # relative to home, as the tool writes it
    default = desktop.screenshot.judge({})
    assert default.targets[0].path == plain_layout.home / "Pictures" / "Screenshots"
