"""The app tools on hand-written XDG desktop entries in temporary data folders, launching real
programs that record how they were started, and opening links through a recording opener."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.waiting import wait_for
from tools.apps import OPENER_ENV, launch_app, list_apps, open_url

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG desktop entries")

RECORDER = """\
import json, os, pathlib, sys
out = pathlib.Path(sys.argv[1])
seen = {"argv": sys.argv[2:], "cwd": os.getcwd(), "pid": os.getpid(), "sid": os.getsid(0),
        "stdin": os.path.realpath("/proc/self/fd/0")}
out.with_suffix(".tmp").write_text(json.dumps(seen))
out.with_suffix(".tmp").replace(out)
"""


def entry(folder: Path, file: str, **keys: str) -> Path:
    path = folder / "applications" / file
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# written by the test", "[Desktop Entry]", "Type=Application", *(f"{k}={v}" for k, v in keys.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Desk:
    """Temporary XDG data folders, and a recorder program for Exec lines."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home, self.first, self.second = root / "data-home", root / "data-1", root / "data-2"
        self.script = root / "recorder.py"
        self.script.write_text(RECORDER)

    def exec(self, marker: str, rest: str = "") -> str:
        return f'"{sys.executable}" "{self.script}" "{self.root / marker}" {rest}'.rstrip()

    def seen(self, marker: str) -> dict[str, Any]:
        path = self.root / marker
        wait_for(path.exists, 10, f"{marker} to appear")
        seen: dict[str, Any] = json.loads(path.read_text())
        wait_for(lambda: not psutil.pid_exists(seen["pid"]), 20, "the launcher to reap the program")
        return seen


@pytest.fixture
def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Desk:
    desk = Desk(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(desk.home))
    monkeypatch.setenv("XDG_DATA_DIRS", f"{desk.first}:relative/ignored:{desk.second}")
    (tmp_path / "work").mkdir()
    entry(desk.home, "marker.desktop", Name="Marker Writer", Icon="marker-icon", Path=str(tmp_path / "work"),
          Exec=desk.exec("marker.json", "--name=%c %F --desktop %k %i --percent=100%% %d"))
    entry(desk.home, "tools/nested.desktop", Name="Nested Editor", Exec=desk.exec("nested.json", "%u"))
    entry(desk.home, "text.desktop", Name="Text Editor", Exec=desk.exec("text.json"))
    entry(desk.home, "secret.desktop", Name="Secret Tool", Exec="true", Hidden="true")
    entry(desk.first, "text.desktop", Name="Old Text Editor", Exec="true")
    entry(desk.first, "viewer.desktop", Name="Text Viewer", Exec="true")
    entry(desk.first, "helper.desktop", Name="Background Helper", Exec="true", NoDisplay="true")
    entry(desk.first, "site.desktop", Name="Website", Type="Link", URL="https://example.org")
    entry(desk.first, "missing.desktop", Name="Not Installed", Exec="true", TryExec=str(tmp_path / "nothing"))
    entry(desk.first, "shell.desktop", Name="Shell Thing", Exec="true", Terminal="true")
    entry(desk.second, "secret.desktop", Name="Secret Tool", Exec="true")
    entry(desk.second, "plain.desktop", Name="Plain Appender",
          Exec=desk.exec("plain.json", r'--title "two\swords" \\\\'))
    entry(desk.second, "twin-a.desktop", Name="Twin", Exec=desk.exec("twin-a.json"))
    entry(desk.second, "twin-b.desktop", Name="Twin", Exec=desk.exec("twin-b.json"))
    (desk.second / "applications" / "broken.desktop").write_text("Name=No Section\n")
    stray = entry(desk.second, "stray.desktop", Name="Stray Lines", Exec="true")
    stray.write_text(stray.read_text() + "a line without an equals sign\n")
    return desk


VISIBLE = ["Marker Writer", "Nested Editor", "Plain Appender", "Shell Thing (in a terminal)", "Stray Lines",
           "Text Editor", "Text Viewer", "Twin", "Twin"]


def test_list_apps_follows_the_desktop_entry_rules(desk: Desk) -> None:
    assert list_apps().splitlines() == [f"{len(VISIBLE)} apps:", *VISIBLE]
    assert list_apps(name="TEXT") == "2 apps with 'TEXT' in the name:\nText Editor\nText Viewer"
    assert list_apps(limit=2).splitlines() == [f"{len(VISIBLE)} apps; the first 2:", *VISIBLE[:2]]
    assert list_apps(name="secret") == "No installed app has 'secret' in its name."


def test_launch_fills_the_field_codes(desk: Desk) -> None:
    result = launch_app("marker writer", ["a b.txt", "https://example.org/?q=%20%f"])
    seen = desk.seen("marker.json")
    assert result.startswith(f"Launched Marker Writer (pid {seen['pid']}): ")
    assert seen["argv"] == [
        "--name=Marker Writer", "a b.txt", "https://example.org/?q=%20%f",
        "--desktop", str(desk.home / "applications" / "marker.desktop"), "--icon", "marker-icon", "--percent=100%",
    ]
    assert seen["cwd"] == str(desk.root / "work")
    assert seen["sid"] == seen["pid"] and seen["stdin"] == "/dev/null"


def test_launch_without_arguments_drops_the_empty_codes(desk: Desk) -> None:
    launch_app("Marker Writer")
    assert desk.seen("marker.json")["argv"][:2] == ["--name=Marker Writer", "--desktop"]


def test_launch_by_unique_prefix_with_one_url(desk: Desk) -> None:
    launch_app("nest", ["https://example.org"])
    seen = desk.seen("nested.json")
    assert seen["argv"] == ["https://example.org"] and seen["cwd"] == str(Path.home())
    result = launch_app.call({"name": "Nested Editor", "args": ["one", "two"]})
    assert result == "Error: ValueError: Nested Editor opens one file or URL at a time, not 2"


def test_launch_appends_arguments_when_the_exec_line_takes_none(desk: Desk) -> None:
    launch_app("Plain Appender", ["--verbose"])
    assert desk.seen("plain.json")["argv"] == ["--title", "two words", "\\", "--verbose"]


def test_the_user_entry_overrides_the_system_one(desk: Desk) -> None:
    launch_app("text editor")
    assert desk.seen("text.json")["argv"] == []
    assert launch_app.call({"name": "Old Text Editor"}).startswith("Error: LookupError: no installed app")


def test_unknown_hidden_and_ambiguous_names(desk: Desk) -> None:
    for name in ("Calculator", "Secret Tool", "Background Helper", "Website", "Not Installed"):
        assert launch_app.call({"name": name}) == (
            f"Error: LookupError: no installed app is called {name!r}; list_apps shows the installed ones"
        )
    assert launch_app.call({"name": "te"}) == (
        "Error: LookupError: 'te' could be 2 apps: Text Editor [text], Text Viewer [viewer]; "
        "give a full name or an id in brackets"
    )
    assert "Twin [twin-a], Twin [twin-b]" in launch_app.call({"name": "twin"})
    launch_app("twin-b")
    assert desk.seen("twin-b.json")["argv"] == []
    assert not (desk.root / "twin-a.json").exists()


@pytest.fixture
def opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the opener named by PAGEMIND_OPENER records the address it was given."""
    script, record = tmp_path / "opener.py", tmp_path / "opened.txt"
    script.write_text("import pathlib, sys\npathlib.Path(sys.argv[1]).write_text('\\n'.join(sys.argv[2:]))\n")
    monkeypatch.setenv(OPENER_ENV, shlex.join([sys.executable, str(script), str(record)]))
    return record


def written(path: Path) -> str:
    """The text of ``path`` once a program has written it."""
    return wait_for(lambda: path.exists() and path.read_text(), 10, f"{path.name} to be written")


@pytest.mark.parametrize("url", ["https://example.org/a?b=c&d=%20#top", "HTTP://example.org", "mailto:ann@example.org"])
def test_open_url_hands_the_link_to_the_opener(opened: Path, url: str) -> None:
    assert open_url(url) == f"Opened {url} with {Path(sys.executable).name}."
    assert written(opened) == url


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("file:///etc/passwd", "refused to open file: links"),
        ("javascript:alert(1)", "refused to open javascript: links"),
        ("data:text/html,<b>hi</b>", "refused to open data: links"),
        ("ftp://example.org", "refused to open ftp: links"),
        ("example.org", "refused to open addresses without a scheme"),
        ("http:///etc/passwd", "ValueError: 'http:///etc/passwd' names no host"),
        ("https://exa mple.org", "ValueError: the URL contains spaces or control characters"),
        ("https://example.org/\nfile:///etc", "ValueError: the URL contains spaces or control characters"),
    ],
)
def test_open_url_refuses_other_schemes(opened: Path, url: str, error: str) -> None:
    assert open_url.call({"url": url}).startswith(f"Error: {error}")
    assert not opened.exists()


def test_risk_tiers() -> None:
    assert (list_apps.risk, launch_app.risk, open_url.risk) == ("read", "launch", "launch")
