"""Inspect a GGUF file before llama.cpp sees it, so a bad file gets a clear one-line error.

Everything here runs in the app's own process without llama.cpp: it reads the header with the
``gguf`` package, checks that every tensor's data lies inside the file, that llama.cpp knows the
architecture, and reads what the app needs (context length, chat template, name).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from app import paths
from models.errors import ModelLoadError

GGUF_MAGIC = b"GGUF"
KNOWN_ARCHITECTURES = frozenset(gguf.MODEL_ARCH_NAMES.values())


@dataclass(frozen=True)
class GGUFSummary:
    path: Path
    architecture: str
    name: str
    context_length: int
    embedding_length: int
    chat_template: str
    file_size: int
    tensor_count: int


def _field(reader: gguf.GGUFReader, key: str) -> object | None:
    field = reader.get_field(key)
    if field is None or not field.types:
        return None
    if field.types[0] == gguf.GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]).decode("utf-8", errors="replace")
    if field.types[0] == gguf.GGUFValueType.ARRAY:
        return None
    return field.parts[field.data[0]].tolist()[0]


def inspect(path: str | os.PathLike[str]) -> GGUFSummary:
    """Read and check a GGUF header; raise ModelLoadError with one line when it is unusable."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelLoadError(f"model file not found: {path}")
    if path.is_dir():
        raise ModelLoadError(f"{path} is a folder, not a GGUF model file")
    size = path.stat().st_size
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelLoadError(f"cannot read {path}: {exc.strerror}") from None
    if magic != GGUF_MAGIC:
        raise ModelLoadError(f"{path} is not a GGUF model file (it does not start with 'GGUF')")
    try:
        reader = gguf.GGUFReader(path, "r")
    except (ValueError, IndexError, KeyError, OSError, UnicodeDecodeError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelLoadError(f"{path} is damaged or truncated ({detail})") from None
    needed = max(
        (int(t.data_offset) + int(t.n_bytes) for t in reader.tensors), default=reader.data_offset
    )
    if needed > size:
        raise ModelLoadError(
            f"{path} is truncated: it has {size:,} bytes but its tensors need {needed:,}"
        )
    arch = _field(reader, "general.architecture")
    if not isinstance(arch, str):
        raise ModelLoadError(f"{path} does not name its model architecture")
    if arch not in KNOWN_ARCHITECTURES:
        raise ModelLoadError(f"{path} uses the architecture {arch!r}, which llama.cpp does not support")
    context = _field(reader, f"{arch}.context_length")
    embedding = _field(reader, f"{arch}.embedding_length")
    template = _field(reader, "tokenizer.chat_template")
    name = _field(reader, "general.name")
    return GGUFSummary(
        path=path,
        architecture=arch,
        name=name if isinstance(name, str) else path.stem,
        context_length=int(context) if isinstance(context, (int, float)) else 0,
        embedding_length=int(embedding) if isinstance(embedding, (int, float)) else 0,
        chat_template=template if isinstance(template, str) else "",
        file_size=size,
        tensor_count=len(reader.tensors),
    )


def check_context(summary: GGUFSummary, n_ctx: int) -> None:
    """Refuse a context window longer than the model was trained for."""
    if summary.context_length and n_ctx > summary.context_length:
        raise ModelLoadError(
            f"a context of {n_ctx:,} tokens is larger than the {summary.context_length:,} "
            f"that {summary.path.name} supports"
        )


def file_hash(path: str | os.PathLike[str]) -> str:
    """sha256 of a model file, cached by (path, size, mtime) so a big model is hashed once."""
    path = Path(path).resolve()
    stat = path.stat()
    key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    index_file = paths.cache_dir() / "model-hashes.json"
    try:
        index = json.loads(index_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        index = {}
    if key in index:
        return index[key]
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    index[key] = digest.hexdigest()
    tmp = index_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(index, indent=0), encoding="utf-8")
    os.replace(tmp, index_file)
    return index[key]


def tokens_hash(tokens: list[int] | np.ndarray) -> str:
    """A stable hash of a token sequence (the key of a saved prefix state)."""
    return hashlib.sha256(np.asarray(tokens, dtype=np.int32).tobytes()).hexdigest()
