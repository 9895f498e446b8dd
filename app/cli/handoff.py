"""Talking to a running Pagemind (the client of app/gui/single_instance.py), without Qt.

``send`` returns None when no app is listening, so the caller can do the work itself. Before a
byte is sent, the process listening must be this user's: the socket's folder is private
(paths.instance_address), and the peer's credentials are checked as well; a socket held by
anyone else raises ForeignInstance, so a private request never reaches them.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
from typing import Any, Callable

from app import paths

CONNECT_SECONDS = 2.0
_UCRED = struct.Struct("=iII")
"""Linux's struct ucred: pid, uid, gid."""
_SOL_LOCAL, _LOCAL_PEERCRED = 0, 1
"""macOS's getsockopt level and option for a Unix socket's peer (SOL_LOCAL, LOCAL_PEERCRED in sys/un.h)."""
_XUCRED = struct.Struct("=IIh2x16I")
"""macOS's struct xucred: version, uid, number of groups, the groups."""


class ForeignInstance(RuntimeError):
    """The instance socket is held by another user's process: nothing was sent to it."""


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a connected Unix socket, as the kernel reports
    it (the peer cannot lie about it); None where the platform offers no way to ask, and then the
    0700 folder holding the socket is the protection. Raises OSError when the kernel refuses."""
    if sys.platform.startswith("linux"):
        _pid, uid, _gid = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
        return uid
    if sys.platform == "darwin":
        _version, uid, *_groups = _XUCRED.unpack(sock.getsockopt(_SOL_LOCAL, _LOCAL_PEERCRED, _XUCRED.size))
        return uid
    return None


def fd_peer_uid(fd: int) -> int | None:
    """``peer_uid`` of a socket known only by its descriptor (the Qt server's); the descriptor is
    duplicated and the duplicate closed, so the caller's socket stays as it was."""
    with socket.fromfd(fd, socket.AF_UNIX, socket.SOCK_STREAM) as dup:
        return peer_uid(dup)


def _check_peer(sock: socket.socket, address: str) -> None:
    """Close ``sock`` and raise ForeignInstance unless this user's process listens at ``address``."""
    try:
        uid = peer_uid(sock)
    except OSError as exc:
        sock.close()
        raise ForeignInstance(f"cannot tell who listens at {address} ({exc.strerror or exc}); nothing was sent") from None
    if uid is not None and uid != os.getuid():
        sock.close()
        raise ForeignInstance(f"{address} is held by another user (uid {uid}), not a Pagemind of yours; nothing was sent")


def _connect() -> socket.socket | None:
    if sys.platform == "win32":  # a named pipe: only the app's own Qt client reaches it
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(CONNECT_SECONDS)
    try:
        address = paths.instance_address()
        sock.connect(address)
    except OSError:  # no private folder, no socket, or one left by an instance that is gone
        sock.close()
        return None
    _check_peer(sock, address)
    sock.settimeout(None)
    return sock


def running() -> bool:
    """Whether this user's app listens; raises ForeignInstance when someone else's process does."""
    sock = _connect()
    if sock is None:
        return False
    sock.close()
    return True


def send(request: dict[str, Any], on_line: Callable[[dict[str, Any]], None] = lambda line: None) -> dict[str, Any] | None:
    """Send one request to the running app; each reply line goes to ``on_line``; returns the last
    line (None when no app is running). Raises ForeignInstance, having sent nothing, when the
    socket is held by another user's process."""
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
