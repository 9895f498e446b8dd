"""Every path Pagemind uses, from one place.

Directories follow the platform's conventions (platformdirs). Setting ``PAGEMIND_HOME`` puts all
of them below that one folder, which is what the tests and portable installs do.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
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


def backups_dir() -> Path:
    """Copies of files taken before they were replaced (undo restores them)."""
    path = data_dir() / "backups"
    path.mkdir(exist_ok=True)
    return path


def protected_folders() -> list[Path]:
    """Pagemind's own folders, every symlink resolved: the model may read them, never change them.

    With ``PAGEMIND_HOME`` the folder holding them all is protected as a whole.
    """
    found = list(all_paths().values())
    override = _home_override()
    if override is not None:
        found.append(override)
    return sorted({Path(os.path.realpath(folder)) for folder in found})


def prefix_cache_dir() -> Path:
    """Saved KV states of prompt prefixes, keyed by model hash and prefix hash."""
    path = cache_dir() / "prefix-states"
    path.mkdir(parents=True, exist_ok=True)
    return path


SOCKET_PATH_MAX = 103
"""Bytes of a Unix socket path, its terminating NUL left out (sun_path is 104 on macOS, 108 on Linux)."""
SOCKET_DIR_TRIES = 10


def _is_private(folder: str) -> bool:
    """A real directory (never a symlink, which lstat does not follow) owned by this user and closed
    to everyone else: only then can no other local user put or swap a socket inside it."""
    try:
        info = os.lstat(folder)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077


def _make_private(folder: str) -> bool:
    """Create ``folder`` with mode 0700, or accept it if it already exists and is private: in a
    shared temporary folder another user can pre-create any name (OSError when it cannot be made)."""
    try:
        os.mkdir(folder, 0o700)
        os.chmod(folder, 0o700)  # the umask may have taken owner bits; it is ours, just made
    except FileExistsError:
        pass
    return _is_private(folder)


def instance_address() -> str:
    """Where the running app listens for requests: one address per data folder (a path on Linux and
    macOS, a pipe name on Windows).

    The socket sits in a folder only this user can enter, so no other local user can listen there
    first and receive the requests: ``$XDG_RUNTIME_DIR`` when it is usable, else
    ``<tempdir>/pagemind-<uid>``; when someone else holds that name the next one,
    ``pagemind-<uid>-1`` and so on, is taken the same way by every process of this user, so the
    client still finds the server. Raises OSError when no such folder can be had.
    """
    digest = hashlib.sha1(str(data_dir()).encode()).hexdigest()[:12]
    name = f"{APP_NAME}-{digest}"
    if sys.platform == "win32":
        return name
    socket_name = f"{name}.sock"
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")  # used only when it is what the spec promises
    if os.path.isabs(runtime) and _is_private(runtime):
        address = os.path.join(runtime, socket_name)
        if len(os.fsencode(address)) <= SOCKET_PATH_MAX:
            return address
    base = os.path.join(tempfile.gettempdir(), f"{APP_NAME}-{os.getuid()}")
    for n in range(SOCKET_DIR_TRIES):
        folder = base if n == 0 else f"{base}-{n}"
        address = os.path.join(folder, socket_name)
        if len(os.fsencode(address)) > SOCKET_PATH_MAX:
            raise OSError(f"the instance socket path {address} is too long for a Unix socket")
        if _make_private(folder):
            return address
        logging.getLogger(__name__).warning(
            "%s is not a private folder of this user (a symlink, someone else's, or open to others); not using it", folder)
    raise OSError(f"no private folder for the instance socket: {base} to {base}-{SOCKET_DIR_TRIES - 1} are all taken")


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
