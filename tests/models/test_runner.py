"""The runner process: clear load errors, survival of llama.cpp crashes, streaming and
cancellation across the process boundary, and saved prefix states across a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import gguf
import psutil
import pytest

from models import synthetic
from models.errors import GenerationCancelled, ModelLoadError, RunnerCrashed
from models.interface import ToolCall
from models.local_client import LocalChatModel
from tests.models.conftest import TOOLS

pytestmark = pytest.mark.slow

PROMPT = "<|im_start|>user\nwhat is using my memory?<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture
def model(tiny_gguf: Path):
    with LocalChatModel(tiny_gguf, n_ctx=1024, debug=True) as m:
        yield m


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text and "Traceback" not in text
    return text


# -- bad files: one clear line each, and no runner process left behind -----------------------
def test_missing_file(tmp_path: Path):
    with pytest.raises(ModelLoadError) as info:
        LocalChatModel(tmp_path / "nope.gguf")
    assert "model file not found" in _one_line(info.value)


def test_not_a_gguf_file(tmp_path: Path):
    path = tmp_path / "notes.gguf"
    path.write_text("these are my notes, not a model\n")
    with pytest.raises(ModelLoadError) as info:
        LocalChatModel(path)
    assert "is not a GGUF model file" in _one_line(info.value)


def test_truncated_file(tiny_gguf: Path, tmp_path: Path):
    path = tmp_path / "cut.gguf"
    data = tiny_gguf.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ModelLoadError) as info:
        LocalChatModel(path)
    assert "truncated" in _one_line(info.value)


def test_header_cut_short(tiny_gguf: Path, tmp_path: Path):
    path = tmp_path / "header.gguf"
    path.write_bytes(tiny_gguf.read_bytes()[:300])
    with pytest.raises(ModelLoadError) as info:
        LocalChatModel(path)
    assert "damaged or truncated" in _one_line(info.value)


def test_unsupported_architecture(tmp_path: Path):
    path = synthetic.tiny(tmp_path / "alien.gguf", architecture="alien9000")
    with pytest.raises(ModelLoadError) as info:
        LocalChatModel(path)
    assert "architecture 'alien9000'" in _one_line(info.value)


def test_context_larger_than_the_model_supports(tiny_gguf: Path):
    with pytest.raises(ModelLoadError) as info:
        LocalChatModel(tiny_gguf, n_ctx=8192)
    assert "larger than the 4,096" in _one_line(info.value)


def test_a_file_llama_cpp_rejects_is_reported_from_the_runner(tmp_path: Path):
    """Valid GGUF, known architecture, but a tensor is missing: only llama.cpp can tell."""
    good = synthetic.tiny(tmp_path / "good.gguf")
    reader = gguf.GGUFReader(good)
    broken = tmp_path / "missing-tensor.gguf"
    writer = gguf.GGUFWriter(str(broken), "qwen2")
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name == "general.architecture":
            continue
        value = field.contents()
        vtype = field.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(field.name, value, vtype, sub_type=field.types[-1])
        else:
            writer.add_key_value(field.name, value, vtype)
    for tensor in reader.tensors:
        if tensor.name != "blk.1.ffn_down.weight":
            writer.add_tensor(tensor.name, tensor.data, raw_shape=tensor.shape[::-1], raw_dtype=tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ModelLoadError) as info:
        LocalChatModel(broken)
    message = _one_line(info.value)
    assert "llama.cpp cannot load missing-tensor.gguf" in message
    assert "blk.1.ffn_down.weight" in message


def test_a_file_that_crashes_llama_cpp_while_loading(tmp_path: Path):
    """A duplicated vocabulary entry makes llama.cpp abort the process that loads it."""
    path = synthetic.crashing(tmp_path / "crashing.gguf")
    with pytest.raises(ModelLoadError) as info:
        LocalChatModel(path)
    message = _one_line(info.value)
    assert "llama.cpp crashed while loading crashing.gguf" in message and "SIGABRT" in message


# -- crashes -----------------------------------------------------------------------------------
def test_runner_abort_is_survived_and_the_model_reloaded(model: LocalChatModel):
    first_pid = model.runner.pid
    tokens = model.tokenize("hello there")
    with pytest.raises(RunnerCrashed) as info:
        model.runner.call("abort")
    message = _one_line(info.value)
    assert "SIGABRT" in message and "the model was reloaded" in message
    assert model.runner.pid != first_pid
    assert model.tokenize("hello there") == tokens
    assert model.generate(PROMPT, max_tokens=4).n_generated > 0


def test_segfault_during_generation_is_survived(model: LocalChatModel):
    started = threading.Event()

    def on_token(piece: str) -> None:
        if not started.is_set():
            started.set()
            os.kill(model.runner.pid, signal.SIGSEGV)

    with pytest.raises(RunnerCrashed) as info:
        model.generate(PROMPT, max_tokens=2000, on_token=on_token)
    assert "SIGSEGV" in _one_line(info.value) and "during generate" in str(info.value)
    result = model.tool_call([{"role": "user", "content": "hi"}], TOOLS)
    assert isinstance(result, ToolCall)
    assert model.runner.restarts == 1


def test_runner_killed_between_requests(model: LocalChatModel):
    os.kill(model.runner.pid, signal.SIGKILL)
    with pytest.raises(RunnerCrashed, match="SIGKILL"):
        model.count_tokens("x")
    assert model.count_tokens("ab") == 1


# -- streaming, cancellation, tool calls through the pipe --------------------------------------
def test_streaming_across_the_process_boundary(model: LocalChatModel):
    pieces: list[str] = []
    gen = model.generate(PROMPT, max_tokens=16, on_token=pieces.append)
    assert "".join(pieces) == gen.text and gen.n_generated > 0


def test_cancel_from_another_thread(model: LocalChatModel):
    count = 0

    def on_token(piece: str) -> None:
        nonlocal count
        count += 1
        if count == 2:
            threading.Thread(target=model.cancel).start()

    with pytest.raises(GenerationCancelled):
        model.generate(PROMPT, max_tokens=1000, on_token=on_token)
    assert count < 100
    assert model.generate(PROMPT, max_tokens=3).n_generated > 0


def test_tool_call_through_the_runner(model: LocalChatModel):
    result = model.tool_call([{"role": "user", "content": "list my files"}], TOOLS, max_tokens=400)
    assert isinstance(result, ToolCall)
    assert result.tool in {t["name"] for t in TOOLS}


def test_saved_prefix_survives_a_restart(tiny_gguf: Path):
    prefix = "<|im_start|>system\n" + "You help with files. " * 40 + "<|im_end|>\n"
    with LocalChatModel(tiny_gguf, n_ctx=1024) as first:
        first.save_prefix(prefix)
        n_prefix = first.count_tokens(prefix)
    with LocalChatModel(tiny_gguf, n_ctx=1024) as second:
        assert second.load_prefix(prefix) == n_prefix
        gen = second.generate(prefix + PROMPT, max_tokens=2)
        assert gen.n_evaluated == second.count_tokens(prefix + PROMPT) - n_prefix


def test_the_app_side_never_imports_llama_cpp():
    """Decision 7: only the runner process loads llama.cpp."""
    import subprocess
    import sys

    code = (
        "import sys, main, models.local_client, models.remote, models.download, app.cli.doctor, app.cli.models_cmd\n"
        "import app.cli.parser, app.kernel.host, app.gui.bridge\n"
        "assert 'llama_cpp' not in sys.modules, 'llama_cpp imported'\n"
        "assert not [m for m in sys.modules if m.startswith('models.engine')], 'the runner side imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr


def test_only_the_engine_package_imports_llama_cpp():
    """The process boundary is visible in the tree: models/engine/ is the runner side, all of it."""
    import ast

    root = Path(__file__).resolve().parents[2]
    importers = []
    for path in [*root.glob("app/**/*.py"), *root.glob("tools/**/*.py"), *root.glob("models/**/*.py"),
                 root / "main.py"]:
        tree = ast.parse(path.read_text(), str(path))
        names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        names += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        if any(name.split(".")[0] == "llama_cpp" for name in names):
            importers.append(path.relative_to(root).as_posix())
    assert importers and all(path.startswith("models/engine/") for path in importers), importers


ORPHAN = """
import sys
from models.local_client import LocalChatModel
model = LocalChatModel(sys.argv[1], n_ctx=512)
print(model.runner.pid, flush=True)
while True:  # generate until killed
    model.generate("tell a very long story", max_tokens=400, on_token=lambda text: None)
"""


@pytest.mark.slow
def test_a_runner_whose_app_was_killed_exits_quietly(tiny_gguf: Path, tmp_path: Path):
    """The app is SIGKILLed while its runner streams tokens: the runner stops, with nothing on stderr."""
    errors = tmp_path / "stderr.txt"
    with open(errors, "w") as stderr:
        app = subprocess.Popen([sys.executable, "-c", ORPHAN, str(tiny_gguf)], stdout=subprocess.PIPE,
                               stderr=stderr, text=True, cwd=Path(__file__).resolve().parents[2])
        runner = int(app.stdout.readline())
        time.sleep(1.0)  # it is generating now
        app.kill()
        app.wait()
        app.stdout.close()
        deadline = time.monotonic() + 30
        while psutil.pid_exists(runner) and psutil.Process(runner).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the orphaned runner kept running"
            time.sleep(0.1)
    assert errors.read_text() == ""
