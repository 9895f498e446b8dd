"""Process tools: see what runs, look one process up, end one (never Pagemind or what started it).

Process names and command lines are chosen by the programs themselves, so every result that shows
them is untrusted text for the safety policy.
"""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal, TypeVar

import psutil

from tools.judged import Refused, Subject
from tools.registry import MaxLen, Range, ToolContext, tool

SAMPLE_S = 0.3
"""How long CPU use is measured over: psutil compares two readings of each process's CPU time."""
MOST_BY_NAME = 5
"""Most processes one ``kill_process`` by name may end; past that the model must choose pids."""
KILL_WAIT_S = 3.0
"""How long a process may take to vanish after SIGKILL."""
COMMAND_CHARS = 300

Pid = Annotated[int, Range(0, None)]
T = TypeVar("T")


@dataclass(frozen=True)
class Sample:
    """One process as measured by :func:`sample_processes`."""

    pid: int
    name: str
    user: str
    cpu: float
    """Percent of one core over the sampling interval."""
    rss: int
    """Resident memory, in bytes."""

    def line(self) -> str:
        return f"{self.pid:>7} {self.cpu:6.1f} {self.rss / 2**20:9.1f}  {self.user[:12]:<12} {self.name}"


TABLE_HEADER = f"{'PID':>7} {'CPU%':>6} {'MEM MB':>9}  {'USER':<12} NAME"


def sample_processes() -> list[Sample]:
    """Every visible process with its CPU use over :data:`SAMPLE_S` seconds and its resident memory."""
    watched = []
    for process in psutil.process_iter(["name", "username"]):
        try:
            process.cpu_percent(None)
        except psutil.Error:
            continue
        watched.append(process)
    time.sleep(SAMPLE_S)
    samples = []
    for process in watched:
        try:
            with process.oneshot():
                cpu, rss = process.cpu_percent(None), process.memory_info().rss
        except psutil.Error:
            continue
        samples.append(Sample(process.pid, process.info["name"] or "?", process.info["username"] or "?", cpu, rss))
    return samples


def top_processes(samples: list[Sample], sort: Literal["cpu", "memory"], limit: int) -> list[Sample]:
    """The ``limit`` processes using the most CPU or memory."""
    key: Callable[[Sample], tuple[float, float]] = (
        (lambda s: (s.cpu, s.rss)) if sort == "cpu" else (lambda s: (s.rss, s.cpu))
    )
    return sorted(samples, key=key, reverse=True)[:limit]


@tool(risk="read", untrusted_output=True)
def list_processes(
    sort: Literal["cpu", "memory"] = "cpu",
    name: Annotated[str, MaxLen(100)] | None = None,
    limit: Annotated[int, Range(1, 200)] = 15,
) -> str:
    """List running processes, busiest first, with pid, CPU, memory, user and name.

    Args:
        sort: "cpu" for the most CPU first, "memory" for the most resident memory first.
        name: only processes whose name contains this text (any case).
        limit: most processes to list.
    """
    samples = sample_processes()
    if name:
        samples = [s for s in samples if name.casefold() in s.name.casefold()]
        if not samples:
            return f"No running process has {name!r} in its name."
    shown = top_processes(samples, sort, limit)
    what = f" with {name!r} in the name" if name else ""
    head = (
        f"{len(samples)} processes{what}; the top {len(shown)} by {'CPU' if sort == 'cpu' else 'memory'} "
        f"(CPU measured over {SAMPLE_S} s, in % of one core):"
    )
    return "\n".join([head, TABLE_HEADER, *(s.line() for s in shown)])


def _process(pid: int) -> psutil.Process:
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        raise ProcessLookupError(f"no process has pid {pid}") from None


def _or_unknown(read: Callable[[], T]) -> T | str:
    try:
        return read()
    except (psutil.AccessDenied, psutil.ZombieProcess):
        return "unknown (access denied)"


def duration(seconds: float) -> str:
    """``seconds`` as days, hours and minutes, e.g. "2 d 3 h 5 min"."""
    minutes = int(seconds) // 60
    parts = [(minutes // 1440, "d"), (minutes // 60 % 24, "h"), (minutes % 60, "min")]
    return " ".join(f"{n} {unit}" for n, unit in parts if n) or "under a minute"


def _started(process: psutil.Process) -> str:
    created = process.create_time()
    return f"{datetime.datetime.fromtimestamp(created):%Y-%m-%d %H:%M:%S} ({duration(time.time() - created)} ago)"


def _command(process: psutil.Process) -> str:
    text = " ".join(" ".join(process.cmdline()).split()) or "(none)"
    return text if len(text) <= COMMAND_CHARS else text[:COMMAND_CHARS] + f"... [{len(text) - COMMAND_CHARS} more]"


def _usage(process: psutil.Process) -> str:
    cpu = process.cpu_percent(SAMPLE_S)
    rss, share = process.memory_info().rss, process.memory_percent()
    return f"{cpu:.1f}% of one core over {SAMPLE_S} s; memory: {rss / 2**20:.1f} MB resident ({share:.1f}% of RAM)"


def _parent(process: psutil.Process) -> str:
    parent = process.parent()
    return f"pid {parent.pid} ({_name(parent)})" if parent else "none"


@tool(risk="read", untrusted_output=True)
def process_info(pid: Pid) -> str:
    """Describe one process: name, program, command line, status, user, start time, CPU, memory, children.

    Args:
        pid: the process id, as list_processes shows it.
    """
    process = _process(pid)
    try:
        usage = _or_unknown(lambda: _usage(process))
        with process.oneshot():
            lines = [
                f"pid {pid}: {_name(process)} ({process.status()})",
                f"program: {_or_unknown(process.exe) or 'unknown'}",
                f"command: {_or_unknown(lambda: _command(process))}",
                f"user: {_or_unknown(process.username)}",
                f"started: {_or_unknown(lambda: _started(process))}",
                f"parent: {_parent(process)}",
                f"cpu: {usage}",
                f"threads: {_or_unknown(process.num_threads)}; children: {len(process.children())}",
            ]
    except psutil.NoSuchProcess:
        raise ProcessLookupError(f"process {pid} exited while being read") from None
    return "\n".join(lines)


def _protected() -> dict[int, str]:
    """The pids no tool may end, each with the reason."""
    me = psutil.Process()
    reasons = {
        0: "PID 0 is the kernel's idle task, not a program",
        1: "PID 1 is the init process; ending it would take the whole system down",
        me.pid: "it is Pagemind itself",
    }
    for pid in [os.getppid(), *(p.pid for p in me.parents())]:
        reasons.setdefault(pid, "it is an ancestor of Pagemind's process; ending it would end Pagemind too")
    return reasons


def _name(process: psutil.Process) -> str:
    try:
        return process.name()
    except psutil.Error:
        return "?"


def _named(name: str) -> list[psutil.Process]:
    wanted = name.strip().casefold()
    if not wanted:
        raise ValueError("name is empty")
    found = [p for p in psutil.process_iter(["name"]) if (p.info["name"] or "").casefold() == wanted]
    if not found:
        raise ProcessLookupError(f"no running process is named {name!r}")
    if len(found) > MOST_BY_NAME:
        pids = ", ".join(str(p.pid) for p in found[:20]) + (", ..." if len(found) > 20 else "")
        raise PermissionError(
            f"refused: {len(found)} processes are named {name!r} (pids {pids}); "
            f"name matches may end {MOST_BY_NAME} at most, end the right ones by pid"
        )
    return found


def _gone(process: psutil.Process) -> bool:
    """Whether ``process`` has exited (a zombie has: only its parent's bookkeeping is left)."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.AccessDenied:
        return False


def _wait(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Those of ``processes`` still running after at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in processes if not _gone(p)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def _end(targets: list[psutil.Process], force: bool, timeout_s: float) -> list[str]:
    """Terminate ``targets``, wait, kill what remains when ``force``; one report line per process."""
    labels = {p.pid: f"pid {p.pid} ({_name(p)})" for p in targets}
    outcome: dict[int, str] = {}
    signalled = []
    for process in targets:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            outcome[process.pid] = "had already exited"
        except psutil.AccessDenied:
            outcome[process.pid] = "not allowed to signal it (another user's process); it was left running"
        else:
            signalled.append(process)
            outcome[process.pid] = "ended after SIGTERM"
    if not signalled and any(text.startswith("not allowed") for text in outcome.values()):
        raise PermissionError("; ".join(f"{labels[pid]}: {text}" for pid, text in outcome.items()))
    alive = _wait(signalled, timeout_s)
    for process in alive:
        outcome[process.pid] = f"still running {timeout_s:g} s after SIGTERM; call again with force=true to kill it"
    if force and alive:
        for process in alive:
            try:
                process.kill()
            except psutil.Error:
                pass
        stuck = {p.pid for p in _wait(alive, KILL_WAIT_S)}
        for process in alive:
            outcome[process.pid] = (
                f"ignored SIGTERM for {timeout_s:g} s and is still running even after SIGKILL"
                if process.pid in stuck
                else f"ignored SIGTERM for {timeout_s:g} s, so it was killed (SIGKILL)"
            )
    return [f"{labels[p.pid]}: {outcome[p.pid]}." for p in targets]


def _judge_kill(args: dict) -> Subject:
    """The processes a kill would end, each with its start time (which must not change before the
    signal); the processes no tool may end are refused before anyone is asked."""
    pid, name = args.get("pid"), args.get("name")
    if (pid is None) == (name is None):
        raise ValueError("give exactly one of pid and name")
    protected = _protected()
    if pid in protected:
        raise Refused(f"refused to end pid {pid}: {protected[pid]}")
    targets = [_process(pid)] if pid is not None else _named(name or "")
    found = []
    for process in targets:
        if process.pid in protected:
            raise Refused(f"refused to end pid {process.pid} ({_name(process)}): {protected[process.pid]}")
        try:
            found.append((process.pid, process.create_time(), _name(process), _or_unknown(lambda: _command(process))))
        except psutil.NoSuchProcess:
            raise ProcessLookupError(f"process {process.pid} exited while being looked at") from None
    shown = "; ".join(
        f"pid {pid_} ({name_}), started {datetime.datetime.fromtimestamp(created):%Y-%m-%d %H:%M:%S}, "
        f"command: {command}" for pid_, created, name_, command in found
    )
    key = ",".join(f"{pid_}@{created!r}" for pid_, created, _, _ in found)
    return Subject(key, shown, data=[(pid_, created) for pid_, created, _, _ in found])


def _same_processes(judged: list[tuple[int, float]]) -> tuple[list[psutil.Process], list[str]]:
    """The judged processes that still run as the same programs, and a line for each that does not."""
    alive, lines = [], []
    for pid, created in judged:
        try:
            process = psutil.Process(pid)
            same = process.create_time() == created
        except psutil.NoSuchProcess:
            lines.append(f"pid {pid}: had already exited.")
            continue
        if same:
            alive.append(process)
        else:
            lines.append(f"pid {pid}: is now a different process (the one asked about exited); it was not signalled.")
    return alive, lines


@tool(risk="destructive", untrusted_output=True, subject=_judge_kill)
def kill_process(
    pid: Pid | None = None,
    name: Annotated[str, MaxLen(100)] | None = None,
    force: bool = False,
    timeout_s: Annotated[float, Range(0, 30)] = 5.0,
    context: ToolContext = ToolContext(),
) -> str:
    """End a process: ask it to terminate (SIGTERM), wait, and kill it (SIGKILL) only when force is true.

    Cannot be undone: an ended process loses its unsaved work. Refuses Pagemind itself, the
    processes that started it, PID 1 and PID 0.

    Args:
        pid: the process to end; give pid or name, not both.
        name: end the processes with exactly this name (any case); refused when more than 5 match.
        force: kill (SIGKILL) whatever still runs after timeout_s; without it, it is left running.
        timeout_s: seconds to wait for the process to exit after SIGTERM.
    """
    judged = context.judgement.subject if context.judgement else None
    if judged is None:
        judged = _judge_kill({"pid": pid, "name": name})
    targets, lines = _same_processes(judged.data)
    lines = _end(targets, force, timeout_s) + lines if targets else lines
    if name is None:
        return lines[0]
    count = len(judged.data)
    return "\n".join([f"{count} process{'es' if count > 1 else ''} named {name!r}:", *lines])
