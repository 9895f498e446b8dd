"""The built bundle, run as a user would: ``make bundle-test`` builds it and points PAGEMIND_BUNDLE here.

Each test runs the bundle's executable in a fresh home with no PAGEMIND_HOME, so the bundle
finds its folders the way an installed copy does.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from app import __version__
from models.convert import DEFAULT_EMBEDDER_FILE
from tests.x11 import app_window, needs_x11, send_request, x_server

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = os.environ.get("PAGEMIND_BUNDLE", "")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not BUNDLE, reason="needs a built bundle: `make bundle-test` builds it and runs these"),
]


@pytest.fixture
def executable() -> Path:
    path = Path(BUNDLE) / "Pagemind"
    assert path.is_file() and os.access(path, os.X_OK), f"{path} is not an executable bundle"
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's home; this process's own paths follow it too, to read what the bundle wrote."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".Xauthority").touch()
    monkeypatch.delenv("PAGEMIND_HOME")
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    return home


def user_env(home: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    env = {key: value for key, value in (base or os.environ).items()
           if key != "PAGEMIND_HOME" and not key.startswith("XDG_") and key != "QT_QPA_PLATFORM"}
    return {**env, "HOME": str(home)}


def launch(command: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, cwd=env["HOME"])


def test_the_self_test_passes_headless(executable: Path, home: Path) -> None:
    result = launch([str(executable), "--selftest"], user_env(home))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("self-test passed")
    assert "load it in a runner process" in result.stdout  # llama.cpp's library, in a spawned child
    assert "found by meaning and words" in result.stdout  # the bundled embedder works
    # The shipped embedder was put where a source install keeps it.
    assert (home / ".local" / "share" / "pagemind" / "models" / DEFAULT_EMBEDDER_FILE).is_file()


def test_the_bundle_keeps_user_files_where_a_source_install_does(executable: Path, home: Path) -> None:
    env = user_env(home)
    version = launch([str(executable), "--version"], env)
    assert version.stdout.strip() == f"pagemind {__version__}"

    bundled = launch([str(executable), "doctor"], env)
    from_source = launch([sys.executable, str(ROOT / "main.py"), "doctor"], env)
    assert bundled.returncode == 0, bundled.stdout + bundled.stderr

    def section(text: str, title: str) -> str:
        return text.split(f"\n{title}:\n", 1)[1].split("\n\n", 1)[0]

    assert section(bundled.stdout, "Paths") == section(from_source.stdout, "Paths")
    assert f"  data     {home}/.local/share/pagemind" in bundled.stdout
    assert section(bundled.stdout, "Dependencies") == section(from_source.stdout, "Dependencies")
    assert "`pagemind models download" in bundled.stdout  # commands named as the user runs them


def test_a_quick_command_runs_the_bundled_tools(executable: Path, home: Path) -> None:
    docs = home / "Documents"
    docs.mkdir()
    (docs / "holiday-plan.txt").write_text("Lisbon in May.\n")
    result = launch([str(executable), "ask", f"list {docs}", "--json"], user_env(home))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "holiday-plan.txt" in result.stdout


@pytest.fixture
def display() -> Iterator[dict[str, str]]:
    with x_server() as env:
        yield env


@needs_x11
def test_the_bundle_opens_its_window(executable: Path, home: Path, display: dict[str, str], tmp_path: Path) -> None:
    env = {**user_env(home, display), "QT_QPA_PLATFORM": "xcb"}
    check = launch([str(executable), "--startup-check"], env, timeout=120)
    assert check.returncode == 0, check.stderr
    assert re.search(r"window shown after \d+\.\d+ s", check.stdout)

    from app import settings

    conf = settings.load()
    conf.setup_done = True
    settings.save(conf)
    work = home / "work"
    work.mkdir()
    (work / "notes.txt").write_text("notes\n")
    log = (tmp_path / "bundle.log").open("w")
    app = subprocess.Popen([str(executable)], env=env, stdout=log, stderr=log, cwd=home)
    try:
        send_request(env, app_window(env), f"list {work}")

        # Handed over to the running app, and served after the typed request: it waits for both.
        asked = launch([str(executable), "ask", "show disk usage"], env, timeout=120)
        assert asked.returncode == 0 and "free" in asked.stdout, asked.stdout + asked.stderr
        second = launch([str(executable)], env, timeout=60)
        assert second.returncode == 0 and "already running" in second.stderr
        app.send_signal(signal.SIGTERM)  # a logout: quits like Ctrl+Q
        assert app.wait(timeout=60) == 0
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
        log.close()

    from app.memory.store import MemoryStore

    memory = MemoryStore.open()
    try:
        messages = memory.recall.in_context("main")
    finally:
        memory.close()
    said = [m.content for m in messages if m.role == "user"]
    assert said == [f"list {work}", "show disk usage"], (tmp_path / "bundle.log").read_text()
    assert any(m.role == "tool" and "notes.txt" in m.content for m in messages)


def test_install_script_installs_the_real_bundle(executable: Path, home: Path) -> None:
    env = user_env(home)
    installed = launch(["sh", str(Path(BUNDLE) / "install.sh")], env)
    assert installed.returncode == 0, installed.stderr
    command = home / ".local" / "bin" / "pagemind"
    assert launch([str(command), "--version"], env).stdout.strip() == f"pagemind {__version__}"
    entry = (home / ".local" / "share" / "applications" / "pagemind.desktop").read_text()
    assert f'Exec="{home}/.local/opt/pagemind/Pagemind"' in entry
    assert (home / ".local" / "share" / "icons" / "hicolor" / "256x256" / "apps" / "pagemind.png").is_file()

    removed = launch([str(home / ".local" / "opt" / "pagemind" / "install.sh"), "--uninstall"], env)
    assert removed.returncode == 0, removed.stderr
    assert not (home / ".local" / "opt" / "pagemind").exists() and not command.is_symlink()
