"""What a tool call acts on, as the permission gate judged it: resolved paths and other subjects.

The gate asks the tool for a :class:`Judgement` of the model's arguments (``Tool.judge``), lets
the policy decide on it, shows it to the user, judges again after the user answered (refusing
when anything changed meanwhile), and then hands the same judgement to the tool, which acts on
exactly those paths and that subject and never resolves the model's text again.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.fs.resolve import real_home, resolve


class Refused(Exception):
    """The call is refused before anyone is asked (a protected process, a forbidden link ...)."""


@dataclass(frozen=True)
class Moved:
    """Marks a path parameter whose object is moved or trashed as a whole: a final symlink is the
    object itself (never followed), and everything below a folder goes along with it."""


@dataclass(frozen=True)
class Target:
    """One path argument, resolved."""

    param: str
    given: str
    """As the model (or the user) wrote it."""
    path: Path
    moved: bool = False
    """The tool moves or trashes it as a whole (see :class:`Moved`)."""
    identity: tuple[int, int, int] | None = None
    """(device, inode, file type) of what is there now; None when nothing is."""

    def shown(self) -> str:
        """The path for a confirmation: the given text, and where it really leads when that differs."""
        written = os.path.expanduser(self.given) if self.given else ""
        if written and not os.path.isabs(written):
            written = str(Path.home() / written)
        if written and os.path.normpath(written) == str(self.path):
            return str(self.path)
        return f"{self.given} -> really {self.path}" if self.given else str(self.path)


@dataclass(frozen=True)
class Subject:
    """What a call acts on besides paths: an application's desktop entry, processes, a link."""

    key: str
    """Its identity: standing rules bind to it, and it must be unchanged after the user answers."""
    shown: str
    """How the confirmation names it."""
    data: Any = None
    """What the tool needs to act on exactly this subject (a desktop entry, pids with start times)."""
    asks: str | None = None
    """Why this call always asks, whatever the rules (arguments for a program, say)."""
    targets: tuple[Target, ...] = ()
    """Path-like parts of it (a file handed to a program), judged like path arguments."""


@dataclass(frozen=True)
class Judgement:
    targets: tuple[Target, ...] = ()
    subject: Subject | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def all_targets(self) -> tuple[Target, ...]:
        return self.targets + (self.subject.targets if self.subject else ())

    def path(self, param: str, index: int = 0) -> Path:
        """The resolved path of argument ``param`` (its ``index``-th item for a list)."""
        matches = [t for t in self.targets if t.param == param]
        return matches[index].path

    def paths(self, param: str) -> list[Path]:
        return [t.path for t in self.targets if t.param == param]

    def change_since(self, earlier: Judgement) -> str | None:
        """What differs from ``earlier`` (the judgement the user answered), or None."""
        for old, new in zip(earlier.all_targets(), self.all_targets(), strict=False):
            if old.path != new.path:
                return f"{old.given or old.path} now leads to {new.path}, not {old.path}"
            if old.identity != new.identity:
                return f"{old.path} was replaced or changed"
        if len(earlier.all_targets()) != len(self.all_targets()):
            return "the paths it names changed"
        if (earlier.subject is None) != (self.subject is None) or (
                earlier.subject and self.subject and earlier.subject.key != self.subject.key):
            shown = earlier.subject.shown if earlier.subject else "what it acts on"
            return f"{shown} is no longer the same"
        return None


def identity(path: Path, follow: bool) -> tuple[int, int, int] | None:
    """(device, inode, file type) of ``path`` (of the link itself when not ``follow``), None if absent."""
    try:
        info = os.stat(path) if follow else os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:  # a link loop, a name too long: judged by its path alone
        return None
    return (info.st_dev, info.st_ino, stat.S_IFMT(info.st_mode))


def target(param: str, given: str, moved: bool = False) -> Target:
    """Resolve one path argument and note what is there now."""
    path = resolve(given, follow_link=not moved)
    return Target(param, given, path, moved, identity(path, follow=not moved))


def looks_like_path(text: str) -> bool:
    """Whether a program argument names a file: ``/...``, ``~...``, ``./...``, ``../...`` or ``file:``."""
    return text.startswith(("/", "~", "./", "../", "file:")) or text in (".", "..")


def home_relative(path: Path) -> str:
    """``path`` shown with ``~`` for the home folder, where it lies below it."""
    home = real_home()
    if path == home or home in path.parents:
        return "~" + str(path)[len(str(home)):]
    return str(path)
