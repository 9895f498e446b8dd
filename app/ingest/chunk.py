"""Cutting a document's text into chunks measured in the embedder's own tokens.

A chunk is a contiguous slice of the text (so its character offsets show it in context), at
most ``max_tokens`` long, cut at paragraph boundaries where possible, then at lines, sentences
and words; only a run of text with no space at all is cut inside a word. Consecutive chunks
share up to ``overlap`` tokens of whole pieces, so a passage cut in two is still found whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

CHUNK_TOKENS = 200
OVERLAP_TOKENS = 32

Counter = Callable[[Sequence[str]], list[int]]
"""Each text's length in tokens (one call for many texts: the tokenizer may be in another process)."""

_LEVELS = (re.compile(r"\n[ \t]*\n\s*"), re.compile(r"\n"), re.compile(r"(?<=[.!?;:])\s+"), re.compile(r"\s+"))
"""Where a piece that is too long is cut, coarsest first: paragraphs, lines, sentences, words."""


@dataclass(frozen=True)
class Chunk:
    text: str
    start: int
    """Offset of the first character in the document's text."""
    end: int
    """Offset just past the last character."""
    n_tokens: int
    """The sum of its pieces' token counts (joining them adds at most a token or two)."""


def _split(text: str, start: int, end: int, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    """The non-blank spans of text[start:end] between matches of ``pattern``."""
    spans, at = [], start
    for match in pattern.finditer(text, start, end):
        spans.append((at, match.start()))
        at = match.end()
    spans.append((at, end))
    return [_strip(text, a, b) for a, b in spans if text[a:b].strip()]


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _hard_split(start: int, end: int, n_tokens: int, max_tokens: int) -> list[tuple[int, int]]:
    """A run with no break in it, cut into equal slices that should each fit."""
    parts = -(-n_tokens // max_tokens) + 1
    step = max(1, -(-(end - start) // parts))
    return [(a, min(a + step, end)) for a in range(start, end, step)]


def pieces(texts: Sequence[str], count: Counter, max_tokens: int) -> list[list[tuple[int, int, int]]]:
    """Per text, (start, end, tokens) of its smallest-needed pieces, each at most ``max_tokens``.

    All the texts are measured together: one ``count`` call per level of cutting, whatever their number.
    """
    spans = [(t, a, b, 1) for t, text in enumerate(texts) for a, b in _split(text, 0, len(text), _LEVELS[0])]
    done: list[list[tuple[int, int, int]]] = [[] for _ in texts]
    while spans:
        sizes = count([texts[t][a:b] for t, a, b, _ in spans])
        again = []
        for (t, a, b, level), n in zip(spans, sizes):
            if n <= max_tokens or b - a <= 1:
                done[t].append((a, b, n))
            elif level < len(_LEVELS):
                parts = _split(texts[t], a, b, _LEVELS[level])
                again += [(t, pa, pb, level + 1) for pa, pb in parts] if len(parts) > 1 else [(t, a, b, level + 1)]
            else:
                again += [(t, pa, pb, level) for pa, pb in _hard_split(a, b, n, max_tokens)]
        spans = again
    return [sorted(found) for found in done]


def _pack(text: str, parts: list[tuple[int, int, int]], max_tokens: int, overlap: int) -> list[Chunk]:
    """Whole pieces gathered into chunks, each starting with the end of the one before."""
    chunks: list[Chunk] = []
    first = 0
    while first < len(parts):
        last, total = first, parts[first][2]
        while last + 1 < len(parts) and total + parts[last + 1][2] <= max_tokens:
            last += 1
            total += parts[last][2]
        start, end = parts[first][0], parts[last][1]
        chunks.append(Chunk(text[start:end], start, end, total))
        if last + 1 == len(parts):
            break
        nxt, shared = last + 1, 0
        while nxt - 1 > first and shared + parts[nxt - 1][2] <= overlap:
            nxt -= 1
            shared += parts[nxt][2]
        first = nxt
    return chunks


def chunk_many(texts: Sequence[str], count: Counter, max_tokens: int = CHUNK_TOKENS,
               overlap: int = OVERLAP_TOKENS) -> list[list[Chunk]]:
    """Each text's chunks, in order (none for a blank text), measured in a few ``count`` calls."""
    if max_tokens < 1 or not 0 <= overlap < max_tokens:
        raise ValueError(f"chunks of {max_tokens} tokens cannot overlap by {overlap}")
    return [_pack(text, parts, max_tokens, overlap) for text, parts in zip(texts, pieces(texts, count, max_tokens))]


def chunk_text(text: str, count: Counter, max_tokens: int = CHUNK_TOKENS,
               overlap: int = OVERLAP_TOKENS) -> list[Chunk]:
    """The text's chunks, in order; none for a text that is blank."""
    return chunk_many([text], count, max_tokens, overlap)[0]
