"""``main.py ask`` and ``main.py selftest`` as a user runs them: real subprocesses and files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import settings
from models import synthetic
from tests.cli.support import ROOT, run


@pytest.fixture
def work(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "alpha.txt").write_text("alpha")
    settings.save(settings.Settings(allowed_roots=[str(folder)], context_length=16_384))
    return folder


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_a_quick_command_runs_without_a_model(pagemind_home: Path, work: Path):
    result = run("ask", f"list {work}", "--json", home=pagemind_home)
    assert result.returncode == 0, result.stderr
    steps = json_lines(result.stdout)
    assert [s["kind"] for s in steps] == ["tool_call", "tool_result", "done"]
    assert steps[0] == {"kind": "tool_call", "tool": "list_dir", "args": {"path": str(work)}}
    assert "alpha.txt" in steps[1]["text"] and steps[1]["ok"] is True
    assert steps[2]["stop"] == "done" and steps[2]["answer"] == steps[1]["text"]


def test_text_mode_prints_the_reply_once_on_stdout(pagemind_home: Path, work: Path):
    result = run("ask", f"list {work}", home=pagemind_home)
    assert result.returncode == 0 and result.stdout.count("alpha.txt") == 1
    assert "-> list_dir" in result.stderr and "alpha.txt" not in result.stderr


def test_without_a_model_a_request_gets_a_plain_answer(pagemind_home: Path, work: Path):
    result = run("ask", "write me a poem", home=pagemind_home)
    assert result.returncode == 1
    assert "No chat model is loaded" in result.stderr and "Traceback" not in result.stderr


def test_an_unknown_model_name_is_one_line(pagemind_home: Path, work: Path):
    result = run("ask", "hello", "--model", "no-such-model", home=pagemind_home)
    assert result.returncode == 2
    assert result.stderr.startswith("pagemind: no model called 'no-such-model' in the catalog")


def test_confirmations_are_asked_on_the_terminal(pagemind_home: Path, work: Path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        env = {**os.environ, "PAGEMIND_HOME": str(pagemind_home)}
        command = [sys.executable, str(ROOT / "main.py"), "ask", f"kill {sleeper.pid}"]
        declined = subprocess.run(command, input="n\n", env=env, capture_output=True, text=True, timeout=120)
        assert declined.returncode == 1 and "risk: destructive" in declined.stderr
        assert "The user declined" in declined.stderr and sleeper.poll() is None
        allowed = subprocess.run([*command, "--yes"], env=env, capture_output=True, text=True, timeout=120)
        assert allowed.returncode == 0, allowed.stderr
        assert sleeper.wait(timeout=30) is not None
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.slow
def test_ask_with_the_tiny_model_prints_every_step_as_json(pagemind_home: Path, work: Path, tmp_path: Path):
    model = synthetic.tiny(tmp_path / "tiny.gguf", n_ctx_train=16_384)
    result = run("ask", "what is in my folder?", "--model", str(model), "--json", "--max-steps", "2",
                 home=pagemind_home)
    assert "Traceback" not in result.stderr
    steps = json_lines(result.stdout)
    done = steps[-1]
    assert done["kind"] == "done" and done["stop"] in ("replied", "done", "step_limit")
    assert result.returncode == (0 if done["stop"] in ("replied", "done") else 1)
    assert 1 <= done["steps"] <= 2
    assert {s["kind"] for s in steps} <= {"thought", "tool_call", "tool_result", "reply",
                                          "memory", "error", "done"}


@pytest.mark.slow
def test_selftest_passes_and_leaves_the_home_alone(pagemind_home: Path):
    result = run("selftest", home=pagemind_home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok    ") == 6 and result.stdout.rstrip().endswith("self-test passed")
    assert "index a folder and search it" in result.stdout
    assert not (pagemind_home / "data").exists() or not any((pagemind_home / "data").iterdir())


def test_an_empty_request_is_refused_in_one_line(pagemind_home: Path, work: Path):
    result = run("ask", "   ", home=pagemind_home)
    assert result.returncode == 2 and result.stderr.startswith("pagemind: the request is empty")


def test_a_refused_quick_command_says_why_once(pagemind_home: Path, work: Path):
    result = run("ask", "list /etc", home=pagemind_home)
    assert result.returncode == 1 and result.stderr.count("Denied: /etc is in a system folder.") == 1


def test_a_bad_model_file_is_refused_before_anything_starts(pagemind_home: Path, work: Path, tmp_path: Path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model" * 100)
    result = run("ask", "hi", "--model", str(bad), home=pagemind_home)
    assert result.returncode == 2 and "is not a GGUF model file" in result.stderr
    assert "embedder" not in result.stderr


def test_a_replayed_recording_runs_through_the_real_gate_and_tools(pagemind_home: Path, work: Path, tmp_path: Path):
    recording = tmp_path / "turn.json"
    recording.write_text(json.dumps([
        {"thought": "look first", "tool": "list_dir", "args": {"path": str(work), "request_heartbeat": True}},
        {"thought": "save a note", "tool": "write_file",
         "args": {"path": str(work / "note.txt"), "content": "hello", "request_heartbeat": True}},
        {"thought": "tell", "tool": "send_message", "args": {"message": "Listed and saved."}},
    ]))
    result = run("ask", "list my folder and save a note", "--model", f"replay:{recording}", "--json", "--yes",
                 home=pagemind_home)
    assert result.returncode == 0, result.stderr
    steps = json_lines(result.stdout)
    assert [s["tool"] for s in steps if s["kind"] == "tool_call"] == ["list_dir", "write_file", "send_message"]
    assert "alpha.txt" in next(s["text"] for s in steps if s["kind"] == "tool_result")
    assert (work / "note.txt").read_text() == "hello"  # the real tool, through the gate (--yes answered)
    assert steps[-1]["stop"] == "replied" and steps[-1]["reply"] == "Listed and saved."
    journal = run("undo", "--list", home=pagemind_home)
    assert "write_file" in journal.stdout and "undoable" in journal.stdout


def test_a_replay_that_runs_out_of_calls_ends_with_a_clear_message(pagemind_home: Path, work: Path, tmp_path: Path):
    recording = tmp_path / "short.json"
    recording.write_text(json.dumps([{"thought": "", "tool": "list_dir",
                                      "args": {"path": str(work), "request_heartbeat": True}}]))
    result = run("ask", "list it", "--model", f"replay:{recording}", home=pagemind_home)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "replay of short.json has no more calls; the turn ends here" in result.stderr
    broken = tmp_path / "broken.json"
    broken.write_text('{"not": "a list"}')
    refused = run("ask", "list it", "--model", f"replay:{broken}", home=pagemind_home)
    assert refused.returncode == 2 and refused.stderr.startswith("pagemind: the recording")


@pytest.mark.slow
def test_a_recorded_turn_replays_the_same_calls(pagemind_home: Path, work: Path, tmp_path: Path):
    model = synthetic.tiny(tmp_path / "tiny.gguf", n_ctx_train=16_384)
    recording = tmp_path / "recorded.json"
    first = run("ask", "what is in my folder?", "--model", str(model), "--record", str(recording), "--json",
                "--max-steps", "3", home=pagemind_home)
    assert "Traceback" not in first.stderr
    recorded = json.loads(recording.read_text())
    assert recorded and all(isinstance(call, (dict, str)) for call in recorded)
    again = run("ask", "what is in my folder?", "--model", f"replay:{recording}", "--json", "--max-steps", "3",
                home=pagemind_home)
    calls = lambda out: [(s["tool"], s["args"]) for s in json_lines(out) if s["kind"] == "tool_call"]  # noqa: E731
    assert calls(again.stdout) == calls(first.stdout)
