"""A one-line progress bar for long work in the terminal (a plain line now and then when not a TTY)."""

from __future__ import annotations

import shutil
import sys
import time
from typing import TextIO

from app.ingest.pipeline import Progress


class ProgressBar:
    def __init__(self, stream: TextIO | None = None, every: float = 0.1, plain_every: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every = every if self.tty else plain_every
        self._last = 0.0 if self.tty else time.monotonic()
        self._shown = False

    def update(self, progress: Progress) -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        total = max(progress.total, progress.done, 1)
        rate = f"{progress.rate:.1f} files/s, {progress.chunks / max(progress.seconds, 1e-9):.1f} chunks/s"
        counts = f"{progress.done:,}/{total:,} files"
        if not self.tty:
            print(f"indexing: {counts}, {rate}", file=self.stream, flush=True)
            return
        width = shutil.get_terminal_size((100, 20)).columns
        filled = int(20 * progress.done / total)
        line = f"[{'#' * filled}{'.' * (20 - filled)}] {counts}  {rate}  {progress.current}"
        if len(line) > width - 1:
            line = line[: width - 4] + "..."
        self.stream.write("\r" + line.ljust(width - 1))
        self.stream.flush()
        self._shown = True

    def finish(self) -> None:
        if self._shown:
            self.stream.write("\r" + " " * (shutil.get_terminal_size((100, 20)).columns - 1) + "\r")
            self.stream.flush()
