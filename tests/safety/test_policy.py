"""The policy's verdicts, on real paths (symlinks, ``..``, ``~``), with rules and taint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.safety.policy import Policy, Rule
from tools.fs.resolve import resolve
from tools.judged import Subject
from tools.registry import Registry, tool

REG = Registry()


@tool(risk="read", registry=REG)
def peek(path: Path) -> str:
    """Read.

    Args:
        path: a file.
    """
    return str(path)


@tool(risk="write", registry=REG)
def scribble(path: Path) -> str:
    """Write.

    Args:
        path: a file.
    """
    return str(path)


@tool(risk="destructive", registry=REG)
def shred(path: Path) -> str:
    """Destroy.

    Args:
        path: a file.
    """
    return str(path)


def _app(args: dict) -> Subject:
    return Subject(f"/apps/{args['name'].lower()}.desktop", args["name"])


@tool(risk="launch", registry=REG, subject=_app)
def start(name: str) -> str:
    """Launch.

    Args:
        name: an app.
    """
    return name


@tool(risk="write", internal=True, registry=REG)
def remember(text: str) -> str:
    """Remember.

    Args:
        text: a note.
    """
    return text


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "home"
    (root / "Notes").mkdir(parents=True)
    (root / "Notes" / "a.txt").write_text("a")
    monkeypatch.setenv("HOME", str(root))
    return root


def verdict(policy: Policy, t, path: str, taint=()):
    return policy.decide(t, t.judge({"path": path}), taint)


def decide(policy: Policy, t, taint=(), **args):
    return policy.decide(t, t.judge(args), taint)


def test_defaults_by_tier(home: Path):
    policy = Policy(roots=["~"], rules=[])
    assert verdict(policy, peek, "~/Notes/a.txt").decision == "allow"
    assert verdict(policy, scribble, "~/Notes/b.txt").decision == "ask"
    assert verdict(policy, shred, "~/Notes/a.txt").decision == "ask"
    assert decide(policy, start, name="firefox").decision == "ask"
    assert decide(policy, remember, text="x").decision == "allow"


@pytest.mark.parametrize("path", ["/etc/passwd", "/usr/bin/python3", "/proc/1/environ", "/boot"])
def test_system_folders_are_denied(home: Path, path: str):
    policy = Policy(roots=["~"], rules=[])
    assert verdict(policy, peek, path).decision == "deny"
    assert verdict(policy, scribble, path).decision == "deny"


def test_traversal_and_symlinks_are_resolved_before_the_check(home: Path, tmp_path: Path):
    policy = Policy(roots=["~"], rules=[])
    outside = tmp_path / "outside"
    outside.mkdir()
    (home / "Notes" / "escape").symlink_to(outside)
    assert verdict(policy, peek, "~/Notes/../../outside/x").decision == "ask"
    escaped = verdict(policy, peek, "~/Notes/escape/secret.txt")
    assert escaped.decision == "ask" and escaped.targets == [outside / "secret.txt"]
    (home / "etc-link").symlink_to("/etc")
    assert verdict(policy, peek, "~/etc-link/passwd").decision == "deny"
    assert verdict(policy, peek, "Notes/a.txt").targets == [home / "Notes" / "a.txt"]  # relative to home


def test_pagemind_own_files_are_never_written(home: Path, pagemind_home: Path):
    policy = Policy(roots=["~", str(pagemind_home)], rules=[])
    target = str(pagemind_home / "data" / "pagemind.duckdb")
    assert verdict(policy, scribble, target).decision == "deny"
    assert verdict(policy, peek, target).decision == "allow"


def test_standing_rules_allow_writes_in_their_folder_only(home: Path):
    policy = Policy(roots=["~"], rules=[Rule("write", "~/Notes")])
    assert verdict(policy, scribble, "~/Notes/new.txt").decision == "allow"
    assert verdict(policy, scribble, "~/Other/new.txt").decision == "ask"
    assert verdict(policy, shred, "~/Notes/a.txt").decision == "ask"  # destructive always asks
    policy = Policy(roots=["~"], rules=[Rule("launch", "/apps/firefox.desktop")])
    assert decide(policy, start, name="firefox").decision == "allow"
    assert decide(policy, start, name="chromium").decision == "ask"


def test_taint_makes_everything_above_read_ask_whatever_the_rules(home: Path):
    policy = Policy(roots=["~"], rules=[Rule("write", "~/Notes")])
    tainted = verdict(policy, scribble, "~/Notes/new.txt", taint=["read_file ~/Downloads/invoice.txt"])
    assert tainted.decision == "ask" and "read_file ~/Downloads/invoice.txt" in tainted.reason
    assert decide(policy, remember, ["read_file x"], text="x").decision == "ask"
    assert verdict(policy, peek, "~/Notes/a.txt", taint=["read_file x"]).decision == "allow"


def test_granted_rules_persist_in_the_settings_and_can_be_revoked(home: Path):
    policy = Policy(roots=["~"], rules=[])
    rule = policy.rule_for(scribble, scribble.judge({"path": "~/Notes/a.txt"}))
    assert rule == Rule("write", str(home / "Notes"))
    policy.grant(rule)
    again = Policy(roots=["~"])
    assert again.rules == [rule]
    assert verdict(again, scribble, "~/Notes/z.txt").decision == "allow"
    again.revoke(rule)
    assert Policy(roots=["~"]).rules == []
    assert policy.rule_for(shred, shred.judge({"path": "~/Notes/a.txt"})) is None


@pytest.mark.parametrize("text", ["", "read ~/x", "destructive ~", "write", "sudo rm"])
def test_bad_rules_are_rejected(text: str):
    with pytest.raises(ValueError):
        Rule.parse(text)


def test_resolve_expands_home(home: Path):
    assert resolve("~/Notes/../Notes/a.txt") == home / "Notes" / "a.txt"
    assert os.path.isabs(resolve("relative"))
