"""Every path Pagemind uses, from one place.

Directories follow the platform's conventions (platformdirs). Setting ``PAGEMIND_HOME`` puts all
of them below that one folder, which is what the tests and portable installs do.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import platformdirs

APP_NAME = "pagemind"
HOME_ENV = "PAGEMIND_HOME"
BUNDLED_MODELS = "bundled-models"
"""Inside an installed bundle, the folder of the models it ships (the default embedder)."""


def _home_override() -> Path | None:
    value = os.environ.get(HOME_ENV, "").strip()
    return Path(value).expanduser().resolve() if value else None


@contextlib.contextmanager
def temporary_home(folder: Path) -> Iterator[Path]:
    """Every path below ``folder`` (as ``PAGEMIND_HOME`` does) until the block ends."""
    before = os.environ.get(HOME_ENV)
    os.environ[HOME_ENV] = str(folder)
    try:
        yield folder
    finally:
        if before is None:
            os.environ.pop(HOME_ENV, None)
        else:
            os.environ[HOME_ENV] = before


def _dir(kind: str) -> Path:
    override = _home_override()
    if override is not None:
        path = override / kind
    else:
        path = Path(
            {
                "config": platformdirs.user_config_dir,
                "data": platformdirs.user_data_dir,
                "models": lambda app: os.path.join(platformdirs.user_data_dir(app), "models"),
                "logs": platformdirs.user_log_dir,
                "cache": platformdirs.user_cache_dir,
            }[kind](APP_NAME)
        )
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    return _dir("config")


def data_dir() -> Path:
    return _dir("data")


def models_dir() -> Path:
    return _dir("models")


def logs_dir() -> Path:
    return _dir("logs")


def cache_dir() -> Path:
    return _dir("cache")


def settings_file() -> Path:
    return config_dir() / "settings.toml"


def log_file() -> Path:
    return logs_dir() / "pagemind.log"


def prefix_cache_dir() -> Path:
    """Saved KV states of prompt prefixes, keyed by model hash and prefix hash."""
    path = cache_dir() / "prefix-states"
    path.mkdir(parents=True, exist_ok=True)
    return path


def instance_address() -> str:
    """Where the running app listens for requests: one address per data folder, short enough for
    a Unix socket (a path on Linux and macOS, a pipe name on Windows)."""
    digest = hashlib.sha1(str(data_dir()).encode()).hexdigest()[:12]
    name = f"{APP_NAME}-{digest}"
    if sys.platform == "win32":
        return name
    return os.path.join(tempfile.gettempdir(), f"{name}.sock")


def bundle_dir() -> Path | None:
    """The installed bundle's own files (libraries and data), or None when running from source.

    Only the app's read-only files live there: the user's data, settings and models stay in the
    folders above, the same for both kinds of install.
    """
    if not getattr(sys, "frozen", False):
        return None
    return Path(getattr(sys, "_MEIPASS", os.path.dirname(sys.executable)))


def launcher() -> str:
    """How a user starts Pagemind from a terminal, for messages that name a command."""
    return "pagemind" if bundle_dir() is not None else "python main.py"


def bundled_models_dir() -> Path | None:
    folder = bundle_dir()
    return folder / BUNDLED_MODELS if folder is not None else None


def all_paths() -> dict[str, Path]:
    return {
        "config": config_dir(),
        "data": data_dir(),
        "models": models_dir(),
        "logs": logs_dir(),
        "cache": cache_dir(),
    }


_UNIX_SYSTEM = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc",
                "/root", "/run", "/sbin", "/snap", "/srv", "/sys", "/usr", "/var", "/opt")
_MAC_SYSTEM = ("/System", "/Library", "/private", "/Applications")
_WINDOWS_SYSTEM = ("C:\\Windows", "C:\\Program Files", "C:\\Program Files (x86)", "C:\\ProgramData")


def system_folders() -> list[Path]:
    """The operating system's own folders: never read, changed or indexed on the user's behalf."""
    if sys.platform == "win32":
        return [Path(p) for p in _WINDOWS_SYSTEM]
    extra = _MAC_SYSTEM if sys.platform == "darwin" else ()
    return [Path(p) for p in (*_UNIX_SYSTEM, *extra)]
