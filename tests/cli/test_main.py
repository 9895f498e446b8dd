"""``main.py`` as a user runs it: real subprocesses, a temporary PAGEMIND_HOME."""

from __future__ import annotations

from pathlib import Path

import pytest

from models import synthetic
from tests.cli.support import run

def test_help_lists_the_commands(pagemind_home: Path):
    result = run("--help", home=pagemind_home)
    assert result.returncode == 0
    assert "doctor" in result.stdout and "ask" in result.stdout and "watch" in result.stdout


@pytest.mark.slow
def test_doctor_reports_versions_paths_and_what_is_missing(pagemind_home: Path):
    result = run("doctor", home=pagemind_home)
    assert result.returncode == 1
    for name in ("PySide6", "llama_cpp_python", "duckdb", "watchdog", "psutil", "PyAutoGUI"):
        assert name in result.stdout
    assert "AVX" in result.stdout or "CPU :" in result.stdout  # llama.cpp's system info
    assert str(pagemind_home / "models") in result.stdout
    assert "the default embedder is missing: run `python main.py models setup`" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_setup_then_doctor_is_happy(pagemind_home: Path):
    setup = run("models", "setup", home=pagemind_home)
    assert setup.returncode == 0, setup.stderr
    assert (pagemind_home / "models" / "all-MiniLM-L6-v2.gguf").exists()
    doctor = run("doctor", home=pagemind_home)
    assert doctor.returncode == 0, doctor.stderr
    assert "all-MiniLM-L6-v2.gguf" in doctor.stdout and "bert" in doctor.stdout
    assert "Everything required is in place." in doctor.stdout


def test_models_list_shows_the_catalog(pagemind_home: Path):
    result = run("models", "list", home=pagemind_home)
    assert result.returncode == 0, result.stderr
    for name in ("qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-3b", "llama3.2-3b", "all-minilm-l6-v2"):
        assert name in result.stdout
    assert "Chat model in use: none" in result.stdout


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"not a model at all\n", "is not a GGUF model file"),
        (b"GGUF\x03\x00\x00\x00garbage", "is damaged or truncated"),
        (b"", "is not a GGUF model file"),
    ],
)
def test_models_use_on_a_corrupt_file_prints_one_line_and_exits_2(pagemind_home: Path, tmp_path: Path, content, expected):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(content)
    result = run("models", "use", str(bad), home=pagemind_home)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pagemind: ") and expected in lines[0]


@pytest.mark.slow
def test_models_use_on_a_file_that_crashes_llama_cpp(pagemind_home: Path, tmp_path: Path):
    bad = synthetic.crashing(tmp_path / "crashing.gguf")
    result = run("models", "use", str(bad), home=pagemind_home)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "llama.cpp crashed while loading crashing.gguf" in lines[0]
    assert not (pagemind_home / "config" / "settings.toml").exists()


def test_models_use_on_a_missing_file(pagemind_home: Path, tmp_path: Path):
    result = run("models", "use", str(tmp_path / "missing.gguf"), home=pagemind_home)
    assert result.returncode == 2
    assert result.stderr.strip() == f"pagemind: model file not found: {tmp_path / 'missing.gguf'}"


@pytest.mark.slow
def test_models_use_a_good_file_records_it_in_the_settings(pagemind_home: Path, tmp_path: Path):
    model = synthetic.tiny(tmp_path / "tiny.gguf")
    result = run("models", "use", str(model), home=pagemind_home)
    assert result.returncode == 0, result.stderr
    assert "as the chat model: qwen2" in result.stdout
    settings_text = (pagemind_home / "config" / "settings.toml").read_text()
    assert f'chat_model = "{model}"' in settings_text
    listed = run("models", "list", home=pagemind_home)
    assert f"Chat model in use: {model}" in listed.stdout


def test_models_download_unknown_name(pagemind_home: Path):
    result = run("models", "download", "gpt-17", home=pagemind_home)
    assert result.returncode == 2
    assert "qwen2.5-0.5b" in result.stderr and len(result.stderr.strip().splitlines()) == 1
