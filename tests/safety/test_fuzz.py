"""Random and hostile tool calls through the real gate and tools, on the four home layouts, with a
standing rule on ~/Notes and a user who always says no.

Hostile means: blank and whitespace paths, lone surrogates, NaN and infinities, Pagemind's own
files, shell start-up files, keys, autostart entries, the trash, symlinks out of the allowed
folders and into sensitive places, system folders, and arguments of the wrong type or name.
What must hold: no call crashes the gate; no call above ``read`` runs without asking unless the
rule covers every path it acts on (inside the real ~/Notes, nowhere sensitive); and nothing
outside ~/Notes changes at all (every file, link and folder hashes the same afterwards).
"""

from __future__ import annotations

import hashlib
import os
import random
import string
from pathlib import Path

import pytest

import tools
from app import paths
from app.memory.db import Database
from app.memory.store import MemoryStore
from app.safety.confirm import ScriptedConfirmer
from app.safety.gate import Gate, Taint
from app.safety.journal import Journal
from app.safety.policy import Policy, Rule
from tests.safety.layouts import Layout
from tools.fs.resolve import inside

pytestmark = pytest.mark.slow

CALLS = 10_000
"""Calls per layout."""
ODD_TEXT = ["", " ", "\t", " \n ", "\udc80", "\ud800", "caf\udce9", "\x00", "~/\udcff\udcfe"]


def tree(*roots: Path, skip: tuple[Path, ...] = ()) -> dict[str, str]:
    """Every entry below ``roots`` (never following links): its type, mode, and bytes or link target hashed."""
    found: dict[str, str] = {}
    for root in roots:
        if not os.path.lexists(root):
            continue
        for folder, dirs, files in os.walk(root, followlinks=False):
            dirs[:] = sorted(d for d in dirs if Path(folder, d) not in skip)
            for name in sorted(dirs + files):
                path = Path(folder) / name
                if path in skip:
                    continue
                info = path.lstat()
                if path.is_symlink():
                    content = os.readlink(path)
                elif path.is_file():
                    content = hashlib.sha256(path.read_bytes()).hexdigest()
                else:
                    content = ""
                found[os.fsdecode(path)] = f"{info.st_mode:o} {info.st_size} {content}"
    return found


def hostile_paths(home: Path, outside: Path) -> list[str]:
    folders = paths.all_paths()
    return [
        "~", "~/Notes", "~/Notes/list.txt", "~/Notes/new.txt", "~/Notes/sub", "~/Notes/innocent.txt",
        "~/Notes/escape/secret.txt", "~/Notes/escape", "~/Notes/../.bashrc", "~/Notes/./list.txt",
        "~/.bashrc", "~/.profile", "~/.ssh/authorized_keys", "~/.ssh", "~/.config/autostart/evil.desktop",
        "~/.local/share/applications/x.desktop", "~/.local/share/Trash/files/x", "~/.local/share/Trash",
        "~/.config", "~/.local", "~/dotfiles", str(folders["config"] / "settings.toml"), str(folders["config"]),
        str(folders["data"] / "pagemind.duckdb"), str(folders["data"]), str(folders["models"] / "m.gguf"),
        str(folders["cache"]), str(folders["logs"]), str(outside / "secret.txt"), str(outside), str(home),
        "/etc/passwd", "/", "/proc/self/mem", "../" * 30 + "etc/shadow", "~/" + "a" * 5000, "~root/.ssh/id_rsa",
        "$HOME/x", "C:\\Windows\\system32", "~/Notes/*", "Notes/relative.txt", *ODD_TEXT,
    ]


def random_value(rng: random.Random, paths_: list[str]) -> object:
    choice = rng.randrange(12)
    if choice < 5:
        return rng.choice(paths_)
    return [
        lambda: rng.randint(-2**63, 2**63),
        lambda: rng.choice([True, False, None, float("nan"), float("inf"), -float("inf"), 1e308, -0.0]),
        lambda: "".join(rng.choices(string.printable, k=rng.randint(0, 50))),
        lambda: "x" * rng.choice([1, 300, 100_000]),
        lambda: [rng.choice(paths_) for _ in range(rng.randint(0, 7))],
        lambda: {"nested": rng.choice(paths_)},
        lambda: rng.choice(ODD_TEXT) + rng.choice(paths_),
    ][choice - 5]()


def random_call(rng: random.Random, registry, names: list[str], paths_: list[str]) -> tuple[str, object]:
    name = rng.choice(names + ["rm_rf", "os.system", "", "__import__"])
    if name not in names or rng.random() < 0.1:
        return name, rng.choice([{}, [], "args", None, {"cmd": "rm -rf ~"}])
    properties = registry.get(name).parameters["properties"]
    args: dict[str, object] = {}
    for key, schema in properties.items():
        if rng.random() < 0.9:
            if schema.get("type") == "boolean":
                args[key] = rng.random() < 0.5
            elif "enum" in schema and rng.random() < 0.7:
                args[key] = rng.choice(schema["enum"])
            elif schema.get("type") == "integer" and rng.random() < 0.7:
                args[key] = rng.randint(schema.get("minimum", -5), min(schema.get("maximum", 100), 100))
            else:
                args[key] = random_value(rng, paths_)
    if rng.random() < 0.05:
        args["surprise"] = "../../etc"
    return name, args


def test_hostile_calls_on_every_layout_ask_crash_and_change_nothing(layout: Layout, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch):
    layout_name = layout.name
    home, outside = layout.real_home, layout.outside
    (home / "Notes" / "innocent.txt").symlink_to(home / ".bashrc")
    (home / "Notes" / "escape").symlink_to(outside)
    (home / "Notes" / "sub").mkdir()
    monkeypatch.setenv("PAGEMIND_OPENER", str(tmp_path / "no-such-opener"))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setattr("tools.processes.SAMPLE_S", 0.002)  # CPU sampling time, not behaviour
    registry = tools.load_all()
    names = registry.names()
    notes = home / "Notes"
    watched = (home, outside, *{Path(os.path.realpath(p)) for p in paths.all_paths().values()})
    own = (Path(os.path.realpath(paths.backups_dir())),)  # Pagemind's backups of rule-covered overwrites
    db_files = (*own, *(Path(os.path.realpath(paths.data_dir())) / n for n in ("pagemind.duckdb",)))
    before = tree(*watched, skip=(notes, *db_files))

    store = MemoryStore.open(tmp_path / "memory.duckdb")
    db = Database(tmp_path / "journal.duckdb")
    confirmer = ScriptedConfirmer(default="deny")
    policy = Policy(roots=["~"], rules=[Rule("write", str(layout.home / "Notes"))])
    gate = Gate(registry, policy, Journal(db), confirmer, services={"memory": store, "db": db})
    rng = random.Random(f"20261207-{layout_name}")
    hostile = hostile_paths(layout.home, outside)
    ran = unasked = 0
    try:
        for _ in range(CALLS):
            name, args = random_call(rng, registry, names, hostile)
            asked_before = len(confirmer.seen)
            outcome = gate.run(name, args, Taint())  # type: ignore[arg-type]
            assert isinstance(outcome.text, str)
            ran += outcome.ran
            if not outcome.ran or len(confirmer.seen) > asked_before:
                continue
            tool = registry.get(name)
            if tool.risk == "read" or tool.internal:
                continue
            unasked += 1  # ran above read without asking: only the rule may allow that
            judged = tool.judge(args)  # type: ignore[arg-type]
            assert tool.risk == "write" and judged.all_targets(), (name, args, outcome.text)
            assert all(inside(t.path, notes) for t in judged.all_targets()), (name, args, outcome.text)
    finally:
        store.close()
    print(f"\n{layout_name}: {CALLS} calls, {ran} ran, {unasked} ran under the rule, "
          f"{len(confirmer.seen)} asked the user (declined), the rest refused")
    after = tree(*watched, skip=(notes, *db_files))
    changed = sorted(set(before.items()) ^ set(after.items()))
    assert not changed, changed[:10]
    trash = Path(os.path.realpath(home / ".local" / "share" / "Trash"))
    assert not list(trash.rglob("*.trashinfo")) if trash.exists() else True
    assert len(confirmer.seen) > 200, "many calls must have reached the user"
    assert ran > 300 and unasked > 20, "harmless calls and rule-covered writes must have run"
    entries = Journal(db).entries(limit=CALLS)
    assert all(entry.status in ("done", "failed") for entry in entries)
    db.close()
