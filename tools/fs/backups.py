"""Backups taken before a file is replaced, and replacing a file in one step."""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from app import paths


def backup(file: Path) -> Path:
    """A copy of ``file`` (bytes, mode and times) under a new name in Pagemind's backups folder."""
    folder = paths.data_dir() / "backups"
    folder.mkdir(exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    copy = folder / f"{stamp}-{uuid.uuid4().hex[:8]}-{file.name[:100]}"
    shutil.copy2(file, copy)
    return copy


def replace(file: Path, write: Callable[[BinaryIO], object], mode_from: Path) -> None:
    """Replace ``file`` at once: ``write`` fills a new file beside it, which gets the mode of
    ``mode_from`` and is renamed over ``file``; a failure leaves ``file`` as it was."""
    handle, temp = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name[:100]}.", suffix=".pagemind")
    try:
        with os.fdopen(handle, "wb") as out:
            write(out)
        shutil.copymode(mode_from, temp)
        os.replace(temp, file)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
