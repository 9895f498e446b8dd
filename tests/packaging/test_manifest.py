"""What the spec puts in the bundle is worked out from the code: the tool registry, the doctor's
dependency list, llama_cpp's own libraries."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

import tools
from app.cli.doctor import DEPENDENCIES
from app.paths import BUNDLED_MODELS
from models.convert import DEFAULT_EMBEDDER_FILE


def test_hidden_imports_follow_the_tool_registry(manifest: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    hidden = manifest["hidden_imports"]()
    assert set(tools.MODULES) <= set(hidden)
    assert {module for _, module in DEPENDENCIES} <= set(hidden)
    assert "pyautogui" in hidden  # tools.desktop imports it by name, on first use
    for name in hidden:
        assert importlib.util.find_spec(name) is not None, name

    monkeypatch.setattr(tools, "MODULES", (*tools.MODULES, "tools.a_new_area"))
    assert "tools.a_new_area" in manifest["hidden_imports"]()


def test_llama_cpp_libraries_keep_their_folder(manifest: dict[str, Any]) -> None:
    libs = manifest["binaries"]()
    names = {Path(source).name: dest for source, dest in libs}
    assert any(name.startswith("libllama") for name in names)
    assert any(name.startswith("libggml") for name in names)
    assert set(names.values()) == {"llama_cpp/lib"}  # where llama_cpp's loader looks


def test_every_reported_dependency_keeps_its_metadata(manifest: dict[str, Any]) -> None:
    copied = [Path(source).name.lower() for source, _ in manifest["metadata"]()]
    for dist, _module in DEPENDENCIES:
        stem = dist.lower().replace("-", "_")
        assert any(name.startswith(stem) and name.endswith(".dist-info") for name in copied), dist


def test_unused_qt_libraries_are_dropped(manifest: dict[str, Any]) -> None:
    keep = manifest["keep_binary"]
    assert not keep("PySide6/Qt/lib/libQt6Quick.so.6")
    assert not keep("PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so")
    assert not keep("PySide6/Qt/plugins/imageformats/libqpdf.so")
    for needed in ("PySide6/Qt/lib/libQt6Widgets.so.6", "PySide6/Qt/lib/libQt6Network.so.6",
                   "PySide6/Qt/plugins/platforms/libqxcb.so", "llama_cpp/lib/libllama.so"):
        assert keep(needed), needed


def test_the_default_embedder_must_be_built_first(manifest: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="default embedder was not built"):
        manifest["datas"](tmp_path)
    (tmp_path / BUNDLED_MODELS).mkdir()
    (tmp_path / BUNDLED_MODELS / DEFAULT_EMBEDDER_FILE).write_bytes(b"GGUF")
    datas = manifest["datas"](tmp_path)
    assert (str(tmp_path / BUNDLED_MODELS / DEFAULT_EMBEDDER_FILE), BUNDLED_MODELS) in datas
    catalog = [source for source, dest in datas if dest == "models"]
    assert [Path(source).name for source in catalog] == ["catalog.toml"]
    assert Path(catalog[0]).is_file()
