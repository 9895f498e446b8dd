"""llama.cpp behind a small interface. Imported only inside the runner process (models/engine/server.py).

One ``Runtime`` owns one chat model: it tokenizes with the model's own tokenizer, renders the
chat template stored in the GGUF, streams tokens, decodes one tool call under a grammar (with
models/constrained.py: the grammar checks the sampled token, and text it forces is evaluated in
batches), reuses the KV cache for a prompt that extends the previous one, and saves or restores
the KV state of a prompt prefix on disk.
"""

from __future__ import annotations

import codecs
import ctypes
import dataclasses
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator, Sequence

import llama_cpp
import numpy as np

from models import gguf_file, template
from models.engine import constrained, prefix_store
from models.errors import GenerationCancelled, ModelError, ModelLoadError
from models.grammar import tool_call_grammar
from models.interface import (
    Generation,
    ChatMessage,
    ModelInfo,
    ToolCall,
    ToolCallError,
    ToolSpec,
)
from models.engine.llama_env import clear_log, default_threads, last_error
from models.toolcall import tool_call_from_generation

log = logging.getLogger(__name__)

GRAMMAR_DECODING = ("jump", "candidate", "full")
"""How a grammar constrains decoding; see ``Runtime.set_grammar_decoding``."""


class Runtime:
    """A chat model loaded in this process."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        n_ctx: int = 4096,
        n_threads: int = 0,
        n_batch: int = 512,
        seed: int = 0,
    ) -> None:
        summary = gguf_file.inspect(path)
        gguf_file.check_context(summary, n_ctx)
        clear_log()
        try:
            self.llm = llama_cpp.Llama(
                model_path=str(summary.path),
                n_ctx=n_ctx,
                n_batch=n_batch,
                n_threads=n_threads or default_threads(),
                seed=seed,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            detail = last_error() or str(exc)
            raise ModelLoadError(f"llama.cpp cannot load {summary.path.name}: {detail}") from None
        model = self.llm._model
        self._bos = model.token_get_text(model.token_bos()) if model.token_bos() >= 0 else ""
        self._eos = model.token_get_text(model.token_eos()) if model.token_eos() >= 0 else ""
        self.info = ModelInfo(
            path=str(summary.path),
            architecture=summary.architecture,
            name=summary.name,
            n_ctx=self.llm.n_ctx(),
            n_ctx_train=model.n_ctx_train(),
            n_vocab=self.llm.n_vocab(),
            n_embd=self.llm.n_embd(),
            embedding=False,
            chat_template=summary.chat_template or template.CHATML,
            file_hash=gguf_file.file_hash(summary.path),
            bos_token=self._bos,
            eos_token=self._eos,
        )
        self.total_evaluated = 0
        """Prompt and generated tokens evaluated since load (the tests' and benchmarks' meter)."""
        self.total_forced = 0
        """Generated tokens that a grammar forced (jump-forward: evaluated in batches, never sampled)."""
        self.last_stats = constrained.DecodeStats()
        """How the last generation's tokens were chosen (sampled, resampled, forced)."""
        self.grammar_decoding = "jump"
        # Constrained decoding needs an index of the vocabulary: a pass over every token, about
        # half a second for 152k of them. It is built in the background and awaited at first use.
        pool = ThreadPoolExecutor(1, thread_name_prefix="vocab-index")
        self._index = pool.submit(constrained.VocabIndex, self.llm)
        pool.shutdown(wait=False)

    # -- text ------------------------------------------------------------------------------
    def tokenize(self, text: str) -> list[int]:
        add_bos = not (self._bos and text.startswith(self._bos))
        return self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def render(self, messages: Sequence[ChatMessage], add_generation_prompt: bool = True) -> str:
        return template.render_for(self.info, messages, add_generation_prompt)

    # -- evaluation ------------------------------------------------------------------------
    def _prefill(self, tokens: list[int], cancelled: Callable[[], bool]) -> int:
        """Bring the KV cache to ``tokens``, evaluating only what differs; returns that count."""
        if len(tokens) >= self.llm.n_ctx():
            raise ModelError(
                f"the prompt has {len(tokens):,} tokens; the context holds {self.llm.n_ctx():,}"
            )
        cached = self.llm.input_ids[: self.llm.n_tokens]
        common = 0
        for a, b in zip(cached, tokens):
            if a != b:
                break
            common += 1
        if common == len(tokens) and common == self.llm.n_tokens and not self.llm._requires_eval:
            return 0
        common = min(common, len(tokens) - 1)  # the last token is evaluated for fresh logits
        self.llm.n_tokens = common
        batch = self.llm.n_batch
        for start in range(common, len(tokens), batch):
            if cancelled():
                raise GenerationCancelled("cancelled")
            self.llm.eval(tokens[start : start + batch])
        evaluated = len(tokens) - common
        self.total_evaluated += evaluated
        return evaluated

    def logits(self) -> np.ndarray:
        """The next-token logits after the last evaluated token (a copy)."""
        ptr = llama_cpp.llama_get_logits_ith(self.llm.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.llm.n_vocab(),)).copy()

    def evaluate(self, prompt: str, cancelled: Callable[[], bool] = lambda: False) -> int:
        """Prefill ``prompt`` without generating (cancellable between batches); returns the tokens evaluated."""
        return self._prefill(self.tokenize(prompt), cancelled)

    def generate(
        self,
        prompt: str,
        *,
        max_tokens: int = 256,
        grammar: str | None = None,
        stop: Sequence[str] = (),
        temperature: float = 0.2,
        on_token: Callable[[str], None] | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> Generation:
        start = time.perf_counter()
        tokens = self.tokenize(prompt)
        evaluated = self._prefill(tokens, cancelled)
        prefill_done = time.perf_counter()
        limit = min(max_tokens, self.llm.n_ctx() - len(tokens) - 1)
        stream, sampler = self._token_stream(tokens, grammar, temperature, limit)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text, n_generated, reason, first = "", 0, "length", 0.0
        vocab = self.llm._model.vocab
        try:
            for token in stream:
                if llama_cpp.llama_vocab_is_eog(vocab, token):
                    reason = "stop"
                    break
                n_generated += 1
                piece = decoder.decode(self.llm.detokenize([token], special=False))
                if piece:
                    first = first or time.perf_counter() - start
                    text += piece
                    if on_token is not None:
                        on_token(piece)
                hit = next((s for s in stop if s and s in text), None)
                if hit is not None:
                    text = text[: text.index(hit)]
                    reason = "stop"
                    break
                if cancelled():
                    reason = "cancelled"
                    break
                if n_generated >= limit:
                    break
            else:
                reason = "stop"  # the grammar is complete: only the end of generation could follow
        finally:
            stream.close()
            if sampler is not None:
                sampler.close()
                self.last_stats = sampler.stats
            else:
                self.last_stats = constrained.DecodeStats(sampled=n_generated)
        self.total_evaluated += n_generated
        self.total_forced += self.last_stats.forced
        if reason == "cancelled":
            raise GenerationCancelled("cancelled")
        return Generation(
            text=text + decoder.decode(b"", final=True),
            n_prompt=len(tokens),
            n_evaluated=evaluated,
            n_generated=n_generated,
            stop_reason=reason,
            prefill_seconds=prefill_done - start,
            decode_seconds=time.perf_counter() - prefill_done,
            first_token_seconds=first,
        )

    def _token_stream(
        self, tokens: list[int], grammar: str | None, temperature: float, limit: int
    ) -> tuple[Iterator[int], constrained.GrammarSampler | None]:
        """The tokens to emit after ``tokens`` (already evaluated), and the sampler choosing them."""
        if grammar and self.grammar_decoding == "full":  # the old path: no sampler of ours
            compiled = llama_cpp.LlamaGrammar.from_string(grammar, verbose=False)
            return self.llm.generate(
                tokens, temp=temperature, top_k=constrained.TOP_K, top_p=constrained.TOP_P,
                min_p=constrained.MIN_P, repeat_penalty=1.0, grammar=compiled,
            ), None
        sampler = constrained.GrammarSampler(
            self.llm, grammar, self._vocab_index() if grammar else None,
            temperature=temperature, seed=self.llm._seed, jump_forward=self.grammar_decoding == "jump",
        )
        return constrained.stream(self.llm, sampler, limit), sampler

    def decode_stats(self) -> dict[str, int]:
        """How the last generation's tokens were chosen (sampled, resampled, forced), and the forced total."""
        return {**dataclasses.asdict(self.last_stats), "total_forced": self.total_forced}

    def set_grammar_decoding(self, mode: str) -> None:
        """How a grammar constrains decoding: "jump" (the default: check the sampled candidate,
        batch forced text), "candidate" (the check alone) or "full" (llama-cpp-python's sampler,
        the grammar over the whole vocabulary at every step, as before; kept for the benchmark)."""
        if mode not in GRAMMAR_DECODING:
            raise ModelError(f"unknown grammar decoding {mode!r}; use one of {', '.join(GRAMMAR_DECODING)}")
        self.grammar_decoding = mode

    def _vocab_index(self) -> constrained.VocabIndex:
        return self._index.result()

    def tool_call(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        *,
        max_tokens: int = 512,
        temperature: float = 0.2,
        on_token: Callable[[str], None] | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> ToolCall | ToolCallError:
        generation = self.generate(
            self.render(messages),
            max_tokens=max_tokens,
            grammar=tool_call_grammar(tools),
            temperature=temperature,
            on_token=on_token,
            cancelled=cancelled,
        )
        return tool_call_from_generation(generation, tools, max_tokens)

    # -- saved prefix states ---------------------------------------------------------------
    def save_prefix(self, prompt: str, directory: Path) -> Path:
        """Evaluate ``prompt`` and save its KV state, keyed by model hash and token hash."""
        tokens = self.tokenize(prompt)
        self._prefill(tokens, lambda: False)
        size = llama_cpp.llama_state_get_size(self.llm.ctx)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_get_data(self.llm.ctx, buffer, size)
        return prefix_store.save(directory, self.info.file_hash, tokens, bytes(buffer)[:written])

    def load_prefix(self, prompt: str, directory: Path) -> int:
        """Restore the saved state of ``prompt`` if there is one; returns the tokens restored."""
        tokens = self.tokenize(prompt)
        data = prefix_store.load(directory, self.info.file_hash, tokens)
        if data is None:
            return 0
        buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if llama_cpp.llama_state_set_data(self.llm.ctx, buffer, len(data)) != len(data):
            log.warning("a saved prefix state did not fit this context; evaluating instead")
            self.llm.reset()
            return 0
        self.llm.input_ids[: len(tokens)] = tokens
        # The state holds the KV cache; the last token is evaluated again for its logits.
        self.llm.n_tokens = len(tokens) - 1
        self.llm.eval(tokens[-1:])
        self.total_evaluated += 1
        return len(tokens)

    def close(self) -> None:
        self._index.exception()  # the index reads the vocabulary: let it finish first
        self.llm.close()
