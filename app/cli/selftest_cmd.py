"""``python main.py selftest``: one whole turn through real llama.cpp, in a temporary folder.

It builds a tiny random model, loads it in a runner process, and serves a request through the
grammar-constrained call, the permission gate, a tool and recall; then a quick command without
the model. Every confirmation is declined and the allowed folder is a temporary one, so nothing
outside it changes. Last, a small folder is indexed and searched, directly and through the
model's search_documents tool. It exits 0 only when every step worked, and names the step that failed.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from app import paths
from app.ingest.pipeline import Pipeline
from app.kernel.agent import Limits
from app.kernel.assembly import Kernel, assemble, embedder_path
from app.kernel.events import Step, StepKind, user_message
from app.memory.store import MemoryStore
from app.safety.confirm import ScriptedConfirmer
from app.safety.gate import Taint
from app.safety.policy import Policy
from models import synthetic
from models.convert import ensure_default_embedder
from models.errors import ModelError
from models.local_client import LocalChatModel, LocalEmbedder

CONVERSATION = "selftest"
N_CTX = 16_384
"""The tiny model's vocabulary spends about one token per character of the tool list."""


class SelfTestFailed(Exception):
    pass


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("selftest", help="run one whole turn through llama.cpp in a temporary folder")
    parser.set_defaults(func=run)


def _check(condition: bool, problem: str) -> None:
    if not condition:
        raise SelfTestFailed(problem)


class SelfTest:
    def __init__(self, folder: Path, embedder_file: Path | None = None) -> None:
        self.folder = folder
        self.embedder_file = embedder_file
        self.embedder: LocalEmbedder | None = None
        self.work = folder / "work"
        self.work.mkdir()
        (self.work / "notes.txt").write_text("Pagemind self-test notes.\n", encoding="utf-8")
        self.model: LocalChatModel | None = None
        self.memory: MemoryStore | None = None
        self.kernel: Kernel | None = None
        self.steps: list[Step] = []

    def steps_to_run(self) -> list[tuple[str, Callable[[], str]]]:
        return [
            ("build a tiny model", self.build),
            ("load it in a runner process", self.load),
            ("serve a request: constrained call, gate, tool", self.turn),
            ("find the turn in recall", self.recall),
            ("run a quick command without the model", self.quick),
            ("index a folder and search it", self.ingest),
        ]

    def build(self) -> str:
        self.model_path = synthetic.tiny(self.folder / "tiny.gguf", n_ctx_train=N_CTX)
        return f"{self.model_path.stat().st_size / 1e3:.0f} KB"

    def load(self) -> str:
        self.model = LocalChatModel(self.model_path, n_ctx=N_CTX)
        if self.embedder_file is None:
            with contextlib.suppress(ModelError):  # without the default's weights: words only
                self.embedder_file = ensure_default_embedder(self.folder, paths.bundled_models_dir())
        if self.embedder_file is not None:
            self.embedder = LocalEmbedder(self.embedder_file)
        model_id = self.embedder.info.file_hash if self.embedder else ""
        self.memory = MemoryStore.open(self.folder / "memory.duckdb", self.embedder, model_id)
        policy = Policy(roots=[str(self.work)], rules=[])
        self.kernel = assemble(self.memory, self.model, ScriptedConfirmer(default="deny"), policy=policy,
                               limits=Limits(max_steps=3, max_seconds=300, call_tokens=256),
                               conversation=CONVERSATION)
        return f"{self.model.info.architecture}, context {self.model.info.n_ctx:,} tokens"

    def turn(self) -> str:
        assert self.kernel is not None
        result = self.kernel.agent.run(user_message(f"List the files in {self.work}."), self.steps.append)
        _check(result.stop not in ("error", "time_limit", "cancelled"), f"the turn ended with {result.error}")
        calls = [s for s in self.steps if s.kind == StepKind.TOOL_CALL]
        rejected = [s for s in self.steps if s.kind == StepKind.ERROR and not s.text.startswith("stopped after")]
        _check(len(calls) + len(rejected) == result.steps, f"{result.steps} steps but {len(calls)} calls")
        for call in calls:
            problem = self.kernel.registry.get(call.tool or "").invalid(call.args or {})
            _check(problem is None, f"a call passed the grammar but not its schema: {problem}")
        return f"{result.steps} step(s), ended: {result.stop}; calls: {', '.join(s.tool or '' for s in calls) or 'none'}"

    def recall(self) -> str:
        assert self.memory is not None
        messages = self.memory.recall.in_context(CONVERSATION)
        roles = [m.role for m in messages]
        _check(roles[:1] == ["user"] and "List the files" in messages[0].content, "the request is not in recall")
        _check("tool" in roles, "no tool result was recorded")
        return f"{len(messages)} messages"

    def quick(self) -> str:
        assert self.kernel is not None
        result = self.kernel.agent.run(user_message(f"list {self.work}"))
        _check(result.stop == "done", f"the quick command failed: {result.error}")
        _check("notes.txt" in (result.answer or ""), f"the listing does not show notes.txt: {result.answer!r}")
        return "list_dir found notes.txt"

    def ingest(self) -> str:
        assert self.memory is not None and self.kernel is not None
        docs = self.folder / "docs"
        docs.mkdir()
        (docs / "budget.txt").write_text("The quarterly budget review moved to Thursday at ten.", encoding="utf-8")
        (docs / "garden.md").write_text("Tomatoes need six hours of sun a day.", encoding="utf-8")
        (docs / "data.txt").write_bytes(bytes(range(256)) * 8)
        pipeline = Pipeline(self.memory)
        try:
            pipeline.scan(docs)
            summary = pipeline.run(settle=True)
        finally:
            pipeline.close()
        _check(summary.counts == {"indexed": 2, "skipped": 1}, f"indexing gave {summary.counts}")
        found = self.memory.documents.search("when is the budget review")
        _check(bool(found.items) and found.items[0].path == str(docs / "budget.txt"),
               "searching for the budget review did not find budget.txt first")
        taint = Taint()
        outcome = self.kernel.gate.run("search_documents", {"query": "budget review"}, taint)
        _check("budget.txt" in outcome.text and bool(taint),
               "search_documents did not find the file, or did not mark the turn as holding untrusted text")
        how = "by meaning and words" if self.embedder else "by words only (no embedder)"
        return f"2 files indexed, 1 binary file skipped; found {how}"

    def close(self) -> None:
        if self.kernel is not None:
            self.kernel.close(save_state=False)
        elif self.model is not None:
            self.model.close()
        if self.memory is not None:
            self.memory.close()
        if self.embedder is not None:
            self.embedder.close()


def run(args: argparse.Namespace) -> int:
    embedder_file = embedder_path()  # the user's embedder, found before the home is switched
    with tempfile.TemporaryDirectory(prefix="pagemind-selftest-") as tmp, paths.temporary_home(Path(tmp) / "home"):
        test = SelfTest(Path(tmp), embedder_file)
        try:
            for name, step in test.steps_to_run():
                start = time.perf_counter()
                try:
                    detail = step()
                except Exception as exc:  # every failure is reported as the step that failed
                    print(f"FAIL  {name}: {type(exc).__name__}: {exc}")
                    return 1
                print(f"ok    {name} ({time.perf_counter() - start:.1f} s): {detail}")
        finally:
            test.close()
    print("self-test passed")
    sys.stdout.flush()
    return 0
