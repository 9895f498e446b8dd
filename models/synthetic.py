"""Random-weight GGUF chat models, for tests and benchmarks.

``tiny`` is a two-layer model of well under 1 MB that llama.cpp loads in milliseconds: tests use it
to run the real runtime (templates, grammars, KV reuse, saved states) without a real model.
``shape_alike`` has the dimensions of Qwen2.5-0.5B (hidden 896, 24 layers, FFN 4864, 14 heads,
2 KV heads, F16) and a 152k vocabulary, so it costs what the real model costs per token.

Both use the qwen2 architecture and a byte-level BPE vocabulary: the 256 byte tokens, multi-byte
tokens made only of printable ASCII (so every token is valid UTF-8 on its own), at least one merge,
and the ChatML special tokens with a ChatML chat template.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import string
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
_PRINTABLE = list(string.ascii_lowercase + " " + string.ascii_uppercase + string.digits + string.punctuation)


@dataclass(frozen=True)
class Shape:
    n_embd: int
    n_layer: int
    n_ff: int
    n_head: int
    n_head_kv: int
    n_vocab: int
    n_ctx_train: int
    dtype: type = np.float32


TINY = Shape(n_embd=64, n_layer=2, n_ff=128, n_head=4, n_head_kv=2, n_vocab=1024, n_ctx_train=4096)
QWEN_0_5B = Shape(
    n_embd=896, n_layer=24, n_ff=4864, n_head=14, n_head_kv=2, n_vocab=151_936,
    n_ctx_train=32_768, dtype=np.float16,
)


def _byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters (space becomes 'Ġ')."""
    visible = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    mapping = {b: chr(b) for b in visible}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def build_vocab(n_normal: int) -> tuple[list[str], list[str]]:
    """``n_normal`` byte-level BPE tokens (bytes, then ASCII pairs, then triples) and their merges.

    Every multi-byte token is printable ASCII, so it is valid UTF-8 by itself; each one has the
    merge that builds it from a shorter token and one more character.
    """
    b2u = _byte_to_unicode()
    tokens = [b2u[b] for b in range(256)]
    merges: list[str] = []
    seen = set(tokens)
    for length in itertools.count(2):
        for combo in itertools.product(_PRINTABLE, repeat=length):
            if len(tokens) >= n_normal:
                return tokens, merges
            text = "".join(b2u[ord(c)] for c in combo)
            if text in seen:
                continue
            head = "".join(b2u[ord(c)] for c in combo[:-1])
            tokens.append(text)
            seen.add(text)
            merges.append(f"{head} {b2u[ord(combo[-1])]}")
    raise AssertionError("unreachable")


def write_model(
    path: Path,
    shape: Shape,
    seed: int = 0,
    name: str = "synthetic",
    chat_template: str | None = CHATML_TEMPLATE,
    architecture: str = "qwen2",
    duplicate_token: bool = False,
) -> Path:
    """Write a random GGUF of ``shape`` to ``path`` (atomically) and return the path.

    ``chat_template`` None stores no template; ``architecture`` other than qwen2 only makes sense
    for files meant to be refused. ``duplicate_token`` lists one token twice in the vocabulary, a
    malformation on which llama.cpp aborts the whole process while loading (for crash tests).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_normal = shape.n_vocab - len(SPECIAL_TOKENS)
    tokens, merges = build_vocab(n_normal)
    if duplicate_token:
        tokens[-1] = tokens[-2]
    tokens += list(SPECIAL_TOKENS)
    token_types = [gguf.TokenType.NORMAL] * n_normal + [gguf.TokenType.CONTROL] * len(SPECIAL_TOKENS)
    im_end = tokens.index("<|im_end|>")

    tmp = path.with_name(path.name + ".part")
    writer = gguf.GGUFWriter(str(tmp), architecture)
    writer.add_name(name)
    writer.add_context_length(shape.n_ctx_train)
    writer.add_embedding_length(shape.n_embd)
    writer.add_block_count(shape.n_layer)
    writer.add_feed_forward_length(shape.n_ff)
    writer.add_head_count(shape.n_head)
    writer.add_head_count_kv(shape.n_head_kv)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_freq_base(1_000_000.0)
    writer.add_file_type(
        gguf.LlamaFileType.MOSTLY_F16 if shape.dtype == np.float16 else gguf.LlamaFileType.ALL_F32
    )
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types(token_types)
    writer.add_token_merges(merges)
    writer.add_eos_token_id(im_end)
    writer.add_pad_token_id(tokens.index("<|endoftext|>"))
    writer.add_bos_token_id(tokens.index("<|endoftext|>"))
    writer.add_add_bos_token(False)
    if chat_template is not None:
        writer.add_chat_template(chat_template)

    def weight(*dims: int, scale: float = 0.02) -> np.ndarray:
        return (rng.standard_normal(dims, dtype=np.float32) * scale).astype(shape.dtype)

    def ones(n: int) -> np.ndarray:
        return np.ones(n, dtype=np.float32)

    head_dim = shape.n_embd // shape.n_head
    n_kv = head_dim * shape.n_head_kv
    writer.add_tensor("token_embd.weight", weight(shape.n_vocab, shape.n_embd, scale=1.0))
    writer.add_tensor("output_norm.weight", ones(shape.n_embd))
    for i in range(shape.n_layer):
        blk = f"blk.{i}"
        writer.add_tensor(f"{blk}.attn_norm.weight", ones(shape.n_embd))
        writer.add_tensor(f"{blk}.attn_q.weight", weight(shape.n_embd, shape.n_embd))
        writer.add_tensor(f"{blk}.attn_q.bias", np.zeros(shape.n_embd, dtype=np.float32))
        writer.add_tensor(f"{blk}.attn_k.weight", weight(n_kv, shape.n_embd))
        writer.add_tensor(f"{blk}.attn_k.bias", np.zeros(n_kv, dtype=np.float32))
        writer.add_tensor(f"{blk}.attn_v.weight", weight(n_kv, shape.n_embd))
        writer.add_tensor(f"{blk}.attn_v.bias", np.zeros(n_kv, dtype=np.float32))
        writer.add_tensor(f"{blk}.attn_output.weight", weight(shape.n_embd, shape.n_embd))
        writer.add_tensor(f"{blk}.ffn_norm.weight", ones(shape.n_embd))
        writer.add_tensor(f"{blk}.ffn_gate.weight", weight(shape.n_ff, shape.n_embd))
        writer.add_tensor(f"{blk}.ffn_up.weight", weight(shape.n_ff, shape.n_embd))
        writer.add_tensor(f"{blk}.ffn_down.weight", weight(shape.n_embd, shape.n_ff))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, path)
    return path


def tiny(path: Path, seed: int = 0, n_ctx_train: int = TINY.n_ctx_train, *,
         chat_template: str | None = CHATML_TEMPLATE, architecture: str = "qwen2",
         duplicate_token: bool = False) -> Path:
    """A two-layer chat model of a few hundred KB, for tests."""
    shape = dataclasses.replace(TINY, n_ctx_train=n_ctx_train)
    return write_model(path, shape, seed=seed, name="pagemind-tiny", chat_template=chat_template,
                       architecture=architecture, duplicate_token=duplicate_token)


def crashing(path: Path, seed: int = 0) -> Path:
    """A tiny model with a malformed vocabulary that makes llama.cpp abort while loading it."""
    return write_model(path, TINY, seed=seed, name="pagemind-crashing", duplicate_token=True)


def shape_alike(path: Path, seed: int = 0) -> Path:
    """A random model with Qwen2.5-0.5B's dimensions and vocabulary size, for benchmarks."""
    return write_model(path, QWEN_0_5B, seed=seed, name="pagemind-shape-alike-0.5b")
