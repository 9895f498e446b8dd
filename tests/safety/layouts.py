"""The four home layouts the gate is attacked on, built for real below tmp_path.

- ``separate``: Pagemind's folders below their own ``PAGEMIND_HOME``;
- ``normal``: a normal install (``~/.config/pagemind``, ``~/.local/share/pagemind`` ...);
- ``dotfiles``: a normal install where ``~/.config`` and ``~/.local`` are symlinks into ``~/dotfiles``;
- ``linked-home``: ``$HOME`` itself is a symlink to the real home folder.

Each layout has ``~/Notes`` (a folder the user may grant rules on), a shell start-up file,
``~/.ssh``, an autostart folder and an application folder, a folder outside home, and the trash
(``XDG_DATA_HOME`` is left unset, so the trash is the real ``~/.local/share/Trash``).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from send2trash import plat_other

from app import paths, settings

LAYOUTS = ("separate", "normal", "dotfiles", "linked-home")
XDG = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_DATA_DIRS")


@dataclass(frozen=True)
class Layout:
    name: str
    home: Path
    """$HOME as set (a symlink in the linked-home layout)."""
    real_home: Path
    outside: Path

    def pagemind_folders(self) -> dict[str, Path]:
        return paths.all_paths()


def build(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Layout:
    real_home = tmp_path / "home-real" if name == "linked-home" else tmp_path / "home"
    real_home.mkdir()
    home = real_home
    if name == "linked-home":
        home = tmp_path / "home"
        home.symlink_to(real_home)
    for variable in XDG:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(home))
    if name == "separate":
        monkeypatch.setenv(paths.HOME_ENV, str(tmp_path / "pagemind-home"))
    else:
        monkeypatch.delenv(paths.HOME_ENV, raising=False)
    if name == "dotfiles":
        for kind in ("config", "local"):
            (real_home / "dotfiles" / kind).mkdir(parents=True)
            (real_home / f".{kind}").symlink_to(real_home / "dotfiles" / kind)
    (real_home / "Notes").mkdir()
    (real_home / "Notes" / "list.txt").write_text("milk\n")
    (real_home / ".bashrc").write_text("# the user's shell start-up\n")
    (real_home / ".ssh").mkdir(mode=0o700)
    (real_home / ".ssh" / "authorized_keys").write_text("ssh-ed25519 AAAA user@laptop\n")
    (real_home / ".config" / "autostart").mkdir(parents=True)
    (real_home / ".local" / "share" / "applications").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not Pagemind's to touch\n")
    importlib.reload(plat_other)  # send2trash reads XDG_DATA_HOME when imported
    for folder in paths.all_paths().values():  # made, as a running Pagemind has them
        folder.mkdir(parents=True, exist_ok=True)
    settings.save(settings.Settings(allowed_roots=["~"]))
    (paths.data_dir() / "pagemind.duckdb").write_bytes(b"stand-in")
    return Layout(name, home, Path(os.path.realpath(home)), outside)
