"""Sentence embeddings from a GGUF embedding model, computed in-process by llama.cpp.

Only the model runner process imports this module. Texts are packed several to a llama.cpp
batch, each as its own sequence; the model's pooling (mean for sentence-transformers BERT
models) turns each sequence into one vector, which is L2-normalised here.
"""

from __future__ import annotations

import os
from typing import Sequence

import llama_cpp
import numpy as np

from models import gguf_file
from models.errors import ModelError, ModelLoadError
from models.interface import ModelInfo
from models.engine.llama_env import clear_log, default_threads, last_error

MAX_TOKENS = 2048
"""A batch holds at most this many tokens (fewer when the model's context is shorter)."""


class LlamaEmbedder:
    """An embedding GGUF loaded with llama.cpp; ``embed`` gives unit-length float32 vectors."""

    def __init__(self, path: str | os.PathLike[str], *, n_threads: int = 0) -> None:
        summary = gguf_file.inspect(path)
        threads = n_threads or default_threads()
        clear_log()
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(summary.path),
                embedding=True,
                n_ctx=0,  # the model's own context length
                n_batch=MAX_TOKENS,
                n_ubatch=MAX_TOKENS,  # non-causal models need a whole batch in one ubatch
                n_threads=threads,
                n_threads_batch=threads,
                flash_attn=True,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            detail = last_error() or str(exc)
            raise ModelLoadError(f"llama.cpp cannot load {summary.path.name} as an embedder: {detail}") from None
        if self._llm.pooling_type() == llama_cpp.LLAMA_POOLING_TYPE_NONE:
            self._llm.close()
            raise ModelLoadError(f"{summary.path.name} has no pooling: it embeds tokens, not texts")

        self.dim: int = self._llm.n_embd()
        self.max_tokens: int = self._llm.n_batch
        """The longest sequence, special tokens included; longer texts are cut to fit."""
        self._max_sequences = min(self.max_tokens, llama_cpp.llama_max_parallel_sequences())
        vocab = llama_cpp.llama_model_get_vocab(self._llm.model)
        specials = self._llm.tokenize(b"", add_bos=True)
        n_prefix = 1 if llama_cpp.llama_vocab_get_add_bos(vocab) else 0
        self._prefix, self._suffix = specials[:n_prefix], specials[n_prefix:]
        self._batch = llama_cpp.llama_batch_init(self.max_tokens, 0, 1)
        self._closed = False
        self.info = ModelInfo(
            path=str(summary.path),
            architecture=summary.architecture,
            name=summary.name,
            n_ctx=self._llm.n_ctx(),
            n_ctx_train=llama_cpp.llama_model_n_ctx_train(self._llm.model),
            n_vocab=self._llm.n_vocab(),
            n_embd=self.dim,
            embedding=True,
            chat_template="",
            file_hash=gguf_file.file_hash(summary.path),
        )

    def _tokens(self, text: str) -> list[int]:
        """The text's tokens between the model's special tokens, cut to fit one sequence."""
        room = self.max_tokens - len(self._prefix) - len(self._suffix)
        body = self._llm.tokenize(text.encode("utf-8"), add_bos=False)[:room]
        return self._prefix + body + self._suffix

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Each text's tokens, without the special tokens around a sequence (and not cut to fit)."""
        return [len(self._llm.tokenize(text.encode("utf-8"), add_bos=False)) for text in texts]

    def _run(self, sequences: list[list[int]]) -> np.ndarray:
        """Evaluate the sequences as one llama.cpp batch and return their pooled vectors."""
        batch = self._batch
        n = 0
        for seq_id, tokens in enumerate(sequences):
            for pos, token in enumerate(tokens):
                batch.token[n] = token
                batch.pos[n] = pos
                batch.n_seq_id[n] = 1
                batch.seq_id[n][0] = seq_id
                batch.logits[n] = True
                n += 1
        batch.n_tokens = n
        memory = llama_cpp.llama_get_memory(self._llm.ctx)
        if memory:
            llama_cpp.llama_memory_clear(memory, True)
        status = llama_cpp.llama_decode(self._llm.ctx, batch)
        if status != 0:
            raise ModelError(f"llama.cpp could not embed {len(sequences)} texts (status {status})")
        vectors = np.empty((len(sequences), self.dim), dtype=np.float32)
        for seq_id in range(len(sequences)):
            pointer = llama_cpp.llama_get_embeddings_seq(self._llm.ctx, seq_id)
            if not pointer:
                raise ModelError("llama.cpp returned no pooled embedding for a text")
            vectors[seq_id] = np.ctypeslib.as_array(pointer, shape=(self.dim,))
        return vectors

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """An (n, dim) float32 array of L2-normalised vectors, one per text, in order.

        Up to ``batch_size`` texts go to llama.cpp together, as long as their tokens fit one
        batch; a text longer than ``max_tokens`` is cut to fit.
        """
        if self._closed:
            raise ModelError("the embedding model has been closed")
        limit = max(1, min(batch_size, self._max_sequences))
        parts: list[np.ndarray] = []
        pending: list[list[int]] = []
        pending_tokens = 0
        for text in texts:
            tokens = self._tokens(text)
            full = len(pending) == limit or pending_tokens + len(tokens) > self.max_tokens
            if pending and full:
                parts.append(self._run(pending))
                pending, pending_tokens = [], 0
            pending.append(tokens)
            pending_tokens += len(tokens)
        if pending:
            parts.append(self._run(pending))
        if not parts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = np.concatenate(parts)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, np.finfo(np.float32).tiny)

    def close(self) -> None:
        """Free the batch and the model; the embedder cannot be used afterwards."""
        if not self._closed:
            self._closed = True
            llama_cpp.llama_batch_free(self._batch)
            self._llm.close()
