"""The settings and first-run dialogs: values saved through the bridge, bad input refused."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox

from app import paths, settings
from app.gui.first_run import FirstRunDialog
from app.gui.model_picker import GGUF_FILTER, human_size
from app.gui.settings_dialog import SettingsDialog
from app.settings import Settings
from models import synthetic


def open_dialog(qtbot: Any, bridge: Any) -> SettingsDialog:
    dialog = SettingsDialog(bridge)
    qtbot.addWidget(dialog)
    return dialog


def choose_file(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: (str(path), GGUF_FILTER))


def test_changes_are_saved_and_shown_again(qtbot: Any, make_bridge: Any) -> None:
    bridge = make_bridge(model=False)
    dialog = open_dialog(qtbot, bridge)
    assert [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())] == [
        "Chat model", "Embedder", "Folders", "Permissions", "Performance"]
    assert dialog.threads_spin.text() == "automatic"
    dialog.context_spin.setValue(4096)
    dialog.threads_spin.setValue(3)
    dialog.temperature_spin.setValue(0.7)
    dialog.remote_radio.setChecked(True)
    dialog.remote_url_edit.setText("http://localhost:8080/v1")
    dialog.remote_model_edit.setText("qwen")
    dialog.ok_button.click()
    assert dialog.result() == QDialog.DialogCode.Accepted

    saved = settings.load()
    assert (saved.context_length, saved.threads, saved.temperature) == (4096, 3, 0.7)
    assert (saved.remote_url, saved.remote_model) == ("http://localhost:8080/v1", "qwen")
    assert saved.setup_done  # fields the dialog does not show are kept

    again = open_dialog(qtbot, bridge)
    assert again.context_spin.value() == 4096 and again.threads_spin.value() == 3
    assert again.remote_radio.isChecked()
    assert again.remote_url_edit.text() == "http://localhost:8080/v1"
    assert again.remote_model_edit.text() == "qwen"
    assert again.values() == saved

    again.local_radio.setChecked(True)
    again.apply_button.click()
    assert settings.load().remote_url == ""
    assert again.result() != QDialog.DialogCode.Accepted  # Apply saves but keeps the dialog open


def test_an_invalid_remote_url_is_refused(qtbot: Any, make_bridge: Any) -> None:
    bridge = make_bridge(model=False)
    dialog = open_dialog(qtbot, bridge)
    dialog.remote_radio.setChecked(True)
    dialog.remote_url_edit.setText("localhost:8080")
    dialog.context_spin.setValue(2048)
    dialog.ok_button.click()
    assert "http://" in dialog.error_label.text()
    assert dialog.result() != QDialog.DialogCode.Accepted
    saved = settings.load()
    assert saved.remote_url == "" and saved.context_length == Settings().context_length

    dialog.remote_url_edit.clear()
    dialog.ok_button.click()
    assert "URL" in dialog.error_label.text()
    assert dialog.result() != QDialog.DialogCode.Accepted


def test_a_standing_rule_is_revoked(qtbot: Any, make_bridge: Any) -> None:
    conf = settings.load()
    conf.permission_rules = ["write /tmp/notes", "launch firefox"]
    settings.save(conf)
    bridge = make_bridge(model=False)
    dialog = open_dialog(qtbot, bridge)
    assert [dialog.rules_list.item(i).text() for i in range(dialog.rules_list.count())] == conf.permission_rules
    assert not dialog.revoke_button.isEnabled()
    dialog.rules_list.setCurrentRow(0)
    assert dialog.revoke_button.isEnabled()
    dialog.revoke_button.click()
    assert dialog.rules_list.count() == 1
    assert settings.load().permission_rules == conf.permission_rules  # not before OK
    dialog.ok_button.click()
    assert settings.load().permission_rules == ["launch firefox"]


@pytest.mark.parametrize("head", [b"\x00\x01", b"GGUF"], ids=["not-gguf", "damaged-gguf"])
def test_a_corrupt_gguf_is_refused(qtbot: Any, make_bridge: Any, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch, head: bytes) -> None:
    bad = tmp_path / "x.gguf"
    bad.write_bytes(head + os.urandom(4096))
    choose_file(monkeypatch, bad)
    bridge = make_bridge(model=False)
    dialog = open_dialog(qtbot, bridge)
    dialog.open_model_button.click()
    qtbot.waitUntil(lambda: dialog.model_error_label.text() != "", timeout=10_000)
    assert str(bad) in dialog.model_error_label.text()
    assert dialog.model_path_edit.text() == ""
    dialog.ok_button.click()
    assert settings.load().chat_model == ""


def test_a_valid_gguf_becomes_the_chat_model(qtbot: Any, make_bridge: Any, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    model = synthetic.tiny(tmp_path / "tiny.gguf")
    choose_file(monkeypatch, model)
    bridge = make_bridge(model=False)
    dialog = open_dialog(qtbot, bridge)
    dialog.remote_radio.setChecked(True)
    assert not dialog.open_model_button.isEnabledTo(dialog)  # the local choice is greyed out
    dialog.local_radio.setChecked(True)
    dialog.open_model_button.click()
    qtbot.waitUntil(lambda: dialog.model_path_edit.text() == str(model), timeout=10_000)
    assert dialog.model_error_label.text() == ""
    dialog.ok_button.click()
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert settings.load().chat_model == str(model)


def test_the_embedder_can_be_chosen_and_reset(qtbot: Any, make_bridge: Any, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    model = synthetic.tiny(tmp_path / "embed.gguf")
    choose_file(monkeypatch, model)
    bridge = make_bridge(model=False)
    dialog = open_dialog(qtbot, bridge)
    dialog.embed_browse_button.click()
    qtbot.waitUntil(lambda: dialog.embed_path_edit.text() == str(model), timeout=10_000)
    dialog.apply_button.click()
    assert settings.load().embed_model == str(model)
    dialog.builtin_embed_button.click()
    dialog.apply_button.click()
    assert settings.load().embed_model == ""


def test_folders_are_watched_and_unwatched_at_once(qtbot: Any, make_bridge: Any, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    chosen = [str(docs)]
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kwargs: chosen[0])
    bridge = make_bridge(model=False)
    dialog = open_dialog(qtbot, bridge)
    assert dialog.folders_list.count() == 0 and not dialog.remove_folder_button.isEnabled()
    dialog.add_folder_button.click()
    qtbot.waitUntil(lambda: dialog.folders_list.count() == 1, timeout=10_000)
    assert dialog.folders_list.item(0).text() == str(docs.resolve())
    assert settings.load().watched_folders == [str(docs.resolve())]

    chosen[0] = "/etc"
    dialog.add_folder_button.click()
    qtbot.waitUntil(lambda: dialog.error_label.text() != "", timeout=10_000)
    assert "system folder" in dialog.error_label.text()

    dialog.context_spin.setValue(1024)
    dialog.apply_button.click()  # saving the other settings keeps the watched folder
    assert settings.load().watched_folders == [str(docs.resolve())]

    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: answers.pop(0))
    dialog.folders_list.setCurrentRow(0)
    dialog.remove_folder_button.click()
    assert dialog.folders_list.count() == 1 and settings.load().watched_folders == [str(docs.resolve())]
    dialog.remove_folder_button.click()
    qtbot.waitUntil(lambda: dialog.folders_list.count() == 0, timeout=10_000)
    assert settings.load().watched_folders == []
    assert "Stopped watching" in dialog.status_label.text()


def test_allowed_roots_are_edited(qtbot: Any, make_bridge: Any, work: Path, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kwargs: str(tmp_path))
    bridge = make_bridge(model=False)
    dialog = open_dialog(qtbot, bridge)
    dialog.add_root_button.click()
    dialog.add_root_button.click()
    assert dialog.roots_list.count() == 2
    dialog.roots_list.setCurrentRow(0)
    dialog.remove_root_button.click()
    dialog.ok_button.click()
    assert settings.load().allowed_roots == [str(tmp_path)]


def wait_for_catalog(qtbot: Any, picker: Any) -> None:
    qtbot.waitUntil(lambda: picker.catalog_list.count() > 0, timeout=10_000)


def test_the_catalog_lists_chat_models(qtbot: Any, make_bridge: Any) -> None:
    bridge = make_bridge(model=False)
    dialog = open_dialog(qtbot, bridge)
    wait_for_catalog(qtbot, dialog.picker)
    assert {entry.kind for entry in dialog.picker.entries} == {"chat"}
    first = dialog.picker.entries[0]
    assert first.name in dialog.picker.catalog_list.item(0).text()
    assert human_size(first.size) in dialog.picker.catalog_list.item(0).text()
    assert "downloaded" not in dialog.picker.catalog_list.item(0).text()
    assert dialog.download_button.isEnabled() and not dialog.picker.use_button.isEnabled()

    (paths.models_dir() / first.file).write_bytes(b"GGUF")
    dialog.picker.refresh()
    assert "downloaded" in dialog.picker.catalog_list.item(0).text()
    assert dialog.picker.use_button.isEnabled() and not dialog.download_button.isEnabled()
    dialog.picker.use_button.click()
    assert dialog.model_path_edit.text() == str(paths.models_dir() / first.file)


def test_a_failed_download_shows_why_and_returns_to_idle(qtbot: Any, make_bridge: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    bridge = make_bridge(model=False)
    dialog = open_dialog(qtbot, bridge)
    wait_for_catalog(qtbot, dialog.picker)
    dialog.picker.catalog_list.setCurrentRow(0)
    dialog.download_button.click()
    assert dialog.picker.downloading
    assert not dialog.download_progress.isHidden() and dialog.cancel_download_button.isEnabled()
    qtbot.waitUntil(lambda: not dialog.picker.downloading, timeout=20_000)
    message = dialog.model_error_label.text()
    assert "failed" in message and "127.0.0.1:9" in message
    assert dialog.download_progress.isHidden() and dialog.cancel_download_button.isHidden()
    assert dialog.download_button.isEnabled()
    assert settings.load().chat_model == ""


def test_a_cancelled_download_says_so(qtbot: Any, make_bridge: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    bridge = make_bridge(model=False)
    dialog = open_dialog(qtbot, bridge)
    wait_for_catalog(qtbot, dialog.picker)
    dialog.download_button.click()
    dialog.cancel_download_button.click()
    assert not dialog.cancel_download_button.isEnabled()
    qtbot.waitUntil(lambda: not dialog.picker.downloading, timeout=20_000)
    assert "cancelled" in dialog.picker.status_label.text()
    assert dialog.model_error_label.text() == ""
    assert dialog.download_progress.isHidden()


def test_first_run_is_needed_only_without_a_model() -> None:
    assert FirstRunDialog.needed(Settings())
    assert not FirstRunDialog.needed(Settings(setup_done=True))
    assert not FirstRunDialog.needed(Settings(chat_model="/m/model.gguf"))
    assert not FirstRunDialog.needed(Settings(remote_url="http://localhost:8080/v1"))


def first_run(qtbot: Any, bridge: Any) -> FirstRunDialog:
    conf = settings.load()
    conf.setup_done = False
    settings.save(conf)
    dialog = FirstRunDialog(bridge)
    qtbot.addWidget(dialog)
    assert dialog.windowTitle() == "Welcome to Pagemind"
    return dialog


def test_first_run_skip_marks_setup_done(qtbot: Any, make_bridge: Any) -> None:
    bridge = make_bridge(model=False)
    dialog = first_run(qtbot, bridge)
    assert FirstRunDialog.needed(settings.load())
    dialog.skip_button.click()
    assert dialog.result() == QDialog.DialogCode.Accepted and dialog.choice == "skip"
    saved = settings.load()
    assert saved.setup_done and saved.chat_model == "" and saved.remote_url == ""
    assert not FirstRunDialog.needed(saved)


def test_first_run_with_a_model_server(qtbot: Any, make_bridge: Any) -> None:
    bridge = make_bridge(model=False)
    dialog = first_run(qtbot, bridge)
    assert dialog.server_box.isHidden()
    dialog.server_button.click()
    assert not dialog.server_box.isHidden()
    dialog.remote_url_edit.setText("localhost:8080")
    dialog.use_server_button.click()
    assert "http://" in dialog.error_label.text() and not settings.load().setup_done
    dialog.remote_url_edit.setText("http://localhost:8080/v1")
    dialog.use_server_button.click()
    assert dialog.choice == "server"
    saved = settings.load()
    assert saved.setup_done and saved.remote_url == "http://localhost:8080/v1"


def test_first_run_with_a_model_file(qtbot: Any, make_bridge: Any, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    model = synthetic.tiny(tmp_path / "tiny.gguf")
    choose_file(monkeypatch, model)
    bridge = make_bridge(model=False)
    dialog = first_run(qtbot, bridge)
    dialog.open_model_button.click()
    qtbot.waitUntil(lambda: dialog.choice == "model", timeout=10_000)
    saved = settings.load()
    assert saved.setup_done and saved.chat_model == str(model)
