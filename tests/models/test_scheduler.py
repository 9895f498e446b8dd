"""The scheduler: priority order, pre-emption of background batches, cancellation, errors that
reach only their waiter, nested calls, shutdown, and the model adapters (scripted and real)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pytest

from models.scheduler import (
    ModelJob,
    JobCancelled,
    Priority,
    ScheduledChatModel,
    ScheduledEmbedder,
    Scheduler,
)
from app.kernel.scripted import ScriptedModel
from models import convert, synthetic
from models.errors import GenerationCancelled, ModelLoadError, RunnerCrashed
from models.interface import ToolCall
from models.local_client import LocalChatModel, LocalEmbedder
from tests.models.conftest import TOOLS
from tests.waiting import wait_for

CHAT, QUICK, BACKGROUND = Priority.CHAT, Priority.QUICK, Priority.BACKGROUND
WAIT = 5  # seconds: a ceiling for events that should happen almost at once
SEND = {
    "name": "send_message",
    "description": "Reply to the user.",
    "parameters": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]},
}
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def scheduler() -> Iterator[Scheduler]:
    sched = Scheduler("test-scheduler")
    yield sched
    sched.close()


def block(sched: Scheduler) -> tuple[ModelJob, threading.Event]:
    """Occupy the worker until the returned event is set."""
    started, release = threading.Event(), threading.Event()

    def hold() -> str:
        started.set()
        assert release.wait(WAIT)
        return "held"

    job = sched.submit(CHAT, hold, name="blocker")
    assert started.wait(WAIT)
    return job, release


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Run a blocking call in a thread; its value or exception lands in the returned dict."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:
            out["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    return thread, out


def batch(log: list[Any], label: Any, value: Any = None, gate: Callable[[], None] | None = None) -> Callable[[], Any]:
    def run() -> Any:
        log.append(label)
        if gate is not None:
            gate()
        return value

    return run


# -- order ---------------------------------------------------------------------------------------
def test_most_urgent_first_and_first_come_first_served_within_a_priority(scheduler: Scheduler):
    blocker, release = block(scheduler)
    ran: list[str] = []
    jobs = [
        scheduler.submit(priority, ran.append, label, name=label)
        for priority, label in [(BACKGROUND, "bg"), (QUICK, "quick"), (CHAT, "chat1"), (CHAT, "chat2")]
    ]
    assert scheduler.running is blocker
    assert [job.name for job in scheduler.pending()] == ["chat1", "chat2", "quick", "bg"]
    release.set()
    for job in jobs:
        job.result(WAIT)
    assert ran == ["chat1", "chat2", "quick", "bg"]
    assert blocker.result(WAIT) == "held" and scheduler.pending() == [] and all(job.done for job in jobs)


def test_chat_goes_before_the_background_calls_still_queued(scheduler: Scheduler):
    """Background work (an ingestion's embedding batches) is one call per batch: a chat request
    waits for the batch that runs, then goes before the rest."""
    ran: list[str] = []
    in_batch_2, queued = threading.Event(), threading.Event()

    def hold() -> None:
        in_batch_2.set()
        assert queued.wait(WAIT)

    batches = [scheduler.submit(BACKGROUND, batch(ran, f"batch{i}", i * 10, hold if i == 2 else None))
               for i in range(1, 6)]
    assert in_batch_2.wait(WAIT)
    chat = scheduler.submit(CHAT, ran.append, "chat")
    queued.set()
    assert [job.result(WAIT) for job in batches] == [10, 20, 30, 40, 50]
    chat.result(WAIT)
    assert ran == ["batch1", "batch2", "chat", "batch3", "batch4", "batch5"]


def test_cancel_a_queued_job(scheduler: Scheduler):
    blocker, release = block(scheduler)
    ran: list[str] = []
    job = scheduler.submit(QUICK, ran.append, "x", name="quick command")
    job.cancel()
    assert job.done and scheduler.pending() == []
    with pytest.raises(JobCancelled, match="quick command was cancelled"):
        job.result(0)
    with pytest.raises(GenerationCancelled):  # callers that catch the model's error catch this too
        job.result(0)
    release.set()
    blocker.result(WAIT)
    assert scheduler.run(CHAT, lambda: "next") == "next"
    assert ran == []


def test_cancel_a_running_job_calls_its_hook(scheduler: Scheduler):
    started, stop = threading.Event(), threading.Event()

    def generate() -> str:
        started.set()
        if not stop.wait(WAIT):
            return "ran to the end"
        raise GenerationCancelled("cancelled")

    job = scheduler.submit(CHAT, generate, cancel=stop.set)
    assert started.wait(WAIT)
    assert scheduler.running is job
    job.cancel()
    with pytest.raises(JobCancelled) as info:
        job.result(WAIT)
    assert stop.is_set() and isinstance(info.value.__cause__, GenerationCancelled)
    assert scheduler.run(CHAT, lambda: 42) == 42


# -- errors --------------------------------------------------------------------------------------
def test_an_exception_reaches_only_its_waiter(scheduler: Scheduler):
    def broken() -> None:
        raise ValueError("bad input")

    bad = scheduler.submit(QUICK, broken)
    good = scheduler.submit(QUICK, lambda: "ok")
    with pytest.raises(ValueError, match="bad input"):
        bad.result(WAIT)
    assert good.result(WAIT) == "ok"


def test_a_runner_crash_propagates_unchanged(scheduler: Scheduler):
    crash = RunnerCrashed("the model runner was killed by SIGABRT during tool_call; the model was reloaded")

    def call() -> None:
        raise crash

    with pytest.raises(RunnerCrashed) as info:
        scheduler.run(CHAT, call)
    assert info.value is crash and not isinstance(info.value, JobCancelled)


def test_a_slow_job_times_out_for_its_waiter_only(scheduler: Scheduler):
    blocker, release = block(scheduler)
    with pytest.raises(TimeoutError):
        blocker.result(0.01)
    release.set()
    assert blocker.result(WAIT) == "held"


# -- nesting and shutdown ------------------------------------------------------------------------
def test_run_inside_a_job_runs_inline(scheduler: Scheduler):
    def outer() -> str:
        assert scheduler.in_worker()
        return scheduler.run(CHAT, lambda: "inner") + "+outer"

    assert scheduler.submit(BACKGROUND, outer).result(WAIT) == "inner+outer"


def test_waiting_on_a_queued_job_from_the_worker_is_refused(scheduler: Scheduler):
    def waits() -> Any:
        return scheduler.submit(QUICK, lambda: 1).result()

    with pytest.raises(RuntimeError, match="would never end"):
        scheduler.submit(CHAT, waits).result(WAIT)


def test_close_cancels_queued_jobs_and_lets_the_running_one_finish(scheduler: Scheduler):
    blocker, release = block(scheduler)
    queued = [scheduler.submit(priority, lambda: "ran") for priority in (CHAT, BACKGROUND)]
    closer, _ = in_thread(scheduler.close)
    for job in queued:
        with pytest.raises(JobCancelled, match="closed"):
            job.result(WAIT)
    assert closer.is_alive()  # close() waits for the running job
    release.set()
    closer.join(WAIT)
    assert not closer.is_alive() and blocker.result(0) == "held"
    assert not any(t.name == "test-scheduler" for t in threading.enumerate())
    with pytest.raises(RuntimeError, match="closed"):
        scheduler.submit(CHAT, lambda: None)


# -- the chat model adapter ----------------------------------------------------------------------
def test_scheduled_tool_call_streams_tokens_on_the_worker(scheduler: Scheduler):
    model = ScriptedModel(calls=[{"tool": "send_message", "args": {"message": "hello there"}}])
    chat = ScheduledChatModel(model, scheduler)
    pieces: list[str] = []
    threads: set[str] = set()

    def on_token(piece: str) -> None:
        pieces.append(piece)
        threads.add(threading.current_thread().name)

    result = chat.tool_call(HI, [SEND], on_token=on_token)
    assert isinstance(result, ToolCall)
    assert (result.tool, result.args) == ("send_message", {"message": "hello there"})
    assert "".join(pieces) == result.raw and threads == {"test-scheduler"}
    assert chat.info is model.info and chat.count_tokens("two words") == 2
    assert chat.load_prefix("anything") == 0 and chat.save_prefix("anything") is None  # no KV state to keep
    assert chat.evaluate("three more words") == 3 and model.evaluated == ["three more words"]


def test_cancel_during_a_scheduled_generation(scheduler: Scheduler):
    model = ScriptedModel(texts=["one two three four five"])
    chat = ScheduledChatModel(model, scheduler)
    first, go = threading.Event(), threading.Event()
    pieces: list[str] = []

    def on_token(piece: str) -> None:
        pieces.append(piece)
        first.set()
        assert go.wait(WAIT)

    thread, out = in_thread(lambda: chat.generate("prompt", on_token=on_token))
    assert first.wait(WAIT)
    chat.cancel()
    go.set()
    thread.join(WAIT)
    assert isinstance(out.get("error"), JobCancelled), out
    assert pieces == ["one"]
    assert chat.generate("again").text == "(summary of 1 tokens)"


def test_views_at_other_priorities_share_one_queue(scheduler: Scheduler):
    model = ScriptedModel()
    chat = ScheduledChatModel(model, scheduler)
    views = {"b": chat.at(BACKGROUND), "q": chat.at(QUICK), "c": chat}
    _, release = block(scheduler)
    threads = []
    for queued, (prompt, view) in enumerate(views.items(), 1):  # background, quick, chat
        threads.append(in_thread(lambda view=view, prompt=prompt: view.generate(prompt)))
        wait_for(lambda queued=queued: len(scheduler.pending()) == queued)
    assert [job.priority for job in scheduler.pending()] == [CHAT, QUICK, BACKGROUND]
    views["q"].cancel()  # only the quick view's call
    release.set()
    for thread, _ in threads:
        thread.join(WAIT)
    assert model.prompts == ["c", "b"]
    assert isinstance(threads[1][1].get("error"), JobCancelled)
    assert all("value" in out for _, out in (threads[0], threads[2]))


# -- real runner processes -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def minilm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        checkpoint = convert.default_checkpoint_dir()
    except ModelLoadError as exc:
        pytest.skip(str(exc))
    return convert.convert_bert(checkpoint, tmp_path_factory.mktemp("embedder") / "minilm.gguf")


@pytest.mark.slow
def test_chat_preempts_embedding_batches_on_real_runners(scheduler: Scheduler, tmp_path: Path, minilm: Path):
    with LocalChatModel(synthetic.tiny(tmp_path / "tiny.gguf"), n_ctx=1024) as model, LocalEmbedder(minilm) as raw:
        chat = ScheduledChatModel(model, scheduler)
        embedder = ScheduledEmbedder(raw, scheduler)
        order: list[str] = []
        in_batch_1, chat_queued = threading.Event(), threading.Event()

        def embed_batch(i: int) -> Callable[[], np.ndarray]:
            def run() -> np.ndarray:
                order.append(f"embed{i}")
                vectors = raw.embed([f"note {i} about invoices", f"note {i} about travel"])
                if i == 1:
                    in_batch_1.set()
                    assert chat_queued.wait(WAIT)
                return vectors

            return run

        def on_token(piece: str) -> None:
            if "chat" not in order:
                order.append("chat")

        jobs = [scheduler.submit(BACKGROUND, embed_batch(i), name=f"ingest {i}") for i in range(4)]
        assert in_batch_1.wait(WAIT)
        thread, out = in_thread(lambda: chat.tool_call([{"role": "user", "content": "list my files"}], TOOLS,
                                                       max_tokens=400, on_token=on_token))
        wait_for(lambda: [j.priority for j in scheduler.pending()][:1] == [CHAT])
        chat_queued.set()
        vectors = [job.result(60) for job in jobs]
        thread.join(60)

        assert order == ["embed0", "embed1", "chat", "embed2", "embed3"]
        assert isinstance(out.get("value"), ToolCall), out
        assert embedder.dim == 384 and [v.shape for v in vectors] == [(2, 384)] * 4
        assert np.allclose(np.linalg.norm(np.concatenate(vectors), axis=1), 1, atol=1e-4)
        assert embedder.at(QUICK).embed(["a query"]).shape == (1, 384)
        assert chat.at(QUICK).evaluate("<|im_start|>system\nYou help.<|im_end|>\n") > 0


@pytest.mark.slow
def test_cancel_a_real_generation_through_the_scheduler(scheduler: Scheduler, tmp_path: Path):
    prompt = "<|im_start|>user\nwhat is using my memory?<|im_end|>\n<|im_start|>assistant\n"
    with LocalChatModel(synthetic.tiny(tmp_path / "tiny.gguf"), n_ctx=1024) as model:
        chat = ScheduledChatModel(model, scheduler)
        count = 0

        def on_token(piece: str) -> None:
            nonlocal count
            count += 1
            if count == 2:
                threading.Thread(target=chat.cancel).start()

        with pytest.raises(JobCancelled):
            chat.generate(prompt, max_tokens=1000, on_token=on_token)
        assert count < 100
        assert chat.generate(prompt, max_tokens=3).n_generated > 0
