"""Hybrid search: BM25 in SQL, cosine in numpy, reciprocal rank fusion, over real DuckDB files."""

from __future__ import annotations

import itertools
import math
import re
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.memory import search
from app.memory.db import Database
from app.memory.search import Hit, HybridIndex, fuse, terms

SYNONYMS = {"feline": "cat", "rug": "mat", "kitten": "cat"}


class HashEmbedder:
    """Bag of words hashed into 64 dims, with a few synonyms folded: deterministic, and enough meaning."""

    dim = 64

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, zlib.crc32(SYNONYMS.get(word, word).encode()) % self.dim] += 1
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1)


def rrf(bm25_rank: int | None, vector_rank: int | None) -> float:
    """The fused score computed by hand: weight / (60 + rank) summed over the two lists."""
    lexical = search.LEXICAL_WEIGHT / (60 + bm25_rank) if bm25_rank else 0.0
    return lexical + (1 / (60 + vector_rank) if vector_rank else 0.0)


def unit(*values: float) -> np.ndarray:
    vec = np.array(values, np.float32)
    return vec / np.linalg.norm(vec)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "m.duckdb")
    yield database
    database.close()


@pytest.fixture
def index(db: Database) -> HybridIndex:
    return HybridIndex(db, HashEmbedder(), "hash-64")


def count(db: Database, table: str, corpus: str, item_id: int) -> int:
    return db.fetchall(f"SELECT count(*) FROM {table} WHERE corpus = ? AND item_id = ?", [corpus, item_id])[0][0]


def test_terms_lowercase_words_without_stopwords_short_tokens_and_possessives():
    assert terms("The CAT's bowl, Anna’s 2 notes: 2024 Überweisung don't") == [
        "cat", "bowl", "anna", "notes", "2024", "überweisung", "dont"]
    assert terms("") == [] and terms("the and of a") == []
    assert terms("x y z 7") == []


def test_bm25_ranks_the_rare_term_above_common_ones(index: HybridIndex):
    common = [(i, f"meeting notes about the weekly meeting {i}") for i in range(1, 9)]
    index.add("archival", common + [(9, "meeting notes about the zeppelin")], embed=False)
    ranked = index.bm25("archival", "meeting zeppelin", 10)
    assert ranked[0][0] == 9
    assert ranked[0][1] > ranked[1][1]


def test_bm25_scores_equal_a_hand_computation(index: HybridIndex):
    index.add("archival", [(1, "apple banana apple"), (2, "banana cherry"), (3, "cherry date elder fig")],
              embed=False)
    n, avgdl = 3, (3 + 2 + 4) / 3

    def idf(df: int) -> float:
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def part(tf: int, length: int, df: int) -> float:
        return idf(df) * tf * 2.2 / (tf + 1.2 * (1 - 0.75 + 0.75 * length / avgdl))

    expected = {1: part(2, 3, 1), 2: part(1, 2, 2), 3: part(1, 4, 2)}
    got = dict(index.bm25("archival", "apple cherry", 10))
    assert got == pytest.approx(expected, rel=1e-9)
    assert [item for item, _ in index.bm25("archival", "apple cherry", 10)] == sorted(
        expected, key=expected.get, reverse=True)
    assert dict(index.bm25("archival", "banana apple", 10))[1] == pytest.approx(part(2, 3, 1) + part(1, 3, 2))


def test_a_hit_with_no_shared_word_is_found_by_meaning(index: HybridIndex):
    index.add("archival", [(1, "cat mat"), (2, "quarterly budget report"), (3, "holiday travel plans")])
    hits = index.search("archival", "feline rug")
    assert hits[0] == Hit(1, 1 / 61, None, 1)
    assert index.bm25("archival", "feline rug", 10) == []


def test_a_query_of_stopwords_still_gets_vector_results(index: HybridIndex):
    index.add("archival", [(1, "it is what it is"), (2, "budget report")])
    assert index.search("archival", "what it is")[0].item_id == 1
    assert all(h.bm25_rank is None for h in index.search("archival", "what it is"))


def test_empty_query_or_corpus_finds_nothing(index: HybridIndex):
    assert index.search("archival", "anything") == []
    index.add("archival", [(1, "something")])
    assert index.search("archival", "") == []
    assert index.search("archival", "   ") == []
    assert index.search("archival", "something", limit=0) == []


def test_fusion_order_on_a_constructed_case(db: Database):
    index = HybridIndex(db, None, "fixed")
    query = unit(1, 0, 0)
    # bm25 for "apple": A (three times) > B (twice, longer) > D (once, longest); C has no apple.
    # cosine to the query: B 1.0 > C 0.8 > A 0.6; D has no vector.
    index.add("archival", [(1, "apple apple apple"), (2, "apple apple banana"), (3, "zebra")],
              np.stack([unit(0.6, 0.8, 0), unit(1, 0, 0), unit(0.8, 0.6, 0)]))
    index.add("archival", [(4, "apple banana cherry date")], embed=False)
    assert [i for i, _ in index.bm25("archival", "apple", 10)] == [1, 2, 4]
    assert [i for i, _ in index.nearest("archival", query, 10)] == [2, 3, 1]
    hits = index.search("archival", "apple", query_vector=query)
    ranks = {1: (1, 3), 2: (2, 1), 3: (None, 2), 4: (3, None)}
    expected = sorted((Hit(item, rrf(*pair), *pair) for item, pair in ranks.items()), key=lambda h: -h.score)
    assert [h.item_id for h in expected] == [2, 1, 3, 4]  # with equal weights, too
    assert [(h.item_id, h.bm25_rank, h.vector_rank) for h in hits] == [
        (h.item_id, h.bm25_rank, h.vector_rank) for h in expected]
    assert [h.score for h in hits] == pytest.approx([h.score for h in expected])
    assert index.search("archival", "apple", limit=2, query_vector=query) == hits[:2]


def test_fuse_breaks_ties_by_item_id(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(search, "LEXICAL_WEIGHT", 1.0)  # plain reciprocal rank fusion
    assert fuse([5, 7], [7, 5], 10) == [Hit(5, 1 / 61 + 1 / 62, 1, 2), Hit(7, 1 / 62 + 1 / 61, 2, 1)]
    assert [h.item_id for h in fuse([9], [3], 10)] == [3, 9]
    assert fuse([9, 8, 7], [], 2) == [Hit(9, 1 / 61, 1, None), Hit(8, 1 / 62, 2, None)]


def test_re_adding_an_item_replaces_its_entries(db: Database, index: HybridIndex):
    index.add("archival", [(1, "apple orchard"), (2, "pear tree")])
    index.search("archival", "apple")  # the matrix is loaded now
    index.add("archival", [(1, "banana boat banana")])
    assert index.bm25("archival", "apple", 10) == []
    assert [i for i, _ in index.bm25("archival", "banana", 10)] == [1]
    postings = db.fetchall("SELECT term, tf FROM postings WHERE item_id = 1 ORDER BY term")
    assert postings == [("banana", 2), ("boat", 1)]
    assert db.fetchall("SELECT length FROM doc_lengths WHERE item_id = 1") == [(3,)]
    assert count(db, "vectors", "archival", 1) == 1
    query = HashEmbedder().embed(["banana boat banana"])[0]
    assert index.nearest("archival", query, 1)[0] == (1, pytest.approx(1))
    index.add("archival", [(3, "first"), (3, "second words")])  # the last of an id wins
    assert db.fetchall("SELECT term FROM postings WHERE item_id = 3 ORDER BY term") == [("second",), ("words",)]


def test_remove_deletes_postings_lengths_vectors_and_the_matrix_row(db: Database, index: HybridIndex):
    index.add("archival", [(1, "cat mat"), (2, "dog log"), (3, "bird word")])
    other = HybridIndex(db, None, "another-model")
    other.set_vectors("archival", [2], unit(*range(1, 65))[None, :])
    query = HashEmbedder().embed(["dog log"])[0]
    assert index.nearest("archival", query, 10)[0][0] == 2
    matrix = index._matrices["archival"]
    index.remove("archival", [2])
    for table in ("postings", "doc_lengths", "vectors"):
        assert count(db, table, "archival", 2) == 0
    assert index._matrices["archival"] is matrix  # kept current, not re-read
    assert 2 not in [i for i, _ in index.nearest("archival", query, 10)]
    assert {h.item_id for h in index.search("archival", "dog log")} == {1, 3}
    index.remove("archival", [2, 99])  # absent ids are fine


def test_ids_restrict_both_sides(index: HybridIndex):
    index.add("archival", [(i, f"project alpha note {i}") for i in range(1, 21)])
    hits = index.search("archival", "project alpha", limit=20, ids={3, 7, 11})
    assert {h.item_id for h in hits} == {3, 7, 11}
    assert all(h.bm25_rank is not None and h.vector_rank is not None for h in hits)
    assert index.search("archival", "project", ids=set()) == []
    assert index.search("archival", "project", ids=[999]) == []


def test_corpora_are_isolated(db: Database, index: HybridIndex):
    index.add("recall", [(1, "invoice from acme")])
    index.add("archival", [(1, "holiday photos"), (2, "acme contract")])
    assert [h.item_id for h in index.search("recall", "acme")] == [1]
    assert [i for i, _ in index.bm25("archival", "acme", 10)] == [2]
    index.remove("archival", [1])
    assert [h.item_id for h in index.search("recall", "acme")] == [1]
    assert count(db, "postings", "recall", 1) == 3 - 1  # "from" is a stopword
    assert index.search("documents", "acme") == []


def test_vectors_of_another_model_are_ignored(db: Database, index: HybridIndex):
    index.add("archival", [(1, "cat mat"), (2, "budget report")])
    other = HybridIndex(db, HashEmbedder(), "other-model")
    assert other.missing_vectors("archival") == [1, 2]
    hits = other.search("archival", "feline rug")  # no shared word, and no vector of its model
    assert hits == []
    assert [h.item_id for h in other.search("archival", "budget")] == [2]
    assert [h.item_id for h in index.search("archival", "feline rug")][:1] == [1]


def test_missing_vectors_are_backfilled(db: Database, index: HybridIndex):
    index.add("recall", [(1, "cat mat"), (2, "budget report"), (3, "the and of")], embed=False)
    assert index.embedder.calls == 0
    assert index.missing_vectors("recall") == [1, 2, 3]
    assert index.search("recall", "feline rug") == []
    index.search("recall", "budget")  # the matrix is loaded, empty
    index.remove("recall", [3])
    texts = {1: "cat mat", 2: "budget report", 3: "the and of"}
    index.set_vectors("recall", [1, 2, 3], index.embed([texts[i] for i in (1, 2, 3)]))
    assert index.missing_vectors("recall") == []
    assert count(db, "vectors", "recall", 3) == 0  # no longer indexed: skipped
    assert index.search("recall", "feline rug")[0] == Hit(1, 1 / 61, None, 1)
    with pytest.raises(ValueError):
        index.set_vectors("recall", [1, 2], np.ones((1, 64), np.float32))


def test_the_index_survives_closing_and_reopening(tmp_path: Path):
    with Database(tmp_path / "m.duckdb") as db:
        index = HybridIndex(db, HashEmbedder(), "hash-64")
        index.add("documents", [(1, "cat mat"), (2, "budget report"), (3, "holiday plans")])
        before = index.search("documents", "feline rug budget")
    with Database(tmp_path / "m.duckdb") as db:
        index = HybridIndex(db, HashEmbedder(), "hash-64")
        after = index.search("documents", "feline rug budget")
        assert index._matrices["documents"].n == 3
    assert after == before
    assert {h.item_id for h in after if h.vector_rank is not None} == {1, 2, 3}


def test_add_joins_the_callers_transaction(db: Database, index: HybridIndex):
    index.add("archival", [(1, "budget report")])
    index.search("archival", "budget")  # the matrix is loaded
    with db.transaction() as conn:
        passage = conn.execute("INSERT INTO passages (content, created_at) VALUES ('cat mat', now()) "
                               "RETURNING id").fetchone()[0]  # an unfinished result, as callers leave them
        index.add("archival", [(passage, "cat mat")])
        assert index.search("archival", "feline rug")[0].item_id == passage  # its own writes are seen
    assert index.search("archival", "feline rug")[0] == Hit(passage, 1 / 61, None, 1)
    with pytest.raises(RuntimeError), db.transaction():
        index.add("archival", [(7, "kitten rug")])
        index.remove("archival", [passage])
        assert [h.item_id for h in index.search("archival", "kitten")] == [7]
        raise RuntimeError("roll back")
    assert count(db, "postings", "archival", 7) == 0
    assert count(db, "vectors", "archival", passage) == 1
    assert [h.item_id for h in index.search("archival", "feline rug")][:1] == [passage]
    assert 7 not in [i for i, _ in index.nearest("archival", index.embed(["kitten rug"])[0], 10)]


def test_vectors_first_read_inside_a_transaction_that_rolls_back_leave_no_trace(db: Database, index: HybridIndex):
    index.add("archival", [(1, "budget report")])
    with pytest.raises(RuntimeError), db.transaction():
        index.add("archival", [(2, "cat mat")])
        assert index.search("archival", "feline rug")[0].item_id == 2
        raise RuntimeError("roll back")
    assert [h.item_id for h in index.search("archival", "feline rug")] == [1]


def test_write_in_a_callers_transaction_commits_or_rolls_back_with_it(db: Database, index: HybridIndex):
    index.add("archival", [(1, "budget report")])
    index.search("archival", "budget")
    vectors = index.embed(["cat mat"])
    with pytest.raises(RuntimeError), db.transaction() as conn:
        index.write(conn, "archival", [(2, "cat mat")], vectors)
        raise RuntimeError("roll back")
    assert index.search("archival", "feline rug")[0].item_id == 1  # the only vector left
    assert index.missing_vectors("archival") == []
    with db.transaction() as conn:
        index.write(conn, "archival", [(2, "cat mat")], vectors)
    assert index.search("archival", "feline rug")[0] == Hit(2, 1 / 61, None, 1)


def test_a_hundred_items_index_in_one_call(db: Database, index: HybridIndex):
    index.add("documents", [(i, f"chunk {i} of the manual, page {i // 10}") for i in range(100)])
    assert db.fetchall("SELECT count(*) FROM doc_lengths WHERE corpus = 'documents'") == [(100,)]
    assert [h.item_id for h in index.search("documents", "chunk 42")][:1] == [42]


WORDS = ["apple", "banana", "cherry", "the", "of", "x", "7", "budget", "report", "cat", "mat", "feline"]
_corpus_names = (f"prop{i}" for i in itertools.count())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(st.lists(st.sampled_from(WORDS), max_size=8).map(" ".join), max_size=15),
    query=st.lists(st.sampled_from(WORDS), max_size=4).map(" ".join),
    limit=st.integers(1, 10),
    restrict=st.none() | st.sets(st.integers(0, 20), max_size=6),
)
def test_results_are_valid_for_any_small_corpus(
    index: HybridIndex, texts: list[str], query: str, limit: int, restrict: set[int] | None
):
    corpus = next(_corpus_names)
    index.add(corpus, list(enumerate(texts)))
    hits = index.search(corpus, query, limit=limit, ids=restrict)
    ids = [h.item_id for h in hits]
    assert set(ids) <= set(range(len(texts))) & (set(range(21)) if restrict is None else restrict)
    assert len(ids) == len(set(ids)) <= limit
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
