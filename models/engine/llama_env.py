"""llama.cpp's process-wide set-up inside the runner: its log, captured, and the thread count.

llama.cpp reports why a file failed to load only in its log, so the log is kept in a ring buffer
and the telling line becomes part of the error message.
"""

from __future__ import annotations

import collections
import ctypes
import os

import llama_cpp

_lines: collections.deque[str] = collections.deque(maxlen=64)


@llama_cpp.llama_log_callback
def _on_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    _lines.append(text.decode("utf-8", errors="replace"))


llama_cpp.llama_log_set(_on_log, ctypes.c_void_p(0))


def clear_log() -> None:
    _lines.clear()


def last_error() -> str:
    """The most telling line llama.cpp logged since ``clear_log``, for a load error message."""
    lines = [line.strip() for line in "".join(_lines).splitlines() if line.strip()]
    for words in (("error loading model:",), ("error", "failed")):
        for line in lines:
            if any(word in line.lower() for word in words):
                return line.split("error loading model:")[-1].strip()
    return lines[-1] if lines else ""


def default_threads() -> int:
    """All cores on a small machine; half of them (the physical ones, usually) on a larger one."""
    count = os.cpu_count() or 2
    return max(1, count // 2) if count > 4 else count
