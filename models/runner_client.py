"""The app's side of a model runner: starts the child process that owns llama.cpp, talks to it.

llama.cpp can abort the whole process (a grammar stack error, a malformed file), so the app never
imports it: ``RunnerClient`` starts models/engine/server.py in a spawned child and exchanges small
messages with it over a pipe (the protocol is described there). When the child dies, the request in
flight fails with ``RunnerCrashed`` (one clear line, naming the signal) and a fresh runner is started
with the same model.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import signal
import threading
from multiprocessing.connection import Connection
from typing import Any, Callable

from models import errors

log = logging.getLogger(__name__)

_ERRORS = {
    cls.__name__: cls
    for cls in (
        errors.ModelError,
        errors.ModelLoadError,
        errors.ModelNotLoaded,
        errors.GenerationCancelled,
    )
}


def _serve(conn: Connection, debug: bool) -> None:
    """The child's entry point: only here is the runner side (and llama.cpp) imported."""
    from models.engine.server import serve

    serve(conn, debug)


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "stopped responding"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


class RunnerClient:
    """Talks to one runner process; restarts it (and reloads its model) when it dies."""

    def __init__(self, *, debug: bool = False, name: str = "runner") -> None:
        self.debug = debug
        self.name = name
        self._ctx = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._conn: Connection | None = None
        self._ids = itertools.count(1)
        self._call_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._current = 0
        self._load_args: dict[str, Any] | None = None
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(
            target=_serve, args=(child, self.debug), name=f"pagemind-{self.name}", daemon=True
        )
        process.start()
        child.close()
        self._process, self._conn = process, parent

    def _ensure_started(self) -> Connection:
        if self._process is None or not self._process.is_alive():
            self._start()
        assert self._conn is not None
        return self._conn

    def _crashed(self, op: str) -> errors.RunnerCrashed:
        process = self._process
        if process is not None:
            process.join(timeout=5)
        how = _describe_exit(process.exitcode if process is not None else None)
        self._process, self._conn = None, None
        self.restarts += 1
        if op == "load":  # the caller reports it as a load error; no restart for a bad file
            log.info("the model runner %s while loading a model", how)
        else:
            log.error("the model runner %s during %r; starting a new one", how, op)
        reloaded = ""
        if self._load_args is not None and op != "load":
            try:
                self._call_once("load", None, dict(self._load_args))
                reloaded = "; the model was reloaded"
            except errors.ModelError as exc:
                reloaded = f"; reloading the model failed: {exc}"
        return errors.RunnerCrashed(f"the model runner {how} during {op}{reloaded}")

    def _call_once(self, op: str, on_token: Callable[[str], None] | None, kwargs: dict[str, Any]) -> Any:
        if self._process is not None and not self._process.is_alive():
            raise self._crashed(op)  # it died between requests: the same report, the same reload
        conn = self._ensure_started()
        req = next(self._ids)
        self._current = req
        try:
            with self._send_lock:
                conn.send((op, req, kwargs))
            while True:
                while not conn.poll(0.25):
                    if not self._process.is_alive():
                        raise EOFError
                kind, rid, *rest = conn.recv()
                if rid != req:
                    continue
                if kind == "token":
                    if on_token is not None:
                        on_token(rest[0])
                elif kind == "ok":
                    return rest[0]
                else:
                    raise _ERRORS.get(rest[0], errors.ModelError)(rest[1])
        except (EOFError, OSError, BrokenPipeError):
            raise self._crashed(op) from None
        finally:
            self._current = 0

    def call(self, op: str, on_token: Callable[[str], None] | None = None, **kwargs: Any) -> Any:
        """Send one request and wait for its answer, streaming tokens to ``on_token``."""
        with self._call_lock:
            try:
                value = self._call_once(op, on_token, kwargs)
            except errors.RunnerCrashed as exc:
                if op != "load":
                    raise
                name = os.path.basename(str(kwargs.get("path", "the model")))
                if "killed by" not in str(exc):  # it exited: it never got as far as llama.cpp
                    raise errors.ModelLoadError(f"the model runner could not start ({exc}); see the log") from None
                raise errors.ModelLoadError(
                    f"llama.cpp crashed while loading {name} ({exc}); the file is malformed"
                ) from None
            if op == "load":
                self._load_args = dict(kwargs)
            return value

    def cancel(self) -> None:
        """Cancel the request in flight, if any (safe from any thread)."""
        req, conn = self._current, self._conn
        if req and conn is not None:
            try:
                with self._send_lock:
                    conn.send(("cancel", req, {}))
            except (OSError, ValueError):
                pass

    def close(self) -> None:
        process, conn = self._process, self._conn
        self._process, self._conn = None, None
        if process is None:
            return
        try:
            if conn is not None and process.is_alive():
                with self._send_lock:
                    conn.send(("shutdown", 0, {}))
            process.join(timeout=5)
        except (OSError, ValueError):
            pass
        if process.is_alive():
            process.kill()
            process.join(timeout=5)
        if conn is not None:
            conn.close()
