"""``python main.py ask "REQUEST" [--model NAME|PATH] [--yes] [--json]``: one request, headless.

Confirmations are asked on the terminal (``--yes`` answers them "once"). When the desktop app is
running, the request is handed to it (its window asks, so ``--yes`` does not apply there). The reply goes to
stdout as it is generated and the steps to stderr; with ``--json`` every step is one JSON line on
stdout and the last line says how the turn ended.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path

from app import paths, settings
from app.cli import handoff
from app.kernel.agent import Limits, TurnResult
from app.kernel.events import Step, user_message
from app.kernel.session import Session
from app.memory.store import MemoryStore
from app.safety.confirm import TerminalConfirmer
from models.download import find_entry
from models.errors import ModelError
from models.gguf_file import fitting_context
from models.local_client import LocalChatModel


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("ask", help="serve one request headless, asking on the terminal")
    parser.add_argument("request", help="what to do, in words")
    parser.add_argument("--model", help="a catalog model name or a GGUF file (default: the one in use)")
    parser.add_argument("--yes", action="store_true", help="allow every action that asks (once each)")
    parser.add_argument("--json", action="store_true", help="print every step as a JSON line")
    parser.add_argument("--max-steps", type=int, default=Limits.max_steps, help="most steps in the turn")
    parser.set_defaults(func=run)


def chat_model_path(choice: str | None) -> Path | None:
    """The GGUF for ``--model`` (a file or a downloaded catalog model), else the one in the settings."""
    if not choice:
        chosen = settings.load().chat_model
        return Path(chosen).expanduser() if chosen else None
    path = Path(choice).expanduser()
    if path.suffix == ".gguf" or path.exists():
        return path
    entry = find_entry(choice)
    local = paths.models_dir() / entry.file
    if not local.exists():
        raise ModelError(f"{entry.name} is not downloaded yet: {paths.launcher()} models download {entry.name}")
    return local


def _preview(text: str) -> str:
    lines = text.splitlines() or [""]
    more = f" ... ({len(lines) - 3} more lines)" if len(lines) > 3 else ""
    return "<- " + "\n   ".join(lines[:3]) + more


class Printer:
    """Shows the steps of a turn: as text (reply on stdout, steps on stderr) or as JSON lines.

    The terminal confirmer asks its own questions, so "confirm" steps print nothing here.
    """

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.streamed = False
        self.held: str | None = None
        """The last tool result, shown when the next step comes (unless it is the same reply)."""

    def __call__(self, step: Step) -> None:
        if self.as_json:
            if step.kind != "delta":
                print(json.dumps(step.as_json(), ensure_ascii=False), flush=True)
            return
        if step.kind == "delta":
            if step.channel == "reply":
                self.streamed = True
                print(step.text, end="", flush=True)
            return
        held, self.held = self.held, None
        if held is not None and step.text != held:  # a quick command's reply or error is its result
            print(_preview(held), file=sys.stderr)
        if step.kind == "reply":
            print("" if self.streamed else step.text, flush=True)
        elif step.kind == "tool_result":
            self.held = step.text
        elif step.kind == "tool_call":
            print(f"-> {step.tool} {json.dumps(step.args, ensure_ascii=False)}", file=sys.stderr)
        elif step.kind in ("thought", "memory"):
            print(f"   ({step.kind}: {step.text})", file=sys.stderr)
        elif step.kind == "error":
            print(f"pagemind: {step.text}", file=sys.stderr)

    def finish(self) -> None:
        if self.held is not None and not self.as_json:
            print(_preview(self.held), file=sys.stderr)
            self.held = None


def serve(session: Session, request: str, printer: Printer) -> TurnResult:
    """Serve the request on a worker thread, so Ctrl+C cancels the turn cleanly (twice: quits)."""
    outcome: list[TurnResult | BaseException] = []

    def work() -> None:
        try:
            outcome.append(session.handle(user_message(request), printer))
        except BaseException as exc:  # handed to the main thread below
            outcome.append(exc)

    worker = threading.Thread(target=work, name="ask", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        print("\npagemind: stopping (Ctrl+C again to quit at once)", file=sys.stderr)
        session.cancel()
        worker.join()
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def hand_over(request: str, as_json: bool) -> int | None:
    """Serve the request in the running app, if one runs (its window asks the questions)."""
    printer = Printer(as_json)
    if not as_json and handoff.running():
        print("pagemind: handing the request to the running app; it asks in its window", file=sys.stderr)

    def show(line: dict[str, object]) -> None:
        if line.get("kind") in ("done", "shown"):
            return
        fields = {k: line.get(k) for k in ("kind", "text", "tool", "args", "journal_id", "channel")}
        printer(Step(**{k: v for k, v in fields.items() if v is not None}))  # type: ignore[arg-type]

    last = handoff.send({"op": "ask", "text": request, "kind": "user"}, show)
    if last is None:
        return None
    printer.finish()
    if as_json:
        print(json.dumps(last, ensure_ascii=False))
    return 0 if last.get("stop") in ("replied", "done") else 1


def run(args: argparse.Namespace) -> int:
    if args.max_steps < 1:
        print("pagemind: --max-steps must be at least 1", file=sys.stderr)
        return 2
    if not args.request.strip():
        print("pagemind: the request is empty; say what to do, e.g. ask \"list ~/Downloads\"", file=sys.stderr)
        return 2
    if args.model is None:
        try:
            handed = hand_over(args.request, args.json)
        except handoff.ForeignInstance as exc:
            print(f"pagemind: {exc}", file=sys.stderr)
            return 1
        if handed is not None:
            return handed
    chosen = settings.load()
    path = chat_model_path(args.model)
    n_ctx = fitting_context(path, chosen.context_length) if path is not None else 0  # a bad file fails here
    memory = MemoryStore.open_default()
    try:
        model = None if path is None else LocalChatModel(
            path, n_ctx=n_ctx, n_threads=chosen.threads, temperature=chosen.temperature)
        try:
            session = Session(memory, model, TerminalConfirmer(assume_yes=args.yes),
                              limits=Limits(max_steps=args.max_steps))
        except BaseException:
            if model is not None:
                model.close()
            raise
        try:
            session.resume()
            printer = Printer(args.json)
            result = serve(session, args.request, printer)
            printer.finish()
        finally:
            session.close()
    finally:
        memory.close()
    if args.json:
        print(json.dumps({"kind": "done", "stop": result.stop, "steps": result.steps,
                          "reply": result.reply, "error": result.error}, ensure_ascii=False))
    return 0 if result.stop in ("replied", "done") else 1
