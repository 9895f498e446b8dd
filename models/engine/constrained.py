"""Token sampling for ``Runtime.generate``: the grammar checks one candidate, forced text is batched.

llama-cpp-python's sampler applies a grammar to the whole vocabulary at every step; with a 152k
vocabulary that costs a large part of a decode step. Like llama.cpp's own common sampler, this
one samples from the unconstrained logits first (top-k 40, top-p 0.95, min-p 0.05, temperature;
greedy at temperature <= 0) and asks the grammar about that one token. Only when the grammar
rejects it are the candidates filtered and the token sampled again by the same chain; and the
grammar then sees only the tokens whose first byte it admits (one apply over the single-byte
tokens tells which bytes those are), since it would reject every other token anyway.

Jump-forward: where the grammar admits a single next character, that character is forced. The
grammar itself is the oracle, through the same single-byte probe. Optional whitespace before a
single admissible character is settled canonically (one space after ``:`` and ``,``, none
elsewhere, as ``json.dumps`` writes it), so ``{"thought": "``, ``", "tool": "``, the rest of a tool
name once a token has picked it, ``", "args": {"`` and the closing ``}}`` are forced. The caller
evaluates forced tokens in one batch. Every token, sampled or forced, is checked by llama.cpp's
grammar sampler before it is accepted, so the grammar stays the authority.

Imported only by models/engine/runtime.py (inside the runner process).
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from dataclasses import dataclass

import llama_cpp
import numpy as np

from models.errors import ModelError
from models.engine.llama_env import clear_log, last_error

TOP_K, TOP_P, MIN_P = 40, 0.95, 0.05
MAX_FORCED_BYTES = 256
"""At most this much forced text at once (a grammar could force text without end)."""
_WHITESPACE = frozenset(b" \t\n\r")
_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)], align=True)
assert _TOKEN_DATA.itemsize == ctypes.sizeof(llama_cpp.llama_token_data)


@dataclass
class DecodeStats:
    """How the tokens of one generation were chosen."""

    sampled: int = 0
    """Tokens sampled from the model's logits."""
    resampled: int = 0
    """Of those, tokens whose first candidate the grammar rejected (sampled again after filtering)."""
    forced: int = 0
    """Tokens of forced text, evaluated in batches without sampling (jump-forward)."""
    batches: int = 0
    """Calls to llama.cpp's decode (a sampled token and the forced text after it share one)."""


class _Candidates:
    """A ``llama_token_data_array`` over a reusable numpy buffer."""

    def __init__(self, capacity: int) -> None:
        self.data = np.zeros(capacity, dtype=_TOKEN_DATA)
        self.array = llama_cpp.llama_token_data_array()
        self.ref = ctypes.byref(self.array)

    def fill(self, ids: np.ndarray, logits: np.ndarray | float) -> ctypes._CArgObject:  # type: ignore[name-defined]
        n = len(ids)
        self.data["id"][:n] = ids
        self.data["logit"][:n] = logits
        self.data["p"][:n] = 0.0
        self.array.data = self.data.ctypes.data_as(llama_cpp.llama_token_data_p)
        self.array.size = n
        self.array.selected = -1
        self.array.sorted = False
        return self.ref

    def admitted(self) -> np.ndarray:
        """The ids whose logit a grammar left finite (right after applying it)."""
        view = self.data[: self.array.size]
        return view["id"][np.isfinite(view["logit"])]

    def selected(self) -> int:
        return int(self.array.data[self.array.selected].id)


class VocabIndex:
    """The model's tokens grouped by the first byte of their text, as the grammar sees it.

    Built once per model (a pass over the vocabulary). The single-byte tokens are the probes
    that ask a grammar which bytes may come next; the groups are the only candidates a grammar
    can admit after those bytes.
    """

    def __init__(self, llm: llama_cpp.Llama) -> None:
        vocab = llm._model.vocab
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
        groups: dict[int, list[int]] = {}
        probes: dict[int, int] = {}
        eog: list[int] = []
        unknown: list[int] = []
        buffer = ctypes.create_string_buffer(256)
        to_piece, is_eog = llama_cpp.llama_token_to_piece, llama_cpp.llama_vocab_is_eog
        for token in range(self.n_vocab):
            if is_eog(vocab, token):
                eog.append(token)
                continue
            # The grammar reads special tokens as their text, as here (special=True).
            n = to_piece(vocab, token, buffer, 256, 0, True)
            if n < 0:
                unknown.append(token)  # a piece longer than the buffer
            elif n > 0 and buffer.raw[0] != 0:
                first = buffer.raw[0]
                groups.setdefault(first, []).append(token)
                if n == 1:
                    probes.setdefault(first, token)
        # A continuation byte (0x80-0xBF) cannot start a character, so it is no use as a probe;
        # tokens starting with a byte that has no probe are always candidates.
        self.token_of = {b: t for b, t in probes.items() if b < 0x80 or b >= 0xC0}
        self.byte_of = {t: b for b, t in self.token_of.items()}
        self.groups = {b: np.array(ids, dtype=np.int32) for b, ids in groups.items()}
        for b in set(groups) - set(self.token_of):
            unknown.extend(groups[b])
        self.unknown = np.array(sorted(unknown), dtype=np.int32)
        self.eog = np.array(eog, dtype=np.int32)
        self.probe_ids = np.array(sorted(self.token_of.values()), dtype=np.int32)

    def candidates(self, first_bytes: list[int], eog: bool) -> np.ndarray:
        parts = [self.groups[b] for b in first_bytes if b in self.groups] + [self.unknown]
        if eog:
            parts.append(self.eog)
        return np.concatenate(parts)


class GrammarSampler:
    """Samples the next token of one generation, optionally under a GBNF grammar.

    ``sample()`` picks a token for the last evaluated position and accepts it into the grammar;
    ``forced(limit)`` returns the tokens of the text the grammar forces next (already accepted)
    and whether the grammar is then complete (only end-of-generation may follow).
    """

    def __init__(
        self,
        llm: llama_cpp.Llama,
        grammar: str | None,
        index: VocabIndex | None,
        *,
        temperature: float,
        seed: int,
        jump_forward: bool = True,
    ) -> None:
        self.llm = llm
        self.vocab = llm._model.vocab
        self.index: VocabIndex = index  # type: ignore[assignment]
        self.jump_forward = jump_forward
        self.stats = DecodeStats()
        self.grammar = None
        self.chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        if temperature <= 0:
            stages = [llama_cpp.llama_sampler_init_greedy()]
        else:
            stages = [
                llama_cpp.llama_sampler_init_top_k(TOP_K),
                llama_cpp.llama_sampler_init_top_p(TOP_P, 1),
                llama_cpp.llama_sampler_init_min_p(MIN_P, 1),
                llama_cpp.llama_sampler_init_temp(temperature),
                llama_cpp.llama_sampler_init_dist(seed & 0xFFFFFFFF),
            ]
        for stage in stages:
            llama_cpp.llama_sampler_chain_add(self.chain, stage)  # the chain frees them
        if grammar:
            assert index is not None, "a grammar needs the vocabulary index"
            clear_log()
            self.grammar = llama_cpp.llama_sampler_init_grammar(self.vocab, grammar.encode("utf-8"), b"root")
            if not self.grammar:
                self.close()
                raise ModelError(f"llama.cpp cannot parse the grammar: {last_error() or 'see the log'}")
            self.one = _Candidates(1)
            self.probes = _Candidates(len(index.probe_ids))
            self.every = _Candidates(index.n_vocab)
            self._piece = ctypes.create_string_buffer(256)
            self._last_byte = -1

    # -- sampling ----------------------------------------------------------------------------
    def sample(self) -> int:
        """A token for the last evaluated position, accepted by the grammar if there is one."""
        token = llama_cpp.llama_sampler_sample(self.chain, self.llm.ctx, -1)
        self.stats.sampled += 1
        if self.grammar is None:
            return token
        if not self._admits(token):
            self.stats.resampled += 1
            token = self._resample()
        if not llama_cpp.llama_vocab_is_eog(self.vocab, token):  # the end needs no accepting
            self._accept(token)
        return token

    def _resample(self) -> int:
        """The grammar filters the candidates first, then the same chain samples again."""
        first_bytes = self._next_bytes(self.grammar)
        eog = self._complete()
        if first_bytes or eog:
            ids = self.index.candidates(first_bytes, eog)
        else:  # mid-character (a partial UTF-8 sequence): no probe applies, every token is a candidate
            ids = np.arange(self.index.n_vocab, dtype=np.int32)
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.llm.ctx, -1), shape=(self.index.n_vocab,))
        ref = self.every.fill(ids, logits[ids])
        llama_cpp.llama_sampler_apply(self.grammar, ref)
        if not len(self.every.admitted()):
            raise ModelError("the grammar admits no token here")
        llama_cpp.llama_sampler_apply(self.chain, ref)
        token = self.every.selected()
        if not np.isfinite(self.every.array.data[self.every.array.selected].logit):
            token = int(self.every.admitted()[0])  # never hand the grammar a token it rejected
        llama_cpp.llama_sampler_accept(self.chain, token)
        return token

    def _admits(self, token: int) -> bool:
        llama_cpp.llama_sampler_apply(self.grammar, self.one.fill(np.array([token]), 0.0))
        return bool(np.isfinite(self.one.data["logit"][0]))

    def _accept(self, token: int) -> None:
        llama_cpp.llama_sampler_accept(self.grammar, token)
        n = llama_cpp.llama_token_to_piece(self.vocab, token, self._piece, 256, 0, True)
        if n > 0:
            self._last_byte = self._piece.raw[n - 1]

    def _complete(self) -> bool:
        """Whether the grammar admits the end of generation now."""
        return len(self.index.eog) > 0 and self._admits(int(self.index.eog[0]))

    def _next_bytes(self, grammar: ctypes.c_void_p) -> list[int]:
        """The bytes ``grammar`` admits next: first bytes of characters (lead bytes for non-ASCII)."""
        llama_cpp.llama_sampler_apply(grammar, self.probes.fill(self.index.probe_ids, 0.0))
        return [self.index.byte_of[int(t)] for t in self.probes.admitted()]

    # -- jump-forward ------------------------------------------------------------------------
    @staticmethod
    def _forced_byte(admitted: list[int], last: int) -> int | None:
        """The one byte that may come next, whitespace settled canonically; None for a choice."""
        if len(admitted) == 1 and admitted[0] < 0x80:
            return admitted[0]
        if any(b >= 0x80 for b in admitted):
            return None
        solid = [b for b in admitted if b not in _WHITESPACE]
        if len(solid) != 1:
            return None
        if len(solid) < len(admitted) and last in b":," and ord(" ") in admitted:
            return ord(" ")  # canonical whitespace: '": "' and '", "'
        return solid[0]

    def forced(self, limit: int) -> tuple[list[int], bool]:
        """Up to ``limit`` tokens of the text the grammar forces next, accepted into it, and
        whether the grammar is complete after them."""
        if self.grammar is None or not self.jump_forward or limit <= 0:
            return [], False
        text, last, probe, admitted = bytearray(), self._last_byte, None, None
        try:
            while len(text) < MAX_FORCED_BYTES:
                admitted = self._next_bytes(probe or self.grammar)
                byte = self._forced_byte(admitted, last)
                if byte is None:
                    break  # ``admitted`` is what may follow the forced text
                admitted = None
                if probe is None:  # walk ahead on a copy; the real grammar accepts tokens below
                    probe = llama_cpp.llama_sampler_clone(self.grammar)
                llama_cpp.llama_sampler_accept(probe, self.index.token_of[byte])
                text.append(byte)
                last = byte
        finally:
            if probe is not None:
                llama_cpp.llama_sampler_free(probe)
        tokens = self._tokens_for(bytes(text)) if text else []
        accepted = []
        for token in tokens[:limit]:
            if not self._admits(token):  # the tokenization disagrees with the grammar: sample instead
                break
            self._accept(token)
            accepted.append(token)
        self.stats.forced += len(accepted)
        done = len(accepted) == len(tokens) and admitted == [] and self._complete()
        return accepted, done

    def _tokens_for(self, text: bytes) -> list[int]:
        tokens = self.llm.tokenize(text, add_bos=False, special=False)
        if self.llm.detokenize(tokens) == text:
            return tokens
        return [self.index.token_of[b] for b in text]  # e.g. a tokenizer that adds a space prefix

    def close(self) -> None:
        if self.chain:
            llama_cpp.llama_sampler_free(self.chain)
            self.chain = None
        if self.grammar:
            llama_cpp.llama_sampler_free(self.grammar)
            self.grammar = None


def stream(llm: llama_cpp.Llama, sampler: GrammarSampler, limit: int) -> Iterator[int]:
    """The generated tokens, one at a time, for at most ``limit`` tokens asked for.

    Forced tokens are yielded (so streamed) at once and evaluated in one batch, together with the
    sampled token before them, when the next token is asked for: the KV cache and
    ``llm.input_ids``/``llm.n_tokens`` hold exactly the tokens evaluated, so a caller that stops
    early (a stop string, cancellation, max_tokens) leaves them consistent for prefix reuse.
    The stream ends by itself when the grammar is complete.
    """
    pending: list[int] = []
    n = 0
    while True:
        forced, complete = sampler.forced(limit - n)
        for token in forced:
            yield token
            pending.append(token)
        n += len(forced)
        if complete:
            return
        if pending:
            llm.eval(pending)
            sampler.stats.batches += 1
        token = sampler.sample()
        yield token
        pending = [token]
        n += 1
