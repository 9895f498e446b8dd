"""The converted all-MiniLM-L6-v2 GGUF embeds like the original checkpoint.

The reference is an independent numpy implementation of the checkpoint (BERT's uncased
WordPiece tokenizer and encoder, mean pooling, L2 normalisation) compared with the GGUF
running in llama.cpp through LlamaEmbedder.
"""

from __future__ import annotations

import json
import math
import shutil
import struct
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import llama_cpp
import numpy as np
import pytest

from models.convert import (
    DEFAULT_EMBEDDER_FILE,
    convert_bert,
    default_checkpoint_dir,
    ensure_default_embedder,
)
from models import convert
from models.engine.embedding import LlamaEmbedder
from models.errors import ModelLoadError

SENTENCES = [
    "The cat sits on the mat.",
    "Quarterly revenue grew 12% to $4.5 billion, beating analysts' forecasts!",
    "Don't forget: the meeting moved to Thursday at 3pm (room B-204).",
    "Café owners in Zürich complained about the new naïve regulations.",
    "def fibonacci(n): return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "UNHAPPINESS and unbelievably overwhelming antidisestablishmentarianism",
]
PARAPHRASE = ("The cat sits on the mat.", "A feline is resting on a rug.")
UNRELATED = ("The cat sits on the mat.", "Quarterly revenue grew 12% to $4.5 billion.")


# --- an independent reference implementation -----------------------------------------------


def read_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """All float32 tensors of a safetensors file, as float64 arrays."""
    blob = path.read_bytes()
    (header_size,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + header_size])
    body = blob[8 + header_size :]
    weights = {}
    for name, info in header.items():
        if name != "__metadata__" and info["dtype"] == "F32":
            start, end = info["data_offsets"]
            array = np.frombuffer(body[start:end], dtype="<f4").reshape(info["shape"])
            weights[name] = array.astype(np.float64)
    return weights


def is_punctuation(char: str) -> bool:
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def basic_words(text: str) -> list[str]:
    """BERT uncased pre-tokenization: lowercase, strip accents, split on spaces and punctuation."""
    text = unicodedata.normalize("NFD", text.lower())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    words: list[str] = []
    for chunk in text.split():
        current = ""
        for char in chunk:
            if is_punctuation(char):
                words += [current, char] if current else [char]
                current = ""
            else:
                current += char
        if current:
            words.append(current)
    return words


def wordpiece(word: str, vocab: dict[str, int]) -> list[int]:
    """Greedy longest-match-first split of one word; the whole word is [UNK] if any part fails."""
    ids: list[int] = []
    start = 0
    while start < len(word):
        for end in range(len(word), start, -1):
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                ids.append(vocab[piece])
                start = end
                break
        else:
            return [vocab["[UNK]"]]
    return ids


class ReferenceMiniLM:
    """The checkpoint's sentence embeddings computed with numpy in float64."""

    def __init__(self, checkpoint: Path) -> None:
        self.config = json.loads((checkpoint / "config.json").read_text())
        words = (checkpoint / "vocab.txt").read_text(encoding="utf-8").splitlines()
        self.vocab = {word: i for i, word in enumerate(words)}
        self.w = read_checkpoint(checkpoint / "model.safetensors")
        self.erf = np.frompyfunc(math.erf, 1, 1)

    def tokenize(self, text: str) -> list[int]:
        ids = [self.vocab["[CLS]"]]
        for word in basic_words(text):
            ids += wordpiece(word, self.vocab)
        return ids + [self.vocab["[SEP]"]]

    def layer_norm(self, x: np.ndarray, prefix: str) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        normed = (x - mean) / np.sqrt(var + self.config["layer_norm_eps"])
        return normed * self.w[prefix + ".weight"] + self.w[prefix + ".bias"]

    def dense(self, x: np.ndarray, prefix: str) -> np.ndarray:
        return x @ self.w[prefix + ".weight"].T + self.w[prefix + ".bias"]

    def gelu(self, x: np.ndarray) -> np.ndarray:
        return 0.5 * x * (1.0 + self.erf(x / math.sqrt(2.0)).astype(np.float64))

    def embed(self, texts: list[str]) -> np.ndarray:
        """Pad the batch, mask the padding in attention and pooling, L2-normalise."""
        token_lists = [self.tokenize(text) for text in texts]
        n_batch, n_tokens = len(token_lists), max(len(t) for t in token_lists)
        ids = np.zeros((n_batch, n_tokens), dtype=np.int64)
        mask = np.zeros((n_batch, n_tokens))
        for row, tokens in enumerate(token_lists):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1.0

        x = (
            self.w["embeddings.word_embeddings.weight"][ids]
            + self.w["embeddings.position_embeddings.weight"][:n_tokens]
            + self.w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self.layer_norm(x, "embeddings.LayerNorm")
        n_head = self.config["num_attention_heads"]
        head_dim = self.config["hidden_size"] // n_head
        key_bias = (1.0 - mask)[:, None, None, :] * -1e9
        for i in range(self.config["num_hidden_layers"]):
            p = f"encoder.layer.{i}."

            def heads(t: np.ndarray) -> np.ndarray:
                return t.reshape(n_batch, n_tokens, n_head, head_dim).transpose(0, 2, 1, 3)

            q = heads(self.dense(x, p + "attention.self.query"))
            k = heads(self.dense(x, p + "attention.self.key"))
            v = heads(self.dense(x, p + "attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head_dim) + key_bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            attn = scores / scores.sum(-1, keepdims=True)
            context = (attn @ v).transpose(0, 2, 1, 3).reshape(n_batch, n_tokens, -1)
            x = self.layer_norm(x + self.dense(context, p + "attention.output.dense"),
                                p + "attention.output.LayerNorm")
            hidden = self.gelu(self.dense(x, p + "intermediate.dense"))
            x = self.layer_norm(x + self.dense(hidden, p + "output.dense"), p + "output.LayerNorm")

        pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def checkpoint() -> Path:
    return default_checkpoint_dir()


@pytest.fixture(scope="session")
def gguf_path(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert_bert(checkpoint, tmp_path_factory.mktemp("embedder") / "minilm.gguf")


@pytest.fixture(scope="module")
def embedder(gguf_path: Path) -> Iterator[LlamaEmbedder]:
    model = LlamaEmbedder(gguf_path)
    yield model
    model.close()


@pytest.fixture(scope="module")
def reference(checkpoint: Path) -> ReferenceMiniLM:
    return ReferenceMiniLM(checkpoint)


# --- llama.cpp against the reference ---------------------------------------------------------


@pytest.mark.slow
def test_llama_cpp_tokenizes_like_bert(gguf_path: Path, reference: ReferenceMiniLM) -> None:
    vocab = llama_cpp.Llama(str(gguf_path), vocab_only=True, verbose=False)
    try:
        for text in SENTENCES:
            assert vocab.tokenize(text.encode("utf-8")) == reference.tokenize(text), text
    finally:
        vocab.close()


@pytest.mark.slow
def test_gguf_embeddings_match_the_numpy_reference(
    embedder: LlamaEmbedder, reference: ReferenceMiniLM
) -> None:
    expected = reference.embed(SENTENCES)
    actual = embedder.embed(SENTENCES)
    cosines = np.sum(expected * actual, axis=1)
    assert cosines.min() >= 0.999, dict(zip(SENTENCES, cosines.round(5)))


@pytest.mark.slow
def test_paraphrase_scores_far_above_unrelated_text(embedder: LlamaEmbedder) -> None:
    a, b = embedder.embed(PARAPHRASE)
    c, d = embedder.embed(UNRELATED)
    paraphrase, unrelated = float(a @ b), float(c @ d)
    assert paraphrase > 0.45
    assert unrelated < 0.15
    assert paraphrase - unrelated > 0.35


@pytest.mark.slow
def test_batches_give_the_same_unit_vectors_as_single_texts(embedder: LlamaEmbedder) -> None:
    batched = embedder.embed(SENTENCES, batch_size=4)
    whole = embedder.embed(SENTENCES)
    single = np.concatenate([embedder.embed([text]) for text in SENTENCES])
    assert batched.dtype == np.float32
    assert batched.shape == (len(SENTENCES), 384) == (len(SENTENCES), embedder.dim)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    for vectors in (batched, whole):
        np.testing.assert_allclose(vectors, single, atol=5e-4)
        assert np.sum(vectors * single, axis=1).min() > 0.99999


@pytest.mark.slow
def test_text_longer_than_the_context_is_truncated(embedder: LlamaEmbedder) -> None:
    long_text = " ".join(["the archive of letters grew heavier every winter"] * 150)
    vectors = embedder.embed([long_text, "short text", long_text + " and a different ending"])
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors[0], vectors[2], atol=1e-6)  # the ending was cut off


@pytest.mark.slow
def test_no_texts_give_an_empty_array(embedder: LlamaEmbedder) -> None:
    vectors = embedder.embed([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


# --- conversion ------------------------------------------------------------------------------


def test_a_checkpoint_without_weights_is_refused(checkpoint: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "vocab.txt"):
        shutil.copy(checkpoint / name, broken / name)
    with pytest.raises(ModelLoadError) as excinfo:
        convert_bert(broken, tmp_path / "out.gguf")
    message = str(excinfo.value)
    assert "model.safetensors" in message
    assert "\n" not in message
    assert not (tmp_path / "out.gguf").exists()


def test_a_truncated_weights_file_is_refused(checkpoint: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(checkpoint, broken, ignore=shutil.ignore_patterns("model.safetensors"))
    with (checkpoint / "model.safetensors").open("rb") as source:
        (broken / "model.safetensors").write_bytes(source.read(1_000_000))
    with pytest.raises(ModelLoadError, match="malformed tensor"):
        convert_bert(broken, tmp_path / "out.gguf")
    assert list(tmp_path.glob("*.gguf")) == []
    assert list(tmp_path.glob(".*.tmp")) == []


def test_the_default_embedder_is_converted_once(tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    first = ensure_default_embedder(models_dir)
    assert first == models_dir / DEFAULT_EMBEDDER_FILE
    assert first.read_bytes()[:4] == b"GGUF"
    mtime = first.stat().st_mtime_ns
    second = ensure_default_embedder(models_dir)
    assert second == first
    assert second.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in models_dir.iterdir()) == [DEFAULT_EMBEDDER_FILE]


def test_without_the_package_the_bundled_copy_is_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped_dir = tmp_path / "bundled"
    shipped = ensure_default_embedder(shipped_dir)  # what the bundle's build converts and ships
    monkeypatch.setattr(convert, "_DEFAULT_PACKAGE", "no_such_checkpoint_package")

    models_dir = tmp_path / "models"
    with pytest.raises(ModelLoadError, match="not installed"):
        ensure_default_embedder(models_dir)
    installed = ensure_default_embedder(models_dir, shipped_dir)
    assert installed == models_dir / DEFAULT_EMBEDDER_FILE
    assert installed.read_bytes() == shipped.read_bytes()
    assert sorted(p.name for p in models_dir.iterdir()) == [DEFAULT_EMBEDDER_FILE]  # no temporary left
    assert ensure_default_embedder(models_dir, tmp_path / "gone") == installed  # kept once installed
