"""The bridge: turns, steps and confirmations arrive as signals on the GUI thread."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QThread

from tests.gui.conftest import reply, write


def test_a_turn_streams_steps_and_finishes(qtbot: Any, make_bridge: Any) -> None:
    bridge = make_bridge([reply("Hello there")])
    steps: list[Any] = []
    threads: list[bool] = []

    def on_step(turn: int, step: Any) -> None:
        steps.append(step)
        threads.append(QThread.currentThread() is bridge.thread())

    bridge.step.connect(on_step)
    with qtbot.waitSignal(bridge.turn_finished, timeout=20_000) as finished:
        bridge.send("say hello")
    assert finished.args[1].stop == "replied"
    assert finished.args[1].reply == "Hello there"
    kinds = [s.kind for s in steps]
    assert "delta" in kinds and kinds[-1] == "reply"
    assert all(threads)


def test_confirmation_waits_for_the_answer(qtbot: Any, make_bridge: Any, work: Path) -> None:
    target = work / "note.txt"
    bridge = make_bridge([write(target, "hi"), reply("saved")])
    with qtbot.waitSignal(bridge.confirm_requested, timeout=20_000) as asked:
        bridge.send("save a note")
    request = asked.args[0]
    assert request.tool == "write_file" and request.risk == "write"
    assert not target.exists()
    with qtbot.waitSignal(bridge.turn_finished, timeout=20_000) as finished:
        bridge.answer("once")
    assert finished.args[1].reply == "saved"
    assert target.read_text() == "hi"


def test_no_model_still_runs_quick_commands(qtbot: Any, make_bridge: Any, work: Path) -> None:
    (work / "a.txt").write_text("a")
    bridge = make_bridge(model=False)
    assert bridge.host.model_status[1] == "none"
    with qtbot.waitSignal(bridge.turn_finished, timeout=20_000) as finished:
        bridge.send(f"list {work}", "quick")
    assert finished.args[1].stop == "done"
    assert "a.txt" in finished.args[1].answer
    with qtbot.waitSignal(bridge.turn_finished, timeout=20_000) as finished:
        bridge.send("write me a poem")
    assert finished.args[1].stop == "error"
    assert "No chat model" in finished.args[1].error
