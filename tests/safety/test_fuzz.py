"""10,000 random and hostile tool calls through the gate, with a user who always says no:
no side effect at all on the user's files (the tree hashes the same), and no crash."""

from __future__ import annotations

import hashlib
import importlib
import os
import random
import string
from pathlib import Path

import pytest

from app.memory.db import Database
from app.memory.store import MemoryStore
from app.safety.confirm import ScriptedConfirmer
from app.safety.gate import Gate, Turn
from app.safety.journal import Journal
from app.safety.policy import Policy
from tools.registry import REGISTRY

pytestmark = pytest.mark.slow

TOOL_MODULES = ["tools.files", "tools.processes", "tools.apps", "tools.system", "tools.desktop",
                "tools.messages", "tools.memory"]
CALLS = 10_000


def load_tools() -> list[str]:
    for name in TOOL_MODULES:
        importlib.import_module(name)
    return REGISTRY.names()


def tree_hash(*roots: Path) -> str:
    digest = hashlib.sha256()
    for root in roots:
        for folder, dirs, files in os.walk(root, followlinks=False):
            dirs.sort()
            for name in sorted(dirs + files):
                path = Path(folder) / name
                info = path.lstat()
                digest.update(f"{path.relative_to(root)}|{info.st_mode}|{info.st_size}".encode())
                if path.is_symlink():
                    digest.update(os.readlink(path).encode())
                elif path.is_file():
                    digest.update(path.read_bytes())
    return digest.hexdigest()


def hostile_paths(home: Path, outside: Path) -> list[str]:
    return [
        "~", "~/Documents", "~/Documents/report.txt", "~/Documents/../../outside/secret.txt",
        "~/escape/secret.txt", "~/escape", "~/etc-link/passwd", "/etc/passwd", "/", "/proc/self/mem",
        str(outside / "secret.txt"), "../" * 30 + "etc/shadow", "~/" + "a" * 5000, "~/\x00evil",
        "~/Documents/./report.txt", "~/Music", "~/new-file.txt", "~/Documents/sub", "", " ",
        "C:\\Windows\\system32", "~/Documents/*", "$HOME/x", "~root/.ssh/id_rsa", str(home),
    ]


def random_value(rng: random.Random, paths: list[str]) -> object:
    choice = rng.randrange(10)
    if choice < 4:
        return rng.choice(paths)
    return [
        lambda: rng.randint(-2**63, 2**63),
        lambda: rng.choice([True, False, None]),
        lambda: "".join(rng.choices(string.printable, k=rng.randint(0, 50))),
        lambda: "x" * rng.choice([1, 300, 100_000]),
        lambda: [rng.choice(paths) for _ in range(rng.randint(0, 7))],
        lambda: {"nested": rng.choice(paths)},
    ][choice - 4]()


def random_call(rng: random.Random, names: list[str], paths: list[str]) -> tuple[str, object]:
    name = rng.choice(names + ["rm_rf", "os.system", "", "__import__"])
    if name not in names or rng.random() < 0.2:
        return name, rng.choice([{}, [], "args", None, {"cmd": "rm -rf ~"}])
    properties = REGISTRY.get(name).parameters["properties"]
    args: dict[str, object] = {}
    for key, schema in properties.items():
        if rng.random() < 0.85:
            if schema.get("type") == "boolean":
                args[key] = rng.random() < 0.5
            elif "enum" in schema and rng.random() < 0.7:
                args[key] = rng.choice(schema["enum"])
            elif schema.get("type") == "integer" and rng.random() < 0.7:
                args[key] = rng.randint(schema.get("minimum", -5), min(schema.get("maximum", 100), 100))
            else:
                args[key] = random_value(rng, paths)
    if rng.random() < 0.1:
        args["surprise"] = "../../etc"
    return name, args


def test_ten_thousand_hostile_calls_change_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    home = tmp_path / "home"
    outside = tmp_path / "outside"
    (home / "Documents" / "sub").mkdir(parents=True)
    (home / "Music").mkdir()
    outside.mkdir()
    (home / "Documents" / "report.txt").write_text("quarterly report\n")
    (home / "Documents" / "sub" / "deep.md").write_text("# deep\n")
    (home / "Music" / "song.mp3").write_bytes(bytes(range(256)) * 40)
    (outside / "secret.txt").write_text("do not touch\n")
    (home / "escape").symlink_to(outside)
    (home / "etc-link").symlink_to("/etc")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("PAGEMIND_OPENER", str(tmp_path / "no-such-opener"))
    names = load_tools()
    monkeypatch.setattr("tools.processes.SAMPLE_S", 0.005)  # CPU sampling time, not behaviour
    before = tree_hash(home, outside)

    store = MemoryStore.open(tmp_path / "memory.duckdb")
    db = Database(tmp_path / "journal.duckdb")
    confirmer = ScriptedConfirmer(default="deny")
    gate = Gate(REGISTRY, Policy(roots=["~"], rules=[]), Journal(db), confirmer, services={"memory": store})
    rng = random.Random(20261120)
    paths = hostile_paths(home, outside)
    ran = outcomes = 0
    try:
        for _ in range(CALLS):
            name, args = random_call(rng, names, paths)
            outcome = gate.run(name, args, Turn())  # type: ignore[arg-type]
            assert isinstance(outcome.result, str)
            outcomes += 1
            ran += outcome.ran
    finally:
        store.close()
    print(f"\n{CALLS} calls: {ran} ran, {len(confirmer.seen)} asked the user (declined), the rest refused")
    assert outcomes == CALLS
    assert tree_hash(home, outside) == before
    assert not list((tmp_path / "xdg-data").rglob("*.trashinfo")) if (tmp_path / "xdg-data").exists() else True
    assert len(confirmer.seen) > 300, "many calls must have reached the user"
    assert ran > 500, "many harmless calls must have run"
    assert all(e.status != "done" for e in Journal(db).entries(limit=CALLS) if e.risk not in ("read",) and e.tool not in
               ("core_memory_append", "core_memory_replace", "archival_memory_insert"))
    db.close()
