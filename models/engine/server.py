"""The runner process's side of the pipe: it owns llama.cpp and answers the client's requests.

Started by models/runner_client.py in a spawned child. Protocol: the client sends ``(op,
request_id, kwargs)``; the runner answers with any number of ``("token", id, text)`` and then
``("ok", id, value)`` or ``("err", id, kind, message)``. A ``("cancel", id, {})`` message may arrive
at any time and stops that request's generation. When the app goes away, the request in flight is
cancelled and the runner exits without a word.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
from multiprocessing.connection import Connection
from typing import Any

from models import errors

log = logging.getLogger(__name__)


class _ParentGone(Exception):
    """The app at the other end of the pipe is gone (it exited or was killed): stop, quietly."""


class _Server:
    def __init__(self, conn: Connection, debug: bool) -> None:
        self.conn = conn
        self.debug = debug
        self.model: Any = None
        self.inbox: queue.Queue[tuple[str, int, dict[str, Any]] | None] = queue.Queue()
        self.current = -1
        self.cancel_flag = threading.Event()
        self.send_lock = threading.Lock()

    def send(self, message: tuple[Any, ...]) -> None:
        with self.send_lock:
            try:
                self.conn.send(message)
            except (EOFError, OSError) as exc:  # BrokenPipeError and friends: nobody is listening
                raise _ParentGone(str(exc)) from None

    def read(self) -> None:
        """Reader thread: cancellations act at once, everything else is queued in order. When the
        app goes away, the request in flight is cancelled and the runner stops after it."""
        while True:
            try:
                op, req, kwargs = self.conn.recv()
            except (EOFError, OSError):
                self.cancel_flag.set()
                self.inbox.put(None)
                return
            if op == "cancel":
                if req == self.current:
                    self.cancel_flag.set()
            else:
                self.inbox.put((op, req, kwargs))

    def run(self) -> None:
        threading.Thread(target=self.read, daemon=True, name="runner-reader").start()
        try:
            while (item := self.inbox.get()) is not None:
                op, req, kwargs = item
                self.current = req
                self.cancel_flag.clear()
                self.answer(op, req, kwargs)
                if op == "shutdown":
                    return
        except _ParentGone:
            return  # the app is gone: nothing to report to, and nothing to print

    def answer(self, op: str, req: int, kwargs: dict[str, Any]) -> None:
        try:
            value = self.handle(op, req, kwargs)
        except _ParentGone:
            raise
        except errors.ModelError as exc:
            self.send(("err", req, type(exc).__name__, str(exc)))
        except Exception as exc:  # a bug must reach the caller, not kill the runner
            log.exception("runner request %s failed", op)
            self.send(("err", req, "ModelError", f"{op} failed: {type(exc).__name__}: {exc}"))
        else:
            self.send(("ok", req, value))

    def handle(self, op: str, req: int, kwargs: dict[str, Any]) -> Any:
        if op == "ping":
            return os.getpid()
        if op == "shutdown":
            return None
        if op == "system_info":
            import llama_cpp

            info = llama_cpp.llama_print_system_info().decode("utf-8", errors="replace")
            return {"version": llama_cpp.__version__, "system_info": info.strip()}
        if op == "abort" and self.debug:
            os.abort()
        if op == "load":
            if self.model is not None:
                self.model.close()
                self.model = None
            if kwargs.pop("embedding", False):
                from models.engine.embedding import LlamaEmbedder

                self.model = LlamaEmbedder(**kwargs)
                return self.model.info
            from models.engine.runtime import Runtime

            self.model = Runtime(**kwargs)
            return self.model.info
        if self.model is None:
            raise errors.ModelNotLoaded("no model is loaded")
        if op in ("generate", "tool_call"):
            kwargs["on_token"] = lambda text: self.send(("token", req, text))
        if op in ("generate", "tool_call", "evaluate"):
            kwargs["cancelled"] = self.cancel_flag.is_set
        method = getattr(self.model, op, None)
        if op.startswith("_") or method is None:
            raise errors.ModelError(f"the runner does not know the request {op!r}")
        return method(**kwargs)


def serve(conn: Connection, debug: bool = False) -> None:
    """Entry point of the runner process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the app's to handle
    # llama.cpp's OpenMP threads spin while they wait by default; on a busy desktop that costs
    # several times the decode speed (2.7 vs 6.8 tokens/s beside one busy core, measured on 2 cores).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    _Server(conn, debug).run()
