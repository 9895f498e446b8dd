"""The step loop with the scripted model: chaining, corrections, limits, cancellation, consent, memory."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.kernel.agent import NO_MODEL, Limits
from app.kernel.assembly import Kernel, assemble
from app.kernel.events import Step, StepKind, quick_command, user_message
from app.kernel.scripted import ScriptedModel
from app.memory.store import MemoryStore
from app.safety.confirm import ScriptedConfirmer
from app.safety.policy import Policy


def reply(text: str) -> dict:
    return {"thought": "answer", "tool": "send_message", "args": {"message": text}}


def listing(path: Path, heartbeat: bool = True) -> dict:
    return {"thought": "look", "tool": "list_dir", "args": {"path": str(path), "request_heartbeat": heartbeat}}


@pytest.fixture
def work(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "alpha.txt").write_text("alpha")
    (folder / "beta.txt").write_text("beta")
    return folder


@pytest.fixture
def memory(tmp_path: Path):
    store = MemoryStore.open(tmp_path / "memory.duckdb")
    yield store
    store.close()


@pytest.fixture
def make(memory: MemoryStore, work: Path):
    kernels: list[Kernel] = []

    def build(calls=(), texts=(), answers=(), n_ctx: int = 8192, **limits) -> tuple[Kernel, ScriptedModel, ScriptedConfirmer]:
        model = ScriptedModel(calls, texts, n_ctx=n_ctx)
        confirmer = ScriptedConfirmer(list(answers))
        kernel = assemble(memory, model, confirmer, policy=Policy(roots=[str(work)], rules=[]),
                          limits=Limits(**limits) if limits else None)
        kernels.append(kernel)
        return kernel, model, confirmer

    yield build
    for kernel in kernels:
        kernel.close(save_state=False)


def kinds(steps: list[Step]) -> list[str]:
    return [s.kind.value for s in steps if s.kind != StepKind.DELTA]


def test_heartbeat_chains_steps_until_the_reply(make, memory: MemoryStore, work: Path):
    kernel, model, _ = make([listing(work), reply("Two files: alpha.txt and beta.txt.")])
    steps: list[Step] = []
    result = kernel.agent.run(user_message("what is in my work folder?"), steps.append)
    assert (result.stop, result.steps, result.reply) == ("replied", 2, "Two files: alpha.txt and beta.txt.")
    assert kinds(steps) == ["thought", "tool_call", "tool_result", "thought", "tool_call", "reply"]
    assert "alpha.txt" in next(s.text for s in steps if s.kind == StepKind.TOOL_RESULT)
    assert "alpha.txt" in model.prompts[1]  # the model saw the result before replying
    roles = [(m.role, m.tool_name) for m in memory.recall.in_context("main")]
    assert roles == [("user", None), ("assistant", "list_dir"), ("tool", "list_dir"),
                     ("assistant", "send_message"), ("tool", "send_message")]


def test_the_reply_streams_as_it_is_generated(make):
    kernel, _, _ = make([reply('Line one\nand "two"')])
    steps: list[Step] = []
    kernel.agent.run(user_message("hi"), steps.append)
    deltas = [s for s in steps if s.kind == StepKind.DELTA]
    assert "".join(s.text for s in deltas if s.channel == "reply") == 'Line one\nand "two"'
    assert "".join(s.text for s in deltas if s.channel == "thought") == "answer"
    assert len([s for s in deltas if s.channel == "reply"]) > 1


def test_without_heartbeat_the_turn_ends_after_the_tool(make, work: Path):
    kernel, model, _ = make([listing(work, heartbeat=False)])
    result = kernel.agent.run(user_message("list it"))
    assert (result.stop, result.steps) == ("done", 1)
    assert model.calls == []


def test_a_malformed_call_is_reported_and_corrected(make, memory: MemoryStore, work: Path):
    bad_tool = '{"thought": "hm", "tool": "format_disk", "args": {}}'
    bad_args = {"thought": "x", "tool": "list_dir", "args": {"path": 7, "request_heartbeat": True}}
    kernel, model, _ = make([bad_tool, "not json at all", bad_args, reply("done")])
    steps: list[Step] = []
    result = kernel.agent.run(user_message("list it"), steps.append)
    assert (result.stop, result.steps) == ("replied", 4)
    errors = [s.text for s in steps if s.kind == StepKind.ERROR]
    assert errors[0].startswith("Unknown tool 'format_disk'") and "not a JSON object" in errors[1]
    assert "Unknown tool 'format_disk'" in model.prompts[1] and "not a JSON object" in model.prompts[2]
    assert "Invalid arguments for list_dir: path: 7 is not of type 'string'" in model.prompts[3]


def test_the_step_limit_ends_a_looping_turn_with_a_note(make, memory: MemoryStore, work: Path):
    kernel, model, _ = make([listing(work)] * 5, max_steps=3)
    steps: list[Step] = []
    result = kernel.agent.run(user_message("loop"), steps.append)
    assert (result.stop, result.steps) == ("step_limit", 3)
    assert steps[-1].kind == StepKind.ERROR and "stopped after 3 steps" in steps[-1].text
    assert memory.recall.in_context("main")[-1].content == "[turn ended: stopped after 3 steps without a reply]"
    assert len(model.calls) == 2


def test_cancelling_during_generation_stops_the_turn(make, memory: MemoryStore, work: Path):
    kernel, model, _ = make([reply("a long answer " * 20), reply("second")])
    steps: list[Step] = []

    def listener(step: Step) -> None:
        steps.append(step)
        if step.kind == StepKind.DELTA and step.channel == "reply":
            kernel.agent.cancel()

    result = kernel.agent.run(user_message("talk"), listener)
    assert result.stop == "cancelled" and result.error == "stopped by the user"
    streamed = "".join(s.text for s in steps if s.kind == StepKind.DELTA and s.channel == "reply")
    assert len(streamed) < len("a long answer " * 20)
    assert memory.recall.in_context("main")[-1].content == "[turn ended: stopped by the user]"
    assert kernel.agent.run(user_message("again")).reply == "second"  # the next request is served


def test_the_time_limit_cancels_a_slow_generation(make):
    kernel, _, _ = make([reply("slow " * 50)], max_seconds=0.3)

    def slow(step: Step) -> None:
        if step.kind == StepKind.DELTA:
            time.sleep(0.05)

    result = kernel.agent.run(user_message("talk"), slow)
    assert result.stop == "time_limit" and "time limit of 0.3 s" in (result.error or "")


def test_a_declined_confirmation_goes_back_to_the_model(make, work: Path):
    write = {"thought": "save", "tool": "write_file",
             "args": {"path": str(work / "new.txt"), "content": "hello", "request_heartbeat": False}}
    kernel, model, confirmer = make([write, reply("I did not write it.")], answers=["deny"])
    steps: list[Step] = []
    result = kernel.agent.run(user_message("write hello to new.txt"), steps.append)
    assert result.reply == "I did not write it." and not (work / "new.txt").exists()
    assert kinds(steps)[:3] == ["thought", "tool_call", "tool_result"]
    assert confirmer.seen[0].reason == "write actions ask unless you allow them"  # asked once, by the confirmer
    declined = next(s for s in steps if s.kind == StepKind.TOOL_RESULT)
    assert declined.ok is False and not declined.undoable
    assert "The user declined: run write_file(" in model.prompts[1]
    assert confirmer.seen[0].tool == "write_file"


def test_an_allowed_write_runs_and_can_be_undone(make, work: Path):
    write = {"thought": "save", "tool": "write_file",
             "args": {"path": str(work / "new.txt"), "content": "hello", "request_heartbeat": True}}
    kernel, _, _ = make([write, reply("Written.")], answers=["once"])
    steps: list[Step] = []
    kernel.agent.run(user_message("write hello to new.txt"), steps.append)
    assert (work / "new.txt").read_text() == "hello"
    result = next(s for s in steps if s.kind == StepKind.TOOL_RESULT)
    assert result.ok and result.undoable and result.journal_id is not None  # the step says Undo applies
    kernel.journal.undo(result.journal_id)
    assert not (work / "new.txt").exists()


def test_memory_pressure_warns_then_evicts_and_loses_nothing(make, memory: MemoryStore, work: Path):
    turns = 40
    kernel, model, _ = make(n_ctx=5200)
    user_texts = [f"request number {n} about the quarterly budget folder and travel plans" for n in range(turns)]
    seen: list[str] = []
    for n, text in enumerate(user_texts):
        model.calls += [listing(work), reply(f"answer {n}: " + "details " * 20)]
        kernel.agent.run(user_message(text), lambda s: seen.append(s.text) if s.kind == StepKind.MEMORY else None)
    assert seen.count("warned") >= 1 and seen.count("evicted") >= 1
    assert memory.recall.count("main") >= turns * 5
    contents = {m.content for m in memory.recall.get_many(list(range(1, memory.recall.count() + 1)))}
    assert set(user_texts) <= contents  # every message is still in recall
    assert len(memory.recall.in_context("main")) < turns * 5
    assert memory.summaries.latest("main")
    window = kernel.agent.context.limits.budget
    assert kernel.agent.context.tokens_used() < window


def test_quick_commands_run_without_the_model(memory: MemoryStore, work: Path):
    kernel = assemble(memory, None, ScriptedConfirmer(), policy=Policy(roots=[str(work)], rules=[]))
    try:
        steps: list[Step] = []
        result = kernel.agent.run(quick_command(f"list {work}"), steps.append)
        assert result.stop == "done" and "alpha.txt" in (result.answer or "") and result.reply is None
        assert kinds(steps) == ["tool_call", "tool_result"]  # the same loop, its first call decided
        call = memory.recall.in_context("main")[1]
        assert call.tool_name == "list_dir" and json.loads(call.tool_args or "{}") == {"path": str(work)}
        other = kernel.agent.run(user_message("write me a poem"), steps.append)
        assert other.stop == "error" and other.error == NO_MODEL
        assert memory.recall.in_context("main")[-1].content == "write me a poem"
    finally:
        kernel.close()


def test_a_quick_command_passes_the_same_gate(memory: MemoryStore, work: Path):
    confirmer = ScriptedConfirmer()
    kernel = assemble(memory, None, confirmer, policy=Policy(roots=[str(work)], rules=[]))
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        result = kernel.agent.run(quick_command(f"kill {child.pid}"))
        assert result.stop == "error" and "declined" in (result.error or "")
        assert confirmer.seen[0].tool == "kill_process" and confirmer.seen[0].risk == "destructive"
        assert child.poll() is None
        refused = kernel.agent.run(quick_command("kill 1"))  # refused outright, never asked
        assert refused.stop == "error" and (refused.error or "").startswith("Denied:") and len(confirmer.seen) == 1
    finally:
        child.kill()
        child.wait()
        kernel.close()


def test_upkeep_between_turns_folds_old_messages_early(make, memory: MemoryStore, work: Path):
    kernel, model, _ = make(n_ctx=5200)
    context = kernel.agent.context
    limits = context.limits
    n = 0
    while context.tokens_used() < limits.idle_flush_at * limits.budget:
        assert context.tokens_used() < limits.flush_at * limits.budget
        model.calls += [reply(f"answer {n}: " + "details " * 30)]
        kernel.agent.run(user_message(f"request {n} " + "words " * 30))
        n += 1
        if context.tokens_used() < limits.idle_flush_at * limits.budget:
            assert kernel.upkeep.maintain() == "ready" and not memory.summaries.latest("main")
    before = memory.recall.count("main")
    assert kernel.upkeep.maintain() == "evicted"
    assert memory.summaries.latest("main") and memory.recall.count("main") == before
    assert context.tokens_used() < limits.idle_flush_at * limits.budget
