"""The process tools against real child processes: listing, describing, ending, and refusing to end
Pagemind itself, what started it, PID 1, and more processes than a name may match."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from tools.processes import MOST_BY_NAME, kill_process, list_processes, process_info

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="names children through symlinks")

SLEEP = "import time; time.sleep(60)"
BUSY = "import time\nend = time.monotonic() + 60\nwhile time.monotonic() < end: pass"
STUBBORN = (
    "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "open(sys.argv[1], 'w').close(); time.sleep(60)"
)

Spawn = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start Python children under a chosen process name; every one is killed and reaped at the end."""
    children: list[subprocess.Popen[bytes]] = []

    def start(code: str, name: str, *args: str) -> subprocess.Popen[bytes]:
        program = tmp_path / name
        if not program.exists():
            program.symlink_to(sys.executable)
        child = subprocess.Popen([str(program), "-c", code, *args], stdin=subprocess.DEVNULL)
        children.append(child)
        return child

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)


def unique_name() -> str:
    return "pm" + secrets.token_hex(4)


def ready(marker: Path) -> None:
    deadline = time.monotonic() + 10
    while not marker.exists():
        assert time.monotonic() < deadline, "the child never got ready"
        time.sleep(0.02)


def exited(child: subprocess.Popen[bytes]) -> int:
    return child.wait(timeout=10)


def test_list_processes_filters_by_name_and_sorts(spawn: Spawn) -> None:
    name = unique_name()
    sleeper, busy = spawn(SLEEP, name), spawn(BUSY, name)
    time.sleep(0.2)
    by_cpu = list_processes(name=name[2:].upper())
    assert by_cpu.startswith(f"2 processes with {name[2:].upper()!r} in the name; the top 2 by CPU")
    rows = by_cpu.splitlines()[2:]
    assert [int(row.split()[0]) for row in rows] == [busy.pid, sleeper.pid]
    assert all(row.endswith(name) for row in rows)
    assert float(rows[0].split()[1]) > 20 > float(rows[1].split()[1])
    by_memory = list_processes(sort="memory", limit=1)
    assert "the top 1 by memory" in by_memory and len(by_memory.splitlines()) == 3
    assert list_processes(name=unique_name()).startswith("No running process has")


def test_list_processes_through_the_registry_rejects_bad_arguments() -> None:
    assert list_processes.untrusted_output and list_processes.risk == "read"
    assert list_processes.call({"sort": "name"}).startswith("Error: invalid arguments for list_processes")
    assert list_processes.call({"limit": 0}).startswith("Error: invalid arguments")


def test_process_info_describes_a_child(spawn: Spawn) -> None:
    name = unique_name()
    child = spawn(SLEEP, name)
    info = process_info(child.pid)
    lines = info.splitlines()
    assert lines[0].startswith(f"pid {child.pid}: {name} (")
    assert f"-c {SLEEP}" in info
    assert f"parent: pid {os.getpid()} " in info
    assert f"user: {psutil.Process().username()}" in info
    assert "children: 0" in info and "MB resident" in info and "ago)" in info


def test_process_info_of_a_missing_process() -> None:
    result = process_info.call({"pid": 4_000_000})
    assert result == "Error: ProcessLookupError: no process has pid 4000000"


def test_kill_by_pid_terminates(spawn: Spawn) -> None:
    child = spawn(SLEEP, unique_name())
    assert kill_process(pid=child.pid) == f"pid {child.pid} ({Path(child.args[0]).name}): ended after SIGTERM."
    assert exited(child) == -signal.SIGTERM


def test_a_process_ignoring_sigterm_survives_without_force_and_dies_with_it(spawn: Spawn, tmp_path: Path) -> None:
    marker = tmp_path / "ignoring"
    child = spawn(STUBBORN, unique_name(), str(marker))
    ready(marker)
    first = kill_process(pid=child.pid, timeout_s=0.5)
    assert "still running 0.5 s after SIGTERM" in first and "force=true" in first
    assert child.poll() is None
    second = kill_process(pid=child.pid, timeout_s=0.5, force=True)
    assert second.endswith("ignored SIGTERM for 0.5 s, so it was killed (SIGKILL).")
    assert exited(child) == -signal.SIGKILL


def test_kill_by_name_matches_the_exact_name_in_any_case(spawn: Spawn) -> None:
    name = unique_name()
    pair = [spawn(SLEEP, name), spawn(SLEEP, name)]
    other = spawn(SLEEP, name + "x")
    with pytest.raises(ProcessLookupError, match="no running process is named"):
        kill_process(name=name[:-1])
    result = kill_process(name=name.upper())
    assert result.splitlines()[0] == f"2 processes named {name.upper()!r}:"
    assert all(f"pid {child.pid} ({name}): ended after SIGTERM." in result for child in pair)
    assert [exited(child) for child in pair] == [-signal.SIGTERM] * 2
    assert other.poll() is None


def test_kill_by_name_refuses_too_many_matches(spawn: Spawn) -> None:
    name = unique_name()
    children = [spawn(SLEEP, name) for _ in range(MOST_BY_NAME + 1)]
    result = kill_process.call({"name": name})
    assert result.startswith(f"Error: PermissionError: refused: {MOST_BY_NAME + 1} processes are named {name!r}")
    assert all(str(child.pid) in result for child in children)
    assert all(child.poll() is None for child in children)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"pid": os.getpid()}, f"refused to end pid {os.getpid()}: it is Pagemind itself"),
        ({"pid": os.getppid()}, f"refused to end pid {os.getppid()}: it is an ancestor of Pagemind's process"),
        ({"pid": 1}, "refused to end pid 1: PID 1 is the init process"),
        ({"pid": 0}, "refused to end pid 0: PID 0 is the kernel's idle task"),
    ],
)
def test_kill_refuses_pagemind_its_ancestors_and_the_system(args: dict[str, int], expected: str) -> None:
    assert kill_process.call(args).startswith(f"Error: {expected}")
    assert psutil.pid_exists(os.getpid()) and psutil.pid_exists(os.getppid())


def test_kill_refuses_every_ancestor_and_its_own_name() -> None:
    for ancestor in psutil.Process().parents():
        refusal = kill_process.call({"pid": ancestor.pid})
        assert refusal.startswith(f"Error: refused to end pid {ancestor.pid}")
    own = psutil.Process().name()
    result = kill_process.call({"name": own})
    assert result.startswith("Error: refused"), result


def test_kill_argument_errors() -> None:
    assert kill_process.call({}) == "Error: ValueError: give exactly one of pid and name"
    assert kill_process.call({"pid": 5, "name": "x"}) == "Error: ValueError: give exactly one of pid and name"
    assert kill_process.call({"pid": 4_000_000}) == "Error: ProcessLookupError: no process has pid 4000000"
    assert kill_process.call({"pid": 5, "timeout_s": 31}).startswith("Error: invalid arguments")
    assert kill_process.risk == "destructive" and "Cannot be undone" in kill_process.description
