"""The step loop with the scripted model: chaining, corrections, limits, cancellation, consent, memory."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.kernel.agent import Limits
from app.kernel.events import Step, quick_command, user_message
from app.kernel.scripted import ScriptedModel
from app.kernel.session import NO_MODEL, Session
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
    sessions: list[Session] = []

    def build(calls=(), texts=(), answers=(), n_ctx: int = 8192, **limits) -> tuple[Session, ScriptedModel, ScriptedConfirmer]:
        model = ScriptedModel(calls, texts, n_ctx=n_ctx)
        confirmer = ScriptedConfirmer(list(answers))
        session = Session(memory, model, confirmer, policy=Policy(roots=[str(work)], rules=[]),
                          limits=Limits(**limits) if limits else None)
        sessions.append(session)
        return session, model, confirmer

    yield build
    for session in sessions:
        session.close(save_state=False)


def kinds(steps: list[Step]) -> list[str]:
    return [s.kind for s in steps if s.kind != "delta"]


def test_heartbeat_chains_steps_until_the_reply(make, memory: MemoryStore, work: Path):
    session, model, _ = make([listing(work), reply("Two files: alpha.txt and beta.txt.")])
    steps: list[Step] = []
    result = session.handle(user_message("what is in my work folder?"), steps.append)
    assert (result.stop, result.steps, result.reply) == ("replied", 2, "Two files: alpha.txt and beta.txt.")
    assert kinds(steps) == ["thought", "tool_call", "tool_result", "thought", "tool_call", "reply"]
    assert "alpha.txt" in next(s.text for s in steps if s.kind == "tool_result")
    assert "alpha.txt" in model.prompts[1]  # the model saw the result before replying
    roles = [(m.role, m.tool_name) for m in memory.recall.in_context("main")]
    assert roles == [("user", None), ("assistant", "list_dir"), ("tool", "list_dir"),
                     ("assistant", "send_message"), ("tool", "send_message")]


def test_the_reply_streams_as_it_is_generated(make):
    session, _, _ = make([reply('Line one\nand "two"')])
    steps: list[Step] = []
    session.handle(user_message("hi"), steps.append)
    deltas = [s for s in steps if s.kind == "delta"]
    assert "".join(s.text for s in deltas if s.channel == "reply") == 'Line one\nand "two"'
    assert "".join(s.text for s in deltas if s.channel == "thought") == "answer"
    assert len([s for s in deltas if s.channel == "reply"]) > 1


def test_without_heartbeat_the_turn_ends_after_the_tool(make, work: Path):
    session, model, _ = make([listing(work, heartbeat=False)])
    result = session.handle(user_message("list it"))
    assert (result.stop, result.steps) == ("done", 1)
    assert model.calls == []


def test_a_malformed_call_is_reported_and_corrected(make, memory: MemoryStore, work: Path):
    bad_tool = '{"thought": "hm", "tool": "format_disk", "args": {}}'
    bad_args = {"thought": "x", "tool": "list_dir", "args": {"path": 7, "request_heartbeat": True}}
    session, model, _ = make([bad_tool, "not json at all", bad_args, reply("done")])
    steps: list[Step] = []
    result = session.handle(user_message("list it"), steps.append)
    assert (result.stop, result.steps) == ("replied", 4)
    errors = [s.text for s in steps if s.kind == "error"]
    assert errors[0].startswith("Unknown tool 'format_disk'") and "not a JSON object" in errors[1]
    assert "Unknown tool 'format_disk'" in model.prompts[1] and "not a JSON object" in model.prompts[2]
    assert "Invalid arguments for list_dir: path: 7 is not of type 'string'" in model.prompts[3]


def test_the_step_limit_ends_a_looping_turn_with_a_note(make, memory: MemoryStore, work: Path):
    session, model, _ = make([listing(work)] * 5, max_steps=3)
    steps: list[Step] = []
    result = session.handle(user_message("loop"), steps.append)
    assert (result.stop, result.steps) == ("step_limit", 3)
    assert steps[-1].kind == "error" and "stopped after 3 steps" in steps[-1].text
    assert memory.recall.in_context("main")[-1].content == "[turn ended: stopped after 3 steps without a reply]"
    assert len(model.calls) == 2


def test_cancelling_during_generation_stops_the_turn(make, memory: MemoryStore, work: Path):
    session, model, _ = make([reply("a long answer " * 20), reply("second")])
    steps: list[Step] = []

    def listener(step: Step) -> None:
        steps.append(step)
        if step.kind == "delta" and step.channel == "reply":
            session.cancel()

    result = session.handle(user_message("talk"), listener)
    assert result.stop == "cancelled" and result.error == "stopped by the user"
    streamed = "".join(s.text for s in steps if s.kind == "delta" and s.channel == "reply")
    assert len(streamed) < len("a long answer " * 20)
    assert memory.recall.in_context("main")[-1].content == "[turn ended: stopped by the user]"
    assert session.handle(user_message("again")).reply == "second"  # the next request is served


def test_the_time_limit_cancels_a_slow_generation(make):
    session, _, _ = make([reply("slow " * 50)], max_seconds=0.3)

    def slow(step: Step) -> None:
        if step.kind == "delta":
            time.sleep(0.05)

    result = session.handle(user_message("talk"), slow)
    assert result.stop == "time_limit" and "time limit of 0.3 s" in (result.error or "")


def test_a_declined_confirmation_goes_back_to_the_model(make, work: Path):
    write = {"thought": "save", "tool": "write_file",
             "args": {"path": str(work / "new.txt"), "content": "hello", "request_heartbeat": False}}
    session, model, confirmer = make([write, reply("I did not write it.")], answers=["deny"])
    steps: list[Step] = []
    result = session.handle(user_message("write hello to new.txt"), steps.append)
    assert result.reply == "I did not write it." and not (work / "new.txt").exists()
    assert kinds(steps)[:4] == ["thought", "tool_call", "confirm", "tool_result"]
    assert steps[[s.kind for s in steps].index("confirm")].text == "write actions ask unless you allow them"
    assert "The user declined: run write_file(" in model.prompts[1]
    assert confirmer.seen[0].tool == "write_file"


def test_an_allowed_write_runs_and_can_be_undone(make, work: Path):
    write = {"thought": "save", "tool": "write_file",
             "args": {"path": str(work / "new.txt"), "content": "hello", "request_heartbeat": True}}
    session, _, _ = make([write, reply("Written.")], answers=["once"])
    steps: list[Step] = []
    session.handle(user_message("write hello to new.txt"), steps.append)
    assert (work / "new.txt").read_text() == "hello"
    result = next(s for s in steps if s.kind == "tool_result")
    assert result.journal_id is not None
    session.journal.undo(result.journal_id)
    assert not (work / "new.txt").exists()


def test_memory_pressure_warns_then_evicts_and_loses_nothing(make, memory: MemoryStore, work: Path):
    turns = 40
    session, model, _ = make(n_ctx=5200)
    user_texts = [f"request number {n} about the quarterly budget folder and travel plans" for n in range(turns)]
    seen: list[str] = []
    for n, text in enumerate(user_texts):
        model.calls += [listing(work), reply(f"answer {n}: " + "details " * 20)]
        session.handle(user_message(text), lambda s: seen.append(s.text) if s.kind == "memory" else None)
    assert seen.count("warned") >= 1 and seen.count("evicted") >= 1
    assert memory.recall.count("main") >= turns * 5
    contents = {m.content for m in memory.recall.get_many(list(range(1, memory.recall.count() + 1)))}
    assert set(user_texts) <= contents  # every message is still in recall
    assert len(memory.recall.in_context("main")) < turns * 5
    assert memory.summaries.latest("main")
    window = session.agent.context.limits.budget
    assert session.agent.context.tokens_used() < window


def test_quick_commands_run_without_the_model(memory: MemoryStore, work: Path):
    session = Session(memory, None, ScriptedConfirmer(), policy=Policy(roots=[str(work)], rules=[]))
    try:
        steps: list[Step] = []
        result = session.handle(quick_command(f"list {work}"), steps.append)
        assert result.stop == "replied" and "alpha.txt" in (result.reply or "")
        assert kinds(steps) == ["tool_call", "tool_result", "reply"]
        call = memory.recall.in_context("main")[1]
        assert call.tool_name == "list_dir" and json.loads(call.tool_args or "{}") == {"path": str(work)}
        other = session.handle(user_message("write me a poem"), steps.append)
        assert other.stop == "error" and other.error == NO_MODEL
        assert memory.recall.in_context("main")[-1].content == "write me a poem"
    finally:
        session.close()


def test_a_quick_command_passes_the_same_gate(memory: MemoryStore, work: Path):
    confirmer = ScriptedConfirmer()
    session = Session(memory, None, confirmer, policy=Policy(roots=[str(work)], rules=[]))
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        result = session.handle(quick_command(f"kill {child.pid}"))
        assert result.stop == "error" and "declined" in (result.error or "")
        assert confirmer.seen[0].tool == "kill_process" and confirmer.seen[0].risk == "destructive"
        assert child.poll() is None
        refused = session.handle(quick_command("kill 1"))  # refused outright, never asked
        assert refused.stop == "error" and (refused.error or "").startswith("Denied:") and len(confirmer.seen) == 1
    finally:
        child.kill()
        child.wait()
        session.close()


def test_upkeep_between_turns_folds_old_messages_early(make, memory: MemoryStore, work: Path):
    session, model, _ = make(n_ctx=5200)
    context = session.agent.context
    limits = context.limits
    n = 0
    while context.tokens_used() < limits.idle_flush_at * limits.budget:
        assert context.tokens_used() < limits.flush_at * limits.budget
        model.calls += [reply(f"answer {n}: " + "details " * 30)]
        session.handle(user_message(f"request {n} " + "words " * 30))
        n += 1
        if context.tokens_used() < limits.idle_flush_at * limits.budget:
            assert session.maintain() == "ready" and not memory.summaries.latest("main")
    before = memory.recall.count("main")
    assert session.maintain() == "evicted"
    assert memory.summaries.latest("main") and memory.recall.count("main") == before
    assert context.tokens_used() < limits.idle_flush_at * limits.budget
