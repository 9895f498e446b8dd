"""Talking to a running Pagemind (the client of app/gui/single_instance.py), without Qt.

``send`` returns None when no app is listening, so the caller can do the work itself.
"""

from __future__ import annotations

import json
import socket
import sys
from typing import Any, Callable

from app import paths

CONNECT_SECONDS = 2.0


def _connect() -> socket.socket | None:
    if sys.platform == "win32":  # a named pipe: only the app's own Qt client reaches it
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(CONNECT_SECONDS)
    try:
        sock.connect(paths.instance_address())
    except OSError:  # no socket, or one left by an instance that is gone
        sock.close()
        return None
    sock.settimeout(None)
    return sock


def running() -> bool:
    sock = _connect()
    if sock is None:
        return False
    sock.close()
    return True


def send(request: dict[str, Any], on_line: Callable[[dict[str, Any]], None] = lambda line: None) -> dict[str, Any] | None:
    """Send one request to the running app; each reply line goes to ``on_line``; returns the last
    line (None when no app is running)."""
    sock = _connect()
    if sock is None:
        return None
    last: dict[str, Any] = {"kind": "error", "text": "the running app closed the connection"}
    with sock, sock.makefile("rwb") as stream:
        stream.write((json.dumps(request, ensure_ascii=False) + "\n").encode())
        stream.flush()
        for raw in stream:
            line = json.loads(raw)
            on_line(line)
            last = line
    return last
