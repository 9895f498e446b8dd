"""Chunking: token budgets, paragraph cuts, overlap, offsets; measured with the real embedder's tokenizer."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.ingest.chunk import chunk_many, chunk_text


def words(texts):
    return [len(t.split()) for t in texts]


def paragraph(n: int, tag: str) -> str:
    return " ".join(f"{tag}{i}." if i % 12 == 11 else f"{tag}{i}" for i in range(n))


def test_short_paragraphs_fill_a_chunk_and_long_ones_are_cut_at_sentences():
    text = "\n\n".join([paragraph(30, "a"), paragraph(30, "b"), paragraph(250, "c"), paragraph(10, "d")])
    chunks = chunk_text(text, words, max_tokens=100, overlap=20)
    assert chunks[0].text.startswith("a0") and "b29" in chunks[0].text  # two paragraphs together
    assert all(c.n_tokens <= 100 for c in chunks)
    assert all(len(c.text.split()) <= 100 for c in chunks)
    cut_inside = [c for c in chunks if c.text.startswith("c") and not c.text.startswith("c0 ")]
    assert cut_inside and all(text[c.start - 2] == "." for c in cut_inside)  # each begins after a sentence's end
    assert chunks[-1].text.endswith("d9")


def test_offsets_slice_the_text_and_every_word_is_in_some_chunk():
    rng = random.Random(3)
    text = "\n\n".join(paragraph(rng.randint(1, 160), f"p{k}_") for k in range(40))
    chunks = chunk_text(text, words, max_tokens=64, overlap=16)
    assert all(text[c.start:c.end] == c.text for c in chunks)
    covered = set()
    for c in chunks:
        covered.update(c.text.split())
    assert covered == set(text.split())
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)


def test_neighbouring_pieces_overlap_up_to_the_budget():
    text = paragraph(400, "w")  # one paragraph, sentences of 12 words
    chunks = chunk_text(text, words, max_tokens=60, overlap=24)
    for before, after in zip(chunks, chunks[1:]):
        shared = before.end - after.start
        assert shared > 0, "a cut sentence run must be shared"
        assert len(text[after.start:before.end].split()) <= 24


def test_a_run_without_spaces_is_cut_inside():
    text = "x" * 1000
    chunks = chunk_text(text, lambda ts: [len(t) // 4 + 1 for t in ts], max_tokens=50, overlap=0)
    assert "".join(c.text for c in chunks) == text
    assert all(len(c.text) // 4 + 1 <= 50 for c in chunks)


def test_lines_are_the_cut_before_sentences():
    text = "\n".join(f"2026-11-{d:02d},value {d},note without a period" for d in range(1, 31))
    chunks = chunk_text(text, words, max_tokens=20, overlap=0)
    assert all(c.text.startswith("2026-11-") and c.text.endswith("period") for c in chunks)


def test_blank_text_gives_no_chunks_and_bad_budgets_are_refused():
    assert chunk_text("  \n\n \t", words) == []
    assert chunk_many(["", "one two"], words) == [[], chunk_text("one two", words)]
    with pytest.raises(ValueError):
        chunk_text("text", words, max_tokens=10, overlap=10)


def test_many_texts_are_measured_in_a_few_calls():
    calls = []

    def counting(texts):
        calls.append(len(texts))
        return words(texts)

    texts = [paragraph(300, f"t{k}_") for k in range(50)]
    together = chunk_many(texts, counting, max_tokens=80, overlap=10)
    assert len(calls) <= 3
    assert together == [chunk_text(t, words, 80, 10) for t in texts]


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab .\n\t!é"), max_size=600), st.integers(4, 40))
def test_any_text_chunks_within_budget_and_slices_back(text, budget):
    chunks = chunk_text(text, words, max_tokens=budget, overlap=budget // 4)
    assert all(text[c.start:c.end] == c.text and c.text.strip() for c in chunks)
    assert all(c.n_tokens <= budget for c in chunks)
    assert bool(chunks) == bool(text.strip())


def test_chunks_fit_the_embedders_own_tokens(embedder):
    text = "\n\n".join(
        "Photosynthesis converts light energy into chemical energy; chlorophyll absorbs mostly blue and red light. "
        * (k % 5 + 1) for k in range(30))
    chunks = chunk_text(text, embedder.count_tokens, max_tokens=120, overlap=20)
    measured = embedder.count_tokens([c.text for c in chunks])
    assert len(chunks) > 3
    assert all(n <= 120 + 2 for n in measured), measured  # joining pieces adds at most a token or two
    assert all(abs(n - c.n_tokens) <= 2 for n, c in zip(measured, chunks))
