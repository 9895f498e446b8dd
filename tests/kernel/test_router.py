"""The quick-command router: exact calls for plain commands, None for everything else, schema-valid
arguments for the real tools, no I/O and no heavy imports."""

from __future__ import annotations

import builtins
import itertools
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tools.apps
import tools.desktop
import tools.documents
import tools.files
import tools.processes
import tools.system
from app.kernel.router import MAX_CHARS, MAX_PID, Route, route
from tools.registry import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
TOOL_MODULES = (tools.apps, tools.desktop, tools.documents, tools.files, tools.processes, tools.system)
"""Imported so that their tools are in REGISTRY."""

ROUTED: list[tuple[str, str, dict[str, Any]]] = [
    ("search my documents for budget review", "search_documents", {"query": "budget review"}),
    ("search documents boiler", "search_documents", {"query": "boiler"}),
    ("look through my notes for the tax form", "search_documents", {"query": "the tax form"}),
    # launch_app
    ("open firefox", "launch_app", {"name": "firefox"}),
    ("launch firefox", "launch_app", {"name": "firefox"}),
    ("start gimp", "launch_app", {"name": "gimp"}),
    ("run calculator", "launch_app", {"name": "calculator"}),
    ("Open Firefox", "launch_app", {"name": "Firefox"}),
    ("open visual studio code", "launch_app", {"name": "visual studio code"}),
    ("launch org.gnome.Calculator", "launch_app", {"name": "org.gnome.Calculator"}),
    ("start libreoffice-writer", "launch_app", {"name": "libreoffice-writer"}),
    ("open notepad++", "launch_app", {"name": "notepad++"}),
    # politeness and punctuation around a command
    ("  open firefox  ", "launch_app", {"name": "firefox"}),
    ("open firefox.", "launch_app", {"name": "firefox"}),
    ("open firefox!", "launch_app", {"name": "firefox"}),
    ("please open firefox", "launch_app", {"name": "firefox"}),
    ("pls launch gimp", "launch_app", {"name": "gimp"}),
    ("open firefox please", "launch_app", {"name": "firefox"}),
    ("open firefox, please.", "launch_app", {"name": "firefox"}),
    ("can you open firefox?", "launch_app", {"name": "firefox"}),
    ("Could you please start gimp?", "launch_app", {"name": "gimp"}),
    ("open\tfirefox", "launch_app", {"name": "firefox"}),
    # open_path
    ("open ~/Downloads", "open_path", {"path": "~/Downloads"}),
    ("open /tmp/x.txt", "open_path", {"path": "/tmp/x.txt"}),
    ("open ~", "open_path", {"path": "~"}),
    ("open ~/My Documents/cv.odt", "open_path", {"path": "~/My Documents/cv.odt"}),
    ("open C:\\Users\\ann\\report.pdf", "open_path", {"path": "C:\\Users\\ann\\report.pdf"}),
    ("open folder ~/Pictures", "open_path", {"path": "~/Pictures"}),
    ("open ~/x/..", "open_path", {"path": "~/x/.."}),
    # open_url
    ("open https://example.org", "open_url", {"url": "https://example.org"}),
    ("go to https://example.org/docs?page=2", "open_url", {"url": "https://example.org/docs?page=2"}),
    ("visit http://localhost:8080/", "open_url", {"url": "http://localhost:8080/"}),
    ("open mailto:ann@example.org", "open_url", {"url": "mailto:ann@example.org"}),
    # kill_process
    ("kill 1234", "kill_process", {"pid": 1234}),
    ("kill pid 1234", "kill_process", {"pid": 1234}),
    ("end process 1234", "kill_process", {"pid": 1234}),
    ("terminate 1234", "kill_process", {"pid": 1234}),
    ("stop process 1234", "kill_process", {"pid": 1234}),
    ("kill -9 1234", "kill_process", {"pid": 1234, "force": True}),
    ("force kill 1234", "kill_process", {"pid": 1234, "force": True}),
    (f"kill {MAX_PID}", "kill_process", {"pid": MAX_PID}),
    ("kill firefox", "kill_process", {"name": "firefox"}),
    ("quit firefox", "kill_process", {"name": "firefox"}),
    ("close firefox", "kill_process", {"name": "firefox"}),
    ("kill -9 firefox", "kill_process", {"name": "firefox", "force": True}),
    ("end process chrome.exe", "kill_process", {"name": "chrome.exe"}),
    # find_files
    ("find report.pdf", "find_files", {"root": "~", "pattern": "report.pdf"}),
    ("where is report.pdf", "find_files", {"root": "~", "pattern": "report.pdf"}),
    ("where is report.pdf?", "find_files", {"root": "~", "pattern": "report.pdf"}),
    ("locate *.pdf", "find_files", {"root": "~", "pattern": "*.pdf"}),
    ("search for budget.xlsx", "find_files", {"root": "~", "pattern": "budget.xlsx"}),
    ("find files named notes.txt", "find_files", {"root": "~", "pattern": "notes.txt"}),
    ("find report.pdf in ~/Documents", "find_files", {"root": "~/Documents", "pattern": "report.pdf"}),
    ("look for IMG_20??* under /media/photos", "find_files", {"root": "/media/photos", "pattern": "IMG_20??*"}),
    ("find .bashrc", "find_files", {"root": "~", "pattern": ".bashrc"}),
    # list_processes
    ("what's using my memory", "list_processes", {"sort": "memory"}),
    ("what is using memory", "list_processes", {"sort": "memory"}),
    ("what\u2019s using the ram", "list_processes", {"sort": "memory"}),
    ("what's eating my ram?", "list_processes", {"sort": "memory"}),
    ("top memory", "list_processes", {"sort": "memory"}),
    ("show processes by memory", "list_processes", {"sort": "memory"}),
    ("what's using my cpu", "list_processes", {"sort": "cpu"}),
    ("top processes", "list_processes", {"sort": "cpu"}),
    ("show processes", "list_processes", {"sort": "cpu"}),
    ("list processes", "list_processes", {"sort": "cpu"}),
    ("what's running?", "list_processes", {"sort": "cpu"}),
    # list_dir
    ("list ~/Downloads", "list_dir", {"path": "~/Downloads"}),
    ("ls ~/Documents", "list_dir", {"path": "~/Documents"}),
    ("show files in ~/x", "list_dir", {"path": "~/x"}),
    ("what's in ~/Downloads?", "list_dir", {"path": "~/Downloads"}),
    ("list /var/log", "list_dir", {"path": "/var/log"}),
    ("list files in ~/Music", "list_dir", {"path": "~/Music"}),
    ("show me the contents of /etc", "list_dir", {"path": "/etc"}),
    # disk_usage and system_status
    ("disk usage", "disk_usage", {}),
    ("disk space", "disk_usage", {}),
    ("how much disk space is left?", "disk_usage", {}),
    ("free space", "disk_usage", {}),
    ("system status", "system_status", {}),
    ("battery", "system_status", {}),
    ("how is my system?", "system_status", {}),
    # screenshot and list_apps
    ("take a screenshot", "screenshot", {}),
    ("screenshot", "screenshot", {}),
    ("Screenshot, please", "screenshot", {}),
    ("list apps", "list_apps", {}),
    ("what apps are installed?", "list_apps", {}),
    ("show installed applications", "list_apps", {}),
]

DECLINED: list[str] = [
    "open ./notes.md",
    "end process ¹",
    "kill ٣",
    "list ../shared",
    "",
    "   ",
    "open",
    "find",
    "kill",
    "ls",
    "hello",
    "how are you",
    "write a poem about firefox",
    # compound requests
    "open firefox and chrome",
    "open firefox then kill 1234",
    "open firefox; kill 1234",
    "open firefox && kill 1234",
    "open firefox\nkill 1234",
    "kill firefox or chrome",
    "open firefox, gimp",
    "open firefox if it is closed",
    # negations
    "don't open firefox",
    "do not kill 1234",
    "never kill firefox",
    # not plainly one thing
    "what does report.pdf say",
    "open the report",
    "open the report I wrote yesterday",
    "open my files",
    "open report.pdf",
    "open notes.md",
    "open example.org",
    "go to example.org",
    "open www.example.org",
    "go to firefox",
    "run script.sh",
    "start over",
    "open 1234",
    "open file manager",
    "open folder work",
    "open four word app name",
    "open ~/notes.txt with gedit",
    "open ftp://example.org",
    "open https://",
    # destructive by path: the model and its confirmation handle it
    "delete report.pdf",
    "delete ~/Downloads/report.pdf",
    # processes
    "kill it",
    "kill the process",
    "kill all",
    "kill 0",
    "kill -1",
    "kill 99999999999",
    f"kill {MAX_PID + 1}",
    "kill pid firefox",
    "stop firefox",
    "close window",
    "kill process",
    # files
    "find my tax documents",
    "find report",
    "find *",
    "find docs/report.pdf",
    "find report.pdf in Documents",
    "list Downloads",
    "list firefox",
    "show files in my downloads",
    # too long
    "open " + "a" * MAX_CHARS,
]


@pytest.mark.parametrize(("text", "tool", "args"), ROUTED, ids=[case[0] for case in ROUTED])
def test_routes_a_plain_command_to_its_call(text: str, tool: str, args: dict[str, Any]) -> None:
    found = route(text)
    assert found is not None, f"{text!r} was declined"
    assert (found.tool, found.args) == (tool, args)
    assert found.summary.strip() and "\n" not in found.summary


@pytest.mark.parametrize("text", DECLINED, ids=[repr(text[:40]) for text in DECLINED])
def test_declines_anything_not_plainly_one_call(text: str) -> None:
    assert route(text) is None


def test_the_table_is_big_enough() -> None:
    assert len(ROUTED) >= 40 and len(DECLINED) >= 20
    assert len({case[0] for case in ROUTED}) == len(ROUTED) and len(set(DECLINED)) == len(DECLINED)


@pytest.mark.parametrize(("text", "tool", "args"), ROUTED, ids=[case[0] for case in ROUTED])
def test_every_routed_call_is_valid_for_the_real_tool(text: str, tool: str, args: dict[str, Any]) -> None:
    """``Tool.invalid`` validates without ``request_heartbeat`` (it drops it from the schema), so the
    router's arguments are checked exactly as the gate receives them."""
    found = route(text)
    assert found is not None
    assert REGISTRY.get(found.tool).invalid(found.args) is None
    assert "request_heartbeat" not in found.args


VERBS = ["open ", "launch ", "kill ", "kill -9 ", "find ", "where is ", "list ", "go to ", "end process ", ""]


@given(st.sampled_from(VERBS), st.text(max_size=60))
def test_any_text_routes_to_nothing_or_a_valid_call(verb: str, rest: str) -> None:
    found = route(verb + rest)
    assert found is None or REGISTRY.get(found.tool).invalid(found.args) is None


def test_input_at_the_length_limit_still_routes() -> None:
    path = "~/" + "a" * (MAX_CHARS - len("open ~/"))
    assert route("open " + path) == Route("open_path", {"path": path}, f"open {path}")
    assert route("open " + path + "a") is None


def test_routing_does_no_io(monkeypatch: pytest.MonkeyPatch) -> None:
    """A thousand phrasings route the same with every file, folder and process call failing."""
    expected = [route(text) for text in [*(case[0] for case in ROUTED), *DECLINED]]

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the router did I/O")

    for owner, name in [(builtins, "open"), (os, "stat"), (os, "lstat"), (os, "scandir"), (os, "listdir"),
                        (os, "open"), (subprocess, "Popen")]:
        monkeypatch.setattr(owner, name, refuse)
    texts = [*(case[0] for case in ROUTED), *DECLINED]
    cycled = list(itertools.islice(itertools.cycle(zip(texts, expected)), 1000))
    assert [route(text) for text, _ in cycled] == [result for _, result in cycled]


def test_imports_without_llama_cpp_or_qt() -> None:
    check = "import app.kernel.router, sys; assert 'llama_cpp' not in sys.modules and 'PySide6' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", check], check=False, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
