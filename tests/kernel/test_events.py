"""Events in (each becomes one message the model sees) and the timer heartbeat."""

from __future__ import annotations

import threading

import pytest

from app.kernel import events
from models.scheduler import Priority


def test_each_event_becomes_one_message_with_its_priority():
    assert events.user_message("hi").message() == ("user", "hi")
    assert events.quick_command("open firefox").message() == ("user", "open firefox")
    role, text = events.document_indexed("/home/ann/plan.md", 12).message()
    assert role == "system" and text.startswith("[event ") and "/home/ann/plan.md finished indexing (12 chunks)" in text
    assert [e.priority for e in (events.user_message("a"), events.quick_command("b"), events.heartbeat())] == [
        Priority.CHAT, Priority.QUICK, Priority.BACKGROUND]


def test_steps_serialize_without_empty_fields():
    step = events.Step(events.StepKind.TOOL_RESULT, text="ok", tool="list_dir", ok=True, journal_id=None)
    assert step.as_json() == {"kind": "tool_result", "text": "ok", "tool": "list_dir", "ok": True}
    undoable = events.Step(events.StepKind.TOOL_RESULT, text="ok", ok=True, journal_id=4, undoable=True)
    assert events.Step.from_json(undoable.as_json()) == undoable


def test_the_timer_heartbeat_sends_until_stopped():
    got: list[events.Event] = []
    three = threading.Event()

    def send(event: events.Event) -> None:
        got.append(event)
        if len(got) == 3:
            three.set()
        if len(got) == 2:
            raise RuntimeError("a failing heartbeat does not stop the next")

    timer = events.HeartbeatTimer(0.0005, send).start()  # every 30 ms
    assert three.wait(10)
    timer.stop()
    count = len(got)
    threading.Event().wait(0.1)
    assert len(got) == count and all(e.kind == "system" and "heartbeat" in e.text for e in got)


def test_a_heartbeat_interval_must_be_positive():
    with pytest.raises(ValueError):
        events.HeartbeatTimer(0, lambda event: None)
