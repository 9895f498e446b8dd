"""The desktop app: the window, the tray, the quick-command box and the confirmation dialog
around one Bridge; ``run()`` is what ``python main.py`` calls.

The window shows before anything slow happens: memory opens and the model loads on the kernel's
threads, and the window says what is still loading.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from app import settings
from app.gui.bridge import Bridge
from app.gui.confirm_dialog import ConfirmDialog
from app.gui.main_window import MainWindow
from app.gui.quick_box import QuickBox
from app.gui.single_instance import InstanceServer
from app.gui.tray import Tray, state_icon

log = logging.getLogger(__name__)


def _result_text(result: Any) -> str:
    return result.answer or result.error or f"finished ({result.stop})"


class DesktopApp(QObject):
    notified = Signal(str, str)
    """(title, text) of each notification shown (the tray shows it when there is one)."""
    quitting = Signal()

    def __init__(self, bridge: Bridge | None = None, *, tray: bool | None = None, first_run: bool = True) -> None:
        """``tray``: None shows one where the desktop has a tray, True always, False never."""
        super().__init__()
        self.bridge = bridge or Bridge()
        self.window = MainWindow(self.bridge)
        self.quick_box = QuickBox()
        self.server = InstanceServer(self.bridge, self)
        wanted = QSystemTrayIcon.isSystemTrayAvailable() if tray is None else tray
        self.tray: Tray | None = Tray(self) if wanted else None
        self.dialog: ConfirmDialog | None = None
        self.inspector: Any = None
        self._first_run = first_run
        self._told_about_tray = False
        self._wire()

    def _wire(self) -> None:
        bridge, window = self.bridge, self.window
        bridge.confirm_requested.connect(self.confirm)
        window.quick_requested.connect(self.quick_box.open)
        window.settings_requested.connect(self.open_settings)
        window.inspector_requested.connect(self.open_inspector)
        window.quit_requested.connect(self.quit)
        window.hidden_to_tray.connect(self._hidden)
        self.quick_box.submitted.connect(self.run_quick)
        self.server.show_requested.connect(window.bring_forward)
        if self.tray is not None:
            tray = self.tray
            window.keep_in_tray = True
            tray.show_requested.connect(window.bring_forward)
            tray.quick_requested.connect(self.quick_box.open)
            tray.command_chosen.connect(self.run_quick)
            tray.quit_requested.connect(self.quit)
            bridge.state_changed.connect(tray.set_state)
            self.notified.connect(lambda title, text: tray.notify(title, text))
            self.refresh_commands()

    # -- start and stop -----------------------------------------------------------------------
    def start(self) -> None:
        self.server.listen()
        if self.tray is not None:
            self.tray.icon.show()
        self.window.show()
        self.bridge.start()
        if self._first_run:
            QTimer.singleShot(0, self._maybe_first_run)

    def _maybe_first_run(self) -> None:
        from app.gui.first_run import FirstRunDialog

        try:
            conf = settings.load()
        except settings.SettingsError as exc:
            self.window.chat.add_error(str(exc))
            return
        if FirstRunDialog.needed(conf):
            FirstRunDialog(self.bridge, self.window).open()

    def quit(self) -> None:
        """Quit for real: the turn in flight stops, the context's state is saved, the tray goes."""
        self.shutdown()
        QApplication.quit()

    def shutdown(self) -> None:
        """Everything :meth:`quit` does but ending the event loop."""
        if self.bridge.closed:
            return
        self.quitting.emit()
        if self.dialog is not None:
            self.dialog.reject()
        self.quick_box.hide()
        self.window.hide()
        if self.tray is not None:
            self.tray.icon.hide()
        self.server.close()
        self.bridge.close()

    def _hidden(self) -> None:
        if not self._told_about_tray:
            self._told_about_tray = True
            self.notify("Pagemind is still running", "It stays in the tray; choose Quit in its menu to stop it.")

    # -- requests and answers ---------------------------------------------------------------------
    def run_quick(self, text: str) -> None:
        """A request from the quick box or the tray menu: its result comes back as a notification."""
        def done(result: Any) -> None:
            self.notify("Pagemind", _result_text(result), error=result.stop not in ("replied", "done"))
            self.refresh_commands()

        try:
            self.bridge.send(text, "quick", done=done)
        except ValueError as exc:
            self.notify("Pagemind", str(exc), error=True)

    def notify(self, title: str, text: str, error: bool = False) -> None:
        self.notified.emit(title, text)
        if self.tray is None:
            self.window.statusBar().showMessage(f"{title}: {text}", 10_000)

    def refresh_commands(self) -> None:
        if self.tray is None:
            return
        try:
            conf = settings.load()
        except settings.SettingsError:
            return
        self.tray.set_commands(conf.pinned_commands, conf.recent_commands)

    def confirm(self, request: Any) -> None:
        """The gate asks: a dialog over the window, or on its own when the window is hidden."""
        parent = self.window if self.window.isVisible() else None
        self.dialog = ConfirmDialog(request, parent)
        self.dialog.answered.connect(self._answered)
        self.dialog.open()
        self.dialog.raise_()
        self.dialog.activateWindow()

    def _answered(self, answer: str) -> None:
        self.dialog = None
        self.bridge.answer(answer)

    # -- dialogs ------------------------------------------------------------------------------
    def open_settings(self) -> None:
        from app.gui.settings_dialog import SettingsDialog

        SettingsDialog(self.bridge, self.window).open()

    def open_inspector(self) -> None:
        from app.gui.inspector import MemoryInspector

        if self.inspector is None:
            self.inspector = MemoryInspector(self.bridge, self.window)
        self.inspector.show()
        self.inspector.raise_()


def run(startup_check: bool = False) -> int:
    """Open the window (or hand over to the running app); returns the exit code."""
    from app.cli import handoff

    try:
        if handoff.send({"op": "show"}) is not None:
            print("pagemind: already running; its window was brought forward", file=sys.stderr)
            return 0
    except handoff.ForeignInstance as exc:
        print(f"pagemind: {exc}", file=sys.stderr)
        return 1
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Pagemind")
    app.setDesktopFileName("pagemind")  # matches the installed pagemind.desktop
    app.setWindowIcon(state_icon("idle", 256))
    app.setQuitOnLastWindowClosed(False)
    desktop = DesktopApp(first_run=not startup_check)
    _quit_on_signals(desktop)
    desktop.start()
    if startup_check:
        QTimer.singleShot(0, lambda: _report_start(desktop))
    return app.exec()


def _quit_on_signals(desktop: DesktopApp) -> None:
    """SIGTERM (a logout, ``kill``) and Ctrl+C in a terminal quit like Ctrl+Q: the state is saved."""
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: QTimer.singleShot(0, desktop.quit))
    wake = QTimer(desktop)  # Python runs signal handlers only between bytecodes, not inside Qt's loop
    wake.timeout.connect(lambda: None)
    wake.start(250)


STARTUP_CHECK_SECONDS = 60
"""How long --startup-check waits for memory to open before it reports failure."""


def _report_start(desktop: DesktopApp) -> None:
    """Print how long the window took to show, measured from the process's start; then wait for
    memory to open and quit: 0 when it opened (a repair it needed is printed), 1 when it did not."""
    import psutil

    QApplication.processEvents()
    shown = time.time() - psutil.Process().create_time()
    print(f"window shown after {shown:.2f} s", flush=True)

    done: list[int] = []

    def finish(code: int, line: str = "") -> None:
        if done:
            return
        done.append(code)
        if line:
            print(f"pagemind: {line}", file=sys.stderr, flush=True)
        desktop.shutdown()
        QApplication.exit(code)

    def opened() -> None:
        finish(0, desktop.bridge.memory_notice() or "")

    desktop.bridge.ready.connect(opened)
    desktop.bridge.error.connect(lambda text: not desktop.bridge.is_ready and finish(1, text))
    if desktop.bridge.is_ready:
        opened()
    QTimer.singleShot(STARTUP_CHECK_SECONDS * 1000,
                      lambda: finish(1, f"memory did not open within {STARTUP_CHECK_SECONDS} s"))
