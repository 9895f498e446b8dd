"""``python main.py doctor``: what is installed, where things live, and what is missing."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys

from app import paths, settings
from app.kernel.assembly import embedder_path
from models import gguf_file
from models.convert import DEFAULT_EMBEDDER_FILE
from models.errors import ModelError
from models.runner_client import RunnerClient

# (distribution, import name); all are required.
DEPENDENCIES = [
    ("PySide6", "PySide6"),
    ("llama_cpp_python", "llama_cpp"),
    ("psutil", "psutil"),
    ("PyAutoGUI", "pyautogui"),
    ("watchdog", "watchdog"),
    ("duckdb", "duckdb"),
    ("gguf", "gguf"),
    ("numpy", "numpy"),
    ("huggingface_hub", "huggingface_hub"),
    ("platformdirs", "platformdirs"),
    ("Send2Trash", "send2trash"),
    ("Jinja2", "jinja2"),
    ("jsonschema", "jsonschema"),
    ("tomli_w", "tomli_w"),
]
# Modules that cannot be imported in this process without side effects; only their metadata is read.
_NOT_IMPORTED = {"llama_cpp", "pyautogui", "PySide6"}


def run(args: argparse.Namespace) -> int:
    problems: list[str] = []
    print("Pagemind doctor\n\nDependencies:")
    for dist, module in DEPENDENCIES:
        try:
            version = importlib.metadata.version(dist)
            if module not in _NOT_IMPORTED:
                importlib.import_module(module)
            print(f"  {dist:<18} {version}")
        except (importlib.metadata.PackageNotFoundError, ImportError) as exc:
            print(f"  {dist:<18} MISSING")
            problems.append(f"{dist} is not installed ({exc.__class__.__name__})")

    print("\nllama.cpp:")
    runner = RunnerClient(name="doctor")
    try:
        info = runner.call("system_info")
        print(f"  llama-cpp-python {info['version']}")
        print(f"  {info['system_info']}")
    except ModelError as exc:
        print("  UNAVAILABLE")
        problems.append(f"the model runner cannot start llama.cpp: {exc}")
    finally:
        runner.close()

    print("\nPaths:")
    for name, path in paths.all_paths().items():
        print(f"  {name:<8} {path}")

    print("\nModels:")
    try:
        chosen = settings.load()
    except settings.SettingsError as exc:
        problems.append(str(exc))
        chosen = settings.Settings()
    if not chosen.embed_model:
        embedder_path()  # an installed bundle puts the embedder it ships in place on first use
    found = sorted(paths.models_dir().glob("*.gguf"))
    for path in found:
        try:
            summary = gguf_file.inspect(path)
            print(f"  {path.name:<40} {summary.architecture:<10} {summary.file_size / 1e6:8.1f} MB")
        except ModelError as exc:
            print(f"  {path.name:<40} UNUSABLE: {exc}")
    if not found:
        print("  (no GGUF files in the models folder)")
    embedder = paths.models_dir() / DEFAULT_EMBEDDER_FILE
    if not chosen.embed_model and not embedder.exists():
        problems.append(f"the default embedder is missing: run `{paths.launcher()} models setup`")
    for label, value in (("chat model", chosen.chat_model), ("embedder", chosen.embed_model)):
        if value:
            try:
                gguf_file.inspect(value)
                print(f"  {label} in use: {value}")
            except ModelError as exc:
                problems.append(f"the {label} in the settings is unusable: {exc}")
    if not chosen.chat_model:
        print(f"  no chat model chosen yet: `{paths.launcher()} models download qwen2.5-0.5b` "
              f"or `{paths.launcher()} models use FILE.gguf`")

    if problems:
        print("\nProblems:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print("\nEverything required is in place.")
    return 0
