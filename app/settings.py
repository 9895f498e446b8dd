"""Typed user settings, kept in ``settings.toml`` in the config directory."""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
import threading
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

import tomli_w

from app import paths

log = logging.getLogger(__name__)

lock = threading.RLock()
"""Held around every load-change-save of the settings, so two threads never lose each other's change."""


class SettingsError(ValueError):
    """The settings file is unreadable or holds a value of the wrong type."""


PINNED_COMMANDS = ("what's using my memory", "show disk usage", "take a screenshot")
MAX_RECENT = 5


@dataclass
class Settings:
    chat_model: str = ""
    """Path of the chat GGUF in use (empty: none chosen yet)."""
    embed_model: str = ""
    """Path of the embedding GGUF (empty: the converted default, once it exists)."""
    context_length: int = 8192
    """Tokens of context; the system prompt and tool list take about 2,200 of them."""
    threads: int = 0
    """llama.cpp threads; 0 picks the number of physical cores."""
    temperature: float = 0.2
    allowed_roots: list[str] = field(default_factory=lambda: ["~"])
    permission_rules: list[str] = field(default_factory=list)
    """Standing permissions the user granted, each "TIER TARGET" (e.g. "write ~/Notes")."""
    heartbeat_minutes: int = 0
    """Wake the assistant every this many minutes with a timer event; 0 leaves it off."""
    watched_folders: list[str] = field(default_factory=list)
    """Folders whose documents are indexed and kept current."""
    ignore_patterns: list[str] = field(default_factory=list)
    """More files and folders to leave out, as glob patterns ("*.log", "drafts/*.md", "private/")."""
    max_file_mb: int = 50
    """Files larger than this are recorded as skipped, not indexed."""
    rescan_minutes: int = 15
    """A full rescan of the watched folders this often catches what the watcher missed; 0 turns it off."""
    remote_url: str = ""
    """An OpenAI-compatible server (http://host:port/v1) used instead of ``chat_model`` when set."""
    remote_model: str = ""
    """The model name to ask the remote server for (empty: the first it serves)."""
    pinned_commands: list[str] = field(default_factory=lambda: list(PINNED_COMMANDS))
    """Quick commands always offered in the tray menu."""
    recent_commands: list[str] = field(default_factory=list)
    """The latest quick commands, newest first (the tray menu shows them)."""
    setup_done: bool = False
    """The first-run set-up was completed or skipped."""
    backup_days: int = 30
    """Backups of replaced files are kept this many days (undo needs them); 0 keeps them forever."""

    def validate(self) -> None:
        if self.context_length < 256:
            raise SettingsError(f"context_length must be at least 256, got {self.context_length}")
        if self.threads < 0:
            raise SettingsError(f"threads must be 0 (automatic) or more, got {self.threads}")
        if self.heartbeat_minutes < 0:
            raise SettingsError(f"heartbeat_minutes must be 0 (off) or more, got {self.heartbeat_minutes}")
        if self.max_file_mb < 1:
            raise SettingsError(f"max_file_mb must be at least 1, got {self.max_file_mb}")
        if self.rescan_minutes < 0:
            raise SettingsError(f"rescan_minutes must be 0 (off) or more, got {self.rescan_minutes}")
        if self.remote_url and not self.remote_url.startswith(("http://", "https://")):
            raise SettingsError(f"remote_url must start with http:// or https://, got {self.remote_url!r}")
        if self.backup_days < 0:
            raise SettingsError(f"backup_days must be 0 (keep forever) or more, got {self.backup_days}")
        if not 0.0 <= self.temperature <= 2.0:
            raise SettingsError(f"temperature must be between 0 and 2, got {self.temperature}")


def _coerce(name: str, expected: type, value: object) -> object:
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SettingsError(f"setting {name!r} must be a list of strings")
        return value
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise SettingsError(
            f"setting {name!r} must be {expected.__name__}, got {type(value).__name__}"
        )
    return value


_TYPES = {"str": str, "int": int, "float": float, "bool": bool, "list[str]": list}


def load(path: Path | None = None) -> Settings:
    """Read the settings; a missing file gives the defaults, unknown keys are ignored."""
    path = path or paths.settings_file()
    if not os.path.lexists(path):
        return Settings()
    try:
        raw = tomllib.loads(_read_regular(path).decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc}") from None
    values = {}
    for f in fields(Settings):
        if f.name in raw:
            values[f.name] = _coerce(f.name, _TYPES[str(f.type)], raw[f.name])
    unknown = sorted(set(raw) - set(values))
    if unknown:
        log.warning("ignoring unknown settings in %s: %s", path, ", ".join(unknown))
    settings = Settings(**values)
    settings.validate()
    return settings


MAX_BYTES = 1 << 20
"""A settings file is small; anything larger is not one."""


def _read_regular(path: Path) -> bytes:
    """The bytes of ``path``, which must be a regular file: a pipe or a device put in its place
    must never make Pagemind wait forever or read without end."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise OSError(f"{path} is not a regular file")
        data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise OSError(f"{path} is larger than {MAX_BYTES // 1024} KB")
    return data


def remember_command(text: str) -> Settings:
    """Put a quick command at the top of the recent list (kept to ``MAX_RECENT``) and save."""
    with lock:
        current = load()
        current.recent_commands = [text, *[c for c in current.recent_commands if c != text]][:MAX_RECENT]
        save(current)
        return current


def save(settings: Settings, path: Path | None = None) -> None:
    """Write the settings atomically (a crash never leaves half a file)."""
    settings.validate()
    path = path or paths.settings_file()
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(tomli_w.dumps(dataclasses.asdict(settings)), encoding="utf-8")
    os.replace(tmp, path)
