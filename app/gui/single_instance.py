"""One running Pagemind per data folder (DESIGN.md decision 9): the first launch listens on a
QLocalServer; a second launch, or ``python main.py ask``, hands its request over and exits.

The protocol is JSON lines (app/cli/handoff.py is the client): the client sends one request,
``{"op": "show"}``, ``{"op": "ask", "text": ..., "kind": "user"|"quick"}`` or
``{"op": "command", "argv": [...]}``; for "ask" the server answers with each step of the turn as
a line, then ``{"kind": "done", ...}``; for "command" (a command line that needs the memory this
app holds, app/cli/handed.py) with ``{"kind": "output", "stream": "out"|"err", "text": ...}``
lines, then ``{"kind": "done", "code": N}``.

Only this user's processes are served: the socket lives in a folder only they can enter
(paths.instance_address), Qt makes the socket itself theirs (UserAccessOption), and each
connection's peer uid is checked before a byte of it is read, in case either is ever loosened.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from app import paths
from app.cli import handoff
from app.gui.bridge import Bridge
from app.kernel.events import StepKind

log = logging.getLogger(__name__)
MAX_REQUEST_BYTES = 64 * 1024


def _line(value: dict[str, Any]) -> bytes:
    return (json.dumps(value, ensure_ascii=False) + "\n").encode()


def _stranger(socket: QLocalSocket) -> str | None:
    """Who is connected, when it is not this user ("uid 65534"), else None.

    On Windows the pipe's access list (UserAccessOption) is the check; where the platform cannot
    report a Unix socket's peer, the private folder is."""
    if sys.platform == "win32":
        return None
    try:
        uid = handoff.fd_peer_uid(int(socket.socketDescriptor()))
    except OSError as exc:
        return f"a peer whose uid cannot be read ({exc.strerror or exc})"
    return None if uid is None or uid == os.getuid() else f"uid {uid}"


class InstanceServer(QObject):
    show_requested = Signal()

    def __init__(self, bridge: Bridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.server.newConnection.connect(self._accept)
        self.address = ""

    def listen(self) -> bool:
        """Listen; a socket left by a crashed instance is removed first (the caller checked none runs).

        The address is asked for here, not at construction, so its private folder is (re)made
        right before the socket goes into it."""
        try:
            self.address = paths.instance_address()
        except OSError as exc:
            log.warning("cannot listen for other launches: %s", exc)
            return False
        QLocalServer.removeServer(self.address)
        if not self.server.listen(self.address):
            log.warning("cannot listen at %s: %s", self.address, self.server.errorString())
            return False
        return True

    def close(self) -> None:
        self.server.close()

    def _accept(self) -> None:
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            stranger = _stranger(socket)
            if stranger is not None:
                log.warning("dropped a connection from %s at %s: only this user's processes are served", stranger, self.address)
                socket.abort()
                socket.deleteLater()
                continue
            socket.setParent(self)
            buffer = bytearray()
            socket.readyRead.connect(lambda s=socket, b=buffer: self._read(s, b))
            socket.disconnected.connect(socket.deleteLater)

    def _read(self, socket: QLocalSocket, buffer: bytearray) -> None:
        buffer += bytes(socket.readAll().data())
        if b"\n" not in buffer:
            if len(buffer) > MAX_REQUEST_BYTES:
                self._reply(socket, {"kind": "error", "text": "the request is too long"}, close=True)
            return
        line = bytes(buffer[: buffer.index(b"\n")])
        buffer.clear()
        try:
            request = json.loads(line)
            op = request["op"]
        except (ValueError, KeyError, TypeError):
            self._reply(socket, {"kind": "error", "text": "a request is one JSON object with an op"}, close=True)
            return
        if op == "show":
            self.show_requested.emit()
            self._reply(socket, {"kind": "shown"}, close=True)
        elif op == "ask":
            self._ask(socket, str(request.get("text", "")), str(request.get("kind", "user")))
        elif op == "command" and isinstance(request.get("argv"), list) and all(
                isinstance(word, str) for word in request["argv"]):
            self._command(socket, request["argv"])
        else:
            self._reply(socket, {"kind": "error", "text": f"unknown op {op!r}"}, close=True)

    def _ask(self, socket: QLocalSocket, text: str, kind: str) -> None:
        def step(value: Any) -> None:
            if value.kind != StepKind.DELTA or value.channel == "reply":
                self._reply(socket, value.as_json())

        def asked(request: Any) -> None:  # the window asks; the client hears that it waits
            self._reply(socket, {"kind": "confirm", "text": request.reason, "tool": request.tool})

        def done(result: Any) -> None:
            self.bridge.confirm_requested.disconnect(asked)
            self._reply(socket, {"kind": "done", "stop": result.stop, "steps": result.steps, "reply": result.reply,
                                 "error": result.error, "answer": result.answer}, close=True)

        if kind not in ("user", "quick"):
            self._reply(socket, {"kind": "error", "text": f"a request is user or quick, not {kind!r}"}, close=True)
            return
        try:
            self.bridge.send(text, "quick" if kind == "quick" else "user", step, done)
        except ValueError as exc:
            self._reply(socket, {"kind": "error", "text": str(exc)}, close=True)
            return
        self.bridge.confirm_requested.connect(asked)

    def _command(self, socket: QLocalSocket, argv: list[str]) -> None:
        """A command of the command line that needs the memory this app holds (app/cli/handed.py)."""
        stopped = self.bridge.run_command(
            argv, lambda stream, text: self._reply(socket, {"kind": "output", "stream": stream, "text": text}),
            lambda code: self._reply(socket, {"kind": "done", "code": code}, close=True))
        socket.disconnected.connect(stopped.set)

    @staticmethod
    def _reply(socket: QLocalSocket, value: dict[str, Any], close: bool = False) -> None:
        if socket.state() != QLocalSocket.LocalSocketState.ConnectedState:
            return
        socket.write(_line(value))
        socket.flush()
        if close:
            socket.disconnectFromServer()
