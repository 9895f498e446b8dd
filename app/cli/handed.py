"""Commands that need Pagemind's memory: run in this process, or by the running app that holds it.

DuckDB lets one process write the database; while the app runs, it holds it. So the commands that
read memory (``search``, ``memory show|search``, ``watch --list``, ``undo --list``) and those that
feed indexing (``index``, ``watch PATH``, ``watch --follow``) first offer themselves to the
running app (over the single-instance socket, as ``ask`` does): it parses the same command line,
runs the same code on its own memory or ingestion, and streams the printed lines back. When no
app runs, the command opens the memory here. Each such command declares, with ``set_defaults``,
``on_memory(memory, args) -> int`` (a read) or ``on_app(app, args) -> int`` (work for the app's
ingestion, where ``app`` is the kernel's Host).
"""

from __future__ import annotations

import argparse
import io
import sys
import threading
from collections.abc import Callable
from typing import Any

from app.cli import handoff

Write = Callable[[str, str], None]
"""(stream, text): "out" or "err", and what was printed there."""


def run(args: argparse.Namespace, local: Callable[[], int], argv: list[str] | None = None) -> int:
    """Hand the command to the running app (it prints here); with no app running, run ``local()``.

    ``argv``: the command line to hand over, when it differs from the one typed (paths made absolute).
    """
    argv = argv if argv is not None else getattr(args, "argv", None)
    if argv is None:
        return local()
    last = handoff.send({"op": "command", "argv": argv}, _show)
    if last is None:
        return local()
    if last.get("kind") == "error":
        print(f"pagemind: {last.get('text', 'the running app could not run it')}", file=sys.stderr)
        return 2
    return int(last.get("code", 1))


def _show(line: dict[str, Any]) -> None:
    if line.get("kind") == "output":
        stream = sys.stderr if line.get("stream") == "err" else sys.stdout
        stream.write(str(line.get("text", "")))
        stream.flush()


class _Lines(io.TextIOBase):
    """A text stream that hands each finished line to ``write`` as soon as it is printed."""

    def __init__(self, stream: str, write: Write) -> None:
        self.stream, self.out, self.pending = stream, write, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.pending += text
        if "\n" in self.pending:
            done, _, self.pending = self.pending.rpartition("\n")
            self.out(self.stream, done + "\n")
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.out(self.stream, self.pending)
            self.pending = ""


class _PerThread(io.TextIOBase):
    """``sys.stdout`` or ``sys.stderr`` that sends a serving thread's printing to its client and
    everyone else's where it always went, so several handed-over commands can run at once."""

    def __init__(self, original: Any) -> None:
        self.original = original
        self.local = threading.local()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        target = getattr(self.local, "target", None)
        return (target or self.original).write(text)

    def flush(self) -> None:
        target = getattr(self.local, "target", None)
        (target or self.original).flush()

    @classmethod
    def install(cls, name: str) -> _PerThread:
        current = getattr(sys, name)
        if not isinstance(current, cls):
            current = cls(current)
            setattr(sys, name, current)
        return current


def serve(argv: list[str], app: Any, write: Write, stopped: threading.Event) -> int:
    """Run a command handed over by ``argv`` in the running app; its printing goes to ``write``.

    ``app`` is the Host (its memory and ingestion); ``stopped`` is set when the client went away.
    Only the commands that declare ``on_memory`` or ``on_app`` are run; others are refused.
    """
    from app.cli.parser import build_parser

    out, err = _Lines("out", write), _Lines("err", write)
    streams = _PerThread.install("stdout"), _PerThread.install("stderr")
    streams[0].local.target, streams[1].local.target = out, err
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit:
            return 2
        on_memory, on_app = getattr(args, "on_memory", None), getattr(args, "on_app", None)
        if on_memory is None and on_app is None:
            print(f"pagemind: the running app does not answer `{' '.join(argv[:2])}`", file=sys.stderr)
            return 2
        args.stopped = stopped
        return on_app(app, args) if on_app is not None else on_memory(app.memory, args)
    except Exception as exc:  # noqa: BLE001 - the client gets one line, the app goes on
        print(f"pagemind: {exc}", file=sys.stderr)
        return 2
    finally:
        out.flush()
        err.flush()
        streams[0].local.target = streams[1].local.target = None
