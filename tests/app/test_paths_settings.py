"""Paths come from one place and honour PAGEMIND_HOME; settings round-trip and reject bad values."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from app import logs, paths, settings
from app.kernel.assembly import embedder_path
from models import convert
from models.convert import DEFAULT_EMBEDDER_FILE


def test_every_directory_lives_under_pagemind_home(pagemind_home: Path):
    for name, path in paths.all_paths().items():
        assert path == pagemind_home / name and path.is_dir()
    assert paths.settings_file().parent == pagemind_home / "config"
    assert paths.prefix_cache_dir().is_relative_to(pagemind_home / "cache")


def test_without_override_paths_follow_the_platform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv("PAGEMIND_HOME")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    assert paths.config_dir() == tmp_path / "xdg-config" / "pagemind"
    assert paths.models_dir() == tmp_path / "xdg-data" / "pagemind" / "models"


def test_an_installed_bundle_keeps_user_files_where_a_source_install_does(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pagemind_home: Path
):
    source_paths = paths.all_paths()
    assert paths.bundle_dir() is None and paths.bundled_models_dir() is None
    bundle = tmp_path / "bundle" / "_internal"
    (bundle / paths.BUNDLED_MODELS).mkdir(parents=True)
    (bundle / paths.BUNDLED_MODELS / DEFAULT_EMBEDDER_FILE).write_bytes(b"GGUF shipped embedder")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    monkeypatch.setattr(convert, "_DEFAULT_PACKAGE", "no_such_checkpoint_package")

    assert paths.all_paths() == source_paths
    assert paths.bundled_models_dir() == bundle / paths.BUNDLED_MODELS
    installed = embedder_path()  # first use: the shipped embedder is copied into the models folder
    assert installed == paths.models_dir() / DEFAULT_EMBEDDER_FILE
    assert installed.read_bytes() == b"GGUF shipped embedder"

    settings.save(settings.Settings(embed_model=str(tmp_path / "missing.gguf")))
    assert embedder_path() is None  # a chosen embedder that is gone is not replaced behind the user's back


def test_settings_default_when_absent_and_round_trip():
    assert settings.load() == settings.Settings()
    chosen = settings.Settings(chat_model="/m/a.gguf", context_length=8192, temperature=0.5, allowed_roots=["~", "/data"])
    settings.save(chosen)
    assert settings.load() == chosen


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("context_length = 'big'", "'context_length' must be int"),
        ("context_length = 10", "at least 256"),
        ("temperature = 9.0", "between 0 and 2"),
        ("allowed_roots = [1, 2]", "list of strings"),
        ("chat_model = ", "cannot read settings file"),
    ],
)
def test_bad_settings_give_a_clear_error(text: str, fragment: str):
    paths.settings_file().write_text(text + "\n")
    with pytest.raises(settings.SettingsError, match=fragment):
        settings.load()


def test_unknown_settings_are_ignored_with_a_warning(caplog: pytest.LogCaptureFixture):
    paths.settings_file().write_text("colour = 'blue'\nthreads = 3\n")
    with caplog.at_level(logging.WARNING):
        assert settings.load().threads == 3
    assert "colour" in caplog.text


def test_logging_writes_a_rotating_file_in_the_log_directory():
    logs.setup()
    logging.getLogger("pagemind.test").info("hello from the test")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert "hello from the test" in paths.log_file().read_text()
