"""``python main.py ask "REQUEST" [--model NAME|PATH|replay:FILE] [--record FILE] [--yes] [--json]``.

One request, headless. Confirmations are asked on the terminal (``--yes`` answers them "once").
When the desktop app is running, the request is handed to it (its window asks, so ``--yes`` does
not apply there). The reply goes to stdout as it is generated and the steps to stderr; with
``--json`` every step is one JSON line on stdout and the last line says how the turn ended.
``--record FILE`` keeps the model's tool calls; ``--model replay:FILE`` plays them back as the
model (app/kernel/recording.py), through the real gate, tools, journal and memory.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import cast

from app import paths, settings
from app.cli import handoff
from app.kernel.agent import Limits, Stop, TurnResult
from app.kernel.assembly import Kernel, assemble, open_memory
from app.kernel.events import Step, StepKind, user_message
from app.kernel.recording import REPLAY_PREFIX, RecordingModel, replay_model
from app.safety.confirm import TerminalConfirmer
from models.download import find_entry
from models.errors import ModelError
from models.gguf_file import fitting_context
from models.interface import ChatModel
from models.local_client import LocalChatModel


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("ask", help="serve one request headless, asking on the terminal")
    parser.add_argument("request", help="what to do, in words")
    parser.add_argument("--model", help="a catalog model name, a GGUF file, or replay:FILE (a recording) "
                                        "(default: the model in use)")
    parser.add_argument("--record", metavar="FILE", type=Path,
                        help="write the model's tool calls to FILE as JSON (replay it with --model replay:FILE)")
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

    The terminal confirmer asks its own questions. A turn that ends with a call, not a reply (a
    quick command), answers with that call's result: ``finish`` prints it on stdout. A result is
    held until the next step shows that it was not the answer, so it is printed once.
    """

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.streamed = False
        self.held: str | None = None

    def __call__(self, step: Step) -> None:
        if self.as_json:
            if step.kind != StepKind.DELTA:
                print(json.dumps(step.as_json(), ensure_ascii=False), flush=True)
            return
        if step.kind != StepKind.DELTA and self.held is not None:
            print(_preview(self.held), file=sys.stderr)
            self.held = None
        match step.kind:
            case StepKind.DELTA:
                if step.channel == "reply":
                    self.streamed = True
                    print(step.text, end="", flush=True)
            case StepKind.REPLY:
                print("" if self.streamed else step.text, flush=True)
            case StepKind.TOOL_CALL:
                print(f"-> {step.tool} {json.dumps(step.args, ensure_ascii=False)}", file=sys.stderr)
            case StepKind.TOOL_RESULT:
                self.held = step.text
            case StepKind.THOUGHT | StepKind.MEMORY:
                print(f"   ({step.kind.value}: {step.text})", file=sys.stderr)
            case StepKind.ERROR:
                print(f"pagemind: {step.text}", file=sys.stderr)

    def finish(self, result: TurnResult) -> None:
        held, self.held = self.held, None
        if self.as_json:
            print(json.dumps({"kind": "done", "stop": result.stop, "steps": result.steps, "reply": result.reply,
                              "error": result.error, "answer": result.answer}, ensure_ascii=False))
        elif result.reply is None and held is not None and held == result.answer:
            print(held, file=sys.stdout if result.stop == "done" else sys.stderr, flush=True)
        elif held is not None:
            print(_preview(held), file=sys.stderr)


def serve(kernel: Kernel, request: str, printer: Printer) -> TurnResult:
    """Serve the request on a worker thread, so Ctrl+C cancels the turn cleanly (twice: quits)."""
    outcome: list[TurnResult | BaseException] = []

    def work() -> None:
        try:
            outcome.append(kernel.agent.run(user_message(request), printer))
        except BaseException as exc:  # handed to the main thread below
            outcome.append(exc)

    worker = threading.Thread(target=work, name="ask", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        print("\npagemind: stopping (Ctrl+C again to quit at once)", file=sys.stderr)
        kernel.agent.cancel()
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
        if line.get("kind") == "confirm":
            if not as_json:
                print(f"pagemind: waiting for your answer in Pagemind's window ({line.get('text', '')})",
                      file=sys.stderr)
            return
        if line.get("kind") in ("done", "shown", "error"):
            return
        printer(Step.from_json(line))

    last = handoff.send({"op": "ask", "text": request, "kind": "user"}, show)
    if last is None:
        return None
    if last.get("kind") == "error":
        print(f"pagemind: {last.get('text')}", file=sys.stderr)
        return 1
    result = TurnResult(cast(Stop, last.get("stop")), int(str(last.get("steps") or 0)), _text(last.get("reply")),
                        _text(last.get("error")), _text(last.get("answer")))
    printer.finish(result)
    return 0 if result.stop in ("replied", "done") else 1


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def chat_model(choice: str | None, record: Path | None) -> ChatModel | None:
    """The model for ``--model`` (a recording to replay, a file, a catalog name; else the one in use)."""
    chosen = settings.load()
    if choice and choice.startswith(REPLAY_PREFIX):
        model: ChatModel | None = replay_model(Path(choice[len(REPLAY_PREFIX):]).expanduser())
    else:
        path = chat_model_path(choice)
        n_ctx = fitting_context(path, chosen.context_length) if path is not None else 0  # a bad file fails here
        model = None if path is None else LocalChatModel(
            path, n_ctx=n_ctx, n_threads=chosen.threads, temperature=chosen.temperature)
    if record is not None:
        if model is None:
            raise ModelError("--record needs a chat model: there is none to record")
        model = RecordingModel(model, record)
    return model


def run(args: argparse.Namespace) -> int:
    if args.max_steps < 1:
        print("pagemind: --max-steps must be at least 1", file=sys.stderr)
        return 2
    if not args.request.strip():
        print("pagemind: the request is empty; say what to do, e.g. ask \"list ~/Downloads\"", file=sys.stderr)
        return 2
    if args.model is None and args.record is None:
        try:
            handed = hand_over(args.request, args.json)
        except handoff.ForeignInstance as exc:
            print(f"pagemind: {exc}", file=sys.stderr)
            return 1
        if handed is not None:
            return handed
    model = chat_model(args.model, args.record)  # a bad model is said before anything starts
    try:
        memory = open_memory()
    except BaseException:
        if model is not None:
            model.close()
        raise
    try:
        try:
            kernel = assemble(memory, model, TerminalConfirmer(assume_yes=args.yes),
                              limits=Limits(max_steps=args.max_steps))
        except BaseException:
            if model is not None:
                model.close()
            raise
        try:
            if kernel.upkeep is not None:
                kernel.upkeep.resume()
            printer = Printer(args.json)
            result = serve(kernel, args.request, printer)
            printer.finish(result)
        finally:
            kernel.close()
    finally:
        memory.close()
    return 0 if result.stop in ("replied", "done") else 1
