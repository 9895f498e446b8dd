"""Inspect a GGUF file before llama.cpp sees it, so a bad file gets a clear one-line error.

Everything here runs in the app's own process without llama.cpp: it walks the header itself
(skipping arrays, so a big vocabulary costs nothing), checks that every tensor's data lies inside the file, that llama.cpp knows the
architecture, and reads what the app needs (context length, chat template, name).
"""

from __future__ import annotations

import hashlib
import json
import math
import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


class _Header:
    """The key/values (arrays skipped) and tensor extents of a GGUF header, read without parsing
    arrays element by element: a 152k-token vocabulary costs milliseconds, not seconds."""

    def __init__(self, data: mmap.mmap) -> None:
        self.data, self.pos = data, 4
        version, n_tensors, n_kv = self._unpack("<I"), self._unpack("<Q"), self._unpack("<Q")
        if version < 2:
            raise ValueError(f"GGUF version {version} is too old")
        self.values: dict[str, object] = {}
        for _ in range(n_kv):
            key = self._string()
            self.values[key] = self._value(self._unpack("<I"))
        infos = []
        for _ in range(n_tensors):
            name = self._string()
            dims = [self._unpack("<Q") for _ in range(self._unpack("<I"))]
            kind, offset = self._unpack("<I"), self._unpack("<Q")
            block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(kind)]
            infos.append((name, offset, math.prod(dims) // block * type_size))
        alignment = int(str(self.values.get("general.alignment", 32)))
        start = -(-self.pos // alignment) * alignment
        self.tensor_count = len(infos)
        self.tensor_bytes = {name: n for name, _, n in infos}
        self.data_end = max((start + offset + n for _, offset, n in infos), default=start)

    def _unpack(self, fmt: str) -> Any:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def _string(self) -> str:
        length = self._unpack("<Q")
        if self.pos + length > len(self.data):
            raise ValueError("a string runs past the end of the file")
        text = self.data[self.pos : self.pos + length].decode("utf-8", errors="replace")
        self.pos += length
        return text

    def _value(self, kind: int) -> object:
        if kind == _STRING:
            return self._string()
        if kind == _ARRAY:
            item, count = self._unpack("<I"), self._unpack("<Q")
            for _ in range(count) if item in (_STRING, _ARRAY) else ():
                self._value(item)
            if item not in (_STRING, _ARRAY):
                self.pos += count * struct.calcsize(_SCALARS[item])
            return None
        return self._unpack(_SCALARS[kind])


def tensor_bytes(path: str | os.PathLike[str]) -> dict[str, int]:
    """Each tensor's size in bytes, by name, read from the header alone."""
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return _Header(data).tensor_bytes


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
        with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            header = _Header(data)
    except (ValueError, IndexError, KeyError, OSError, struct.error) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelLoadError(f"{path} is damaged or truncated ({detail})") from None
    if header.data_end > size:
        raise ModelLoadError(
            f"{path} is truncated: it has {size:,} bytes but its tensors need {header.data_end:,}"
        )
    values = header.values
    arch = values.get("general.architecture")
    if not isinstance(arch, str):
        raise ModelLoadError(f"{path} does not name its model architecture")
    if arch not in KNOWN_ARCHITECTURES:
        raise ModelLoadError(f"{path} uses the architecture {arch!r}, which llama.cpp does not support")
    context = values.get(f"{arch}.context_length")
    embedding = values.get(f"{arch}.embedding_length")
    template = values.get("tokenizer.chat_template")
    name = values.get("general.name")
    return GGUFSummary(
        path=path,
        architecture=arch,
        name=name if isinstance(name, str) else path.stem,
        context_length=int(context) if isinstance(context, (int, float)) else 0,
        embedding_length=int(embedding) if isinstance(embedding, (int, float)) else 0,
        chat_template=template if isinstance(template, str) else "",
        file_size=size,
        tensor_count=header.tensor_count,
    )


def check_context(summary: GGUFSummary, n_ctx: int) -> None:
    """Refuse a context window longer than the model was trained for."""
    if summary.context_length and n_ctx > summary.context_length:
        raise ModelLoadError(
            f"a context of {n_ctx:,} tokens is larger than the {summary.context_length:,} "
            f"that {summary.path.name} supports"
        )


def fitting_context(path: str | os.PathLike[str], wanted: int) -> int:
    """``wanted`` (the setting), or less when the model was trained for a shorter context."""
    trained = inspect(path).context_length
    return min(wanted, trained) if trained else wanted


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
