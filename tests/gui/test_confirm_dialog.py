"""The confirmation shows what a call really acts on and the exact rule "Always allow here" grants."""

from __future__ import annotations

from app.gui.confirm_dialog import ConfirmDialog
from app.safety.confirm import Request


def test_the_dialog_shows_the_real_target_and_the_rule(qtbot):
    request = Request(tool="write_file", args={"path": "~/Notes/innocent.txt", "content": "x"}, risk="write",
                      reason="~/.bashrc is a sensitive place", description="run write_file(...)", can_always=False,
                      targets=("~/Notes/innocent.txt -> really /home/ann/.bashrc",))
    dialog = ConfirmDialog(request)
    qtbot.addWidget(dialog)
    assert "really /home/ann/.bashrc" in dialog.details.text() and not dialog.details.isHidden()
    assert dialog.always_button.isHidden()

    granted = Request(tool="write_file", args={"path": "~/Notes/a.txt"}, risk="write", reason="write actions ask",
                      description="run write_file(...)", can_always=True, targets=("/home/ann/Notes/a.txt",),
                      rule="write /home/ann/Notes")
    dialog = ConfirmDialog(granted)
    qtbot.addWidget(dialog)
    assert "'always' grants the rule: write /home/ann/Notes" in dialog.details.text()
    assert dialog.always_button.toolTip() == "Grants the standing rule: write /home/ann/Notes"
