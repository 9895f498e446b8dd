"""Which files and folders of a watched folder are never indexed.

Built-in rules drop hidden entries, tool and build folders, and the temporary and
lock files editors leave next to documents. User patterns are fnmatch-style:
a pattern containing "/" is matched against the path relative to the watched
folder (posix separators; "*" may match "/" too), any other pattern against the
name alone. A pattern ending in "/" applies to folders only.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatch
from pathlib import Path, PurePath

DEFAULT_DIRS: frozenset[str] = frozenset(
    {
        ".git", ".hg", ".svn", "node_modules", "__pycache__", "build", "dist", "target",
        ".venv", "venv", ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache",
        ".cache", ".idea", ".vscode", ".gradle", "site-packages", ".next", ".terraform",
    }
)

DEFAULT_FILE_PATTERNS: tuple[str, ...] = (
    "~$*",  # Microsoft Office owner files
    ".~lock.*#",  # LibreOffice locks
    "*~",  # backups (Emacs, gedit, ...)
    ".#*",  # Emacs locks
    "#*#",  # Emacs auto-saves
    "*.swp",  # Vim swap files
    "*.swo",
    "*.swx",
    "*.tmp",
    "*.temp",
    "*.part",  # partial downloads
    "*.partial",
    "*.crdownload",
    "*.download",
    "4913",  # Vim's write-permission probe
    "Thumbs.db",
    "desktop.ini",
    ".DS_Store",
)


class IgnoreRules:
    """The built-in rules plus optional user patterns."""

    def __init__(self, patterns: Sequence[str] = ()) -> None:
        self.patterns: tuple[str, ...] = tuple(patterns)
        self._names: list[tuple[str, bool]] = []  # (pattern, folders only)
        self._paths: list[tuple[str, bool]] = []
        for raw in self.patterns:
            pattern = raw.strip()
            dir_only = pattern.endswith("/")
            pattern = pattern.strip("/")
            if not pattern:
                continue
            (self._paths if "/" in pattern else self._names).append((pattern, dir_only))

    def __repr__(self) -> str:
        return f"IgnoreRules({list(self.patterns)!r})"

    def _user_match(self, name: str, relative: str, is_dir: bool) -> bool:
        relative = relative or name
        return any(fnmatch(name, p) for p, only in self._names if is_dir or not only) or any(
            fnmatch(relative, p) for p, only in self._paths if is_dir or not only
        )

    def ignored_dir(self, name: str, relative: str = "") -> bool:
        """Whether a folder named ``name`` (at ``relative`` below the root) is skipped with all it holds."""
        if name.startswith(".") or name in DEFAULT_DIRS or name.endswith(".egg-info"):
            return True
        return self._user_match(name, relative, True)

    def ignored_file(self, name: str, relative: str = "") -> bool:
        """Whether a file named ``name`` (at ``relative`` below the root) is skipped."""
        if name.startswith(".") or any(fnmatch(name, p) for p in DEFAULT_FILE_PATTERNS):
            return True
        return self._user_match(name, relative, False)

    def ignored_path(self, path: Path, root: Path, is_dir: bool = False) -> bool:
        """Whether ``path`` is skipped, judging every folder on the way from ``root``.

        Purely lexical: the disk is not read, so the path may be gone. The last part
        is judged as a file unless ``is_dir``. A path outside ``root`` is skipped;
        ``root`` itself is not.
        """
        try:
            parts = PurePath(path).relative_to(root).parts
        except ValueError:
            return True
        if ".." in parts:
            return True
        for index, name in enumerate(parts):
            relative = "/".join(parts[: index + 1])
            last = index == len(parts) - 1
            if last and not is_dir:
                return self.ignored_file(name, relative)
            if self.ignored_dir(name, relative):
                return True
        return False
