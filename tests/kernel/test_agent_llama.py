"""The step loop through real llama.cpp with the tiny model: valid calls, a killed runner, cancellation."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from app.kernel.agent import Limits
from app.kernel.events import Step, user_message
from app.kernel.assembly import Kernel, assemble
from app.memory.store import MemoryStore
from app.safety.confirm import ScriptedConfirmer
from app.safety.policy import Policy
from models import synthetic
from models.local_client import LocalChatModel

pytestmark = pytest.mark.slow
N_CTX = 20_480  # the tiny vocabulary spends about a token per character of the tool list (11k)


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic.tiny(tmp_path_factory.mktemp("tiny") / "tiny.gguf", n_ctx_train=N_CTX)


@pytest.fixture
def kernel(tiny_path: Path, tmp_path: Path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("notes")
    memory = MemoryStore.open(tmp_path / "memory.duckdb")
    model = LocalChatModel(tiny_path, n_ctx=N_CTX, seed=1)
    confirmer = ScriptedConfirmer(default="deny")
    made = assemble(memory, model, confirmer, policy=Policy(roots=[str(work)], rules=[]),
                   limits=Limits(max_steps=4, call_tokens=200))
    yield made
    made.close(save_state=False)
    memory.close()


def model_busy(kernel: Kernel) -> bool:
    return kernel.scheduler.running is not None or bool(kernel.scheduler.pending())


def test_a_turn_ends_within_the_step_limit_with_every_call_valid_or_reported(kernel: Kernel):
    for request in ("What is in my work folder?", "Remember that I like tea."):
        steps: list[Step] = []
        result = kernel.agent.run(user_message(request), steps.append)
        assert result.stop in ("replied", "done", "step_limit") and 1 <= result.steps <= 4
        calls = [s for s in steps if s.kind == "tool_call"]
        reported = [s for s in steps if s.kind == "error" and not s.text.startswith("stopped after")]
        assert len(calls) + len(reported) == result.steps
        for call in calls:
            assert kernel.registry.get(call.tool).invalid(call.args) is None
    messages = kernel.memory.recall.in_context("main")
    assert [m.content for m in messages if m.role == "user"] == ["What is in my work folder?",
                                                                  "Remember that I like tea."]
    malformed = [m for m in messages if m.role == "tool" and m.tool_name is None]  # answers to reported errors
    assert sum(m.is_tool_call for m in messages) + len(malformed) == len([m for m in messages if m.role == "tool"])


def test_a_runner_killed_during_a_turn_is_reported_and_replaced(kernel: Kernel):
    runner = kernel.model.model.runner  # the runner behind the scheduled model
    first_pid = runner.pid

    def kill_while_it_generates(step: Step) -> None:
        if step.kind == "delta" and runner.pid == first_pid:
            os.kill(first_pid, signal.SIGKILL)

    result = kernel.agent.run(user_message("list my files"), kill_while_it_generates)
    assert result.stop == "error" and "killed by SIGKILL" in (result.error or "")
    assert "the request was stopped" in result.error
    note = kernel.memory.recall.in_context("main")[-1]
    assert note.role == "system" and "killed by SIGKILL" in note.content
    assert runner.pid != first_pid and runner.restarts == 1
    again = kernel.agent.run(user_message("list my files"))  # the next request is served
    assert again.stop in ("replied", "done", "step_limit") and again.steps >= 1


def test_cancel_from_another_thread_stops_a_real_generation(kernel: Kernel):
    started = threading.Event()

    def listener(step: Step) -> None:
        if step.kind == "delta" and step.channel == "call":
            started.set()

    canceller = threading.Thread(target=lambda: started.wait(60) and kernel.agent.cancel())
    canceller.start()
    result = kernel.agent.run(user_message("say something long"), listener)
    canceller.join()
    assert started.is_set()
    assert result.stop == "cancelled" and result.error == "stopped by the user"


def test_upkeep_warms_the_cache_and_a_new_turn_cancels_it(kernel: Kernel):
    kernel.agent.run(user_message("hello"))
    assert kernel.upkeep.maintain() == "ready"  # nothing to fold: the context is evaluated
    context = kernel.agent.context
    context.add("user", "and then?")
    call = kernel.model.tool_call(context.messages(), kernel.agent.tools, max_tokens=4)
    assert call.generation.n_evaluated <= kernel.model.count_tokens("<|im_start|>user\nand then?<|im_end|>\n<|im_start|>assistant\n") + 1

    kernel.model.evaluate("<|im_start|>user\nsomething else<|im_end|>\n")  # spoil the cache: upkeep must evaluate it all
    results: list = []
    upkeep = threading.Thread(target=lambda: results.append(kernel.upkeep.maintain()))
    upkeep.start()
    while not model_busy(kernel) and upkeep.is_alive():  # upkeep's evaluation is queued or running
        threading.Event().wait(0.01)
    kernel.upkeep.stop()  # what the turn queue does before a turn
    turn = kernel.agent.run(user_message("now"))
    upkeep.join()
    assert results == ["stopped"] and turn.stop in ("replied", "done", "step_limit")
