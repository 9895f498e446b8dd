"""Saved KV states of prompt prefixes on disk, keyed by (model file hash, prefix token hash).

A file holds a small JSON header (model hash, token count and hash) and the llama.cpp state bytes.
Writes are atomic, and a file whose header does not match what is asked for is ignored, so a
stale or damaged state costs one prefill, never a wrong answer.
"""

from __future__ import annotations

import json
import logging
import os
import struct
from pathlib import Path
from typing import Sequence

from models.gguf_file import tokens_hash

log = logging.getLogger(__name__)

_MAGIC = b"PMKV1\n"
MAX_FILES = 8
MAX_BYTES = 512 * 1024 * 1024
"""States are a cache: beyond this many files, or this many bytes, the least recently used go."""


def _path(directory: Path, model_hash: str, token_hash: str) -> Path:
    return directory / f"{model_hash[:16]}-{token_hash[:32]}.kv"


def save(directory: Path, model_hash: str, tokens: Sequence[int], state: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    token_hash = tokens_hash(list(tokens))
    header = json.dumps(
        {"model": model_hash, "tokens": token_hash, "n_tokens": len(tokens)}
    ).encode()
    path = _path(directory, model_hash, token_hash)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        fh.write(_MAGIC + struct.pack("<I", len(header)) + header)
        fh.write(state)
    os.replace(tmp, path)
    _prune(directory)
    return path


def load(directory: Path, model_hash: str, tokens: Sequence[int]) -> bytes | None:
    token_hash = tokens_hash(list(tokens))
    path = _path(directory, model_hash, token_hash)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("cannot read saved prefix state %s: %s", path, exc)
        return None
    try:
        if not data.startswith(_MAGIC):
            raise ValueError("bad magic")
        (length,) = struct.unpack_from("<I", data, len(_MAGIC))
        start = len(_MAGIC) + 4
        header = json.loads(data[start : start + length])
        if header != {"model": model_hash, "tokens": token_hash, "n_tokens": len(tokens)}:
            raise ValueError("header does not match")
    except (ValueError, struct.error) as exc:
        log.warning("ignoring damaged prefix state %s (%s)", path, exc)
        return None
    os.utime(path)
    return data[start + length :]


def _prune(directory: Path, max_files: int = MAX_FILES, max_bytes: int = MAX_BYTES) -> None:
    """Keep the most recently used states, within ``max_files`` and ``max_bytes`` (at least one)."""
    files = sorted(directory.glob("*.kv"), key=lambda p: p.stat().st_mtime, reverse=True)
    total = 0
    for n, path in enumerate(files):
        total += path.stat().st_size
        if n and (n >= max_files or total > max_bytes):
            path.unlink(missing_ok=True)
