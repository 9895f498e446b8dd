"""Typed user settings, kept in ``settings.toml`` in the config directory."""

from __future__ import annotations

import dataclasses
import logging
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

import tomli_w

from app import paths

log = logging.getLogger(__name__)


class SettingsError(ValueError):
    """The settings file is unreadable or holds a value of the wrong type."""


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


_TYPES = {"str": str, "int": int, "float": float, "list[str]": list}


def load(path: Path | None = None) -> Settings:
    """Read the settings; a missing file gives the defaults, unknown keys are ignored."""
    path = path or paths.settings_file()
    if not path.exists():
        return Settings()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
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


def save(settings: Settings, path: Path | None = None) -> None:
    """Write the settings atomically (a crash never leaves half a file)."""
    settings.validate()
    path = path or paths.settings_file()
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(tomli_w.dumps(dataclasses.asdict(settings)), encoding="utf-8")
    os.replace(tmp, path)
