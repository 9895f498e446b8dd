"""Recall and archival on real DuckDB files, and the memory tools as the model calls them."""

from __future__ import annotations

import datetime
import zlib
from pathlib import Path

import numpy as np
import pytest

from app.memory.archival import ArchivalError
from app.memory.store import MemoryStore
from models.errors import ModelError
from tools import memory as memory_tools
from tools.registry import ToolContext


class WordHashEmbedder:
    """Deterministic bag-of-words vectors (the real MiniLM is tested in test_retrieval)."""

    dim = 64

    def __init__(self) -> None:
        self.fail = False

    def embed(self, texts):
        if self.fail:
            raise ModelError("the model runner was killed by SIGKILL during embed")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, zlib.crc32(word.strip(".,?!").encode()) % self.dim] += 1
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


@pytest.fixture
def store(tmp_path: Path):
    embedder = WordHashEmbedder()
    memory = MemoryStore.open(tmp_path / "m.duckdb", embedder=embedder, model_id="wordhash")
    memory.test_embedder = embedder
    yield memory
    memory.close()


def test_messages_are_committed_and_found_by_words(store: MemoryStore, tmp_path: Path):
    for i in range(12):
        store.recall.add("c1", "user", f"filler message number {i} about nothing")
    target = store.recall.add("c1", "user", "The invoice from Acme is in the Taxes folder")
    page = store.recall.search("where is the acme invoice?")
    assert page.items[0].id == target.id
    assert page.header().startswith("Page 1 of ")
    second = store.recall.search("message number", page=1)
    assert second.page == 1 and len(second.items) == 5
    assert not {m.id for m in second.items} & {m.id for m in store.recall.search("message number").items}


def test_tool_calls_are_stored_with_their_arguments(store: MemoryStore):
    call = store.recall.add("c1", "assistant", "listing", tool_name="list_dir", tool_args={"path": "~/Music"})
    assert call.is_tool_call and call.tool_args == '{"path": "~/Music"}'
    store.recall.add("c1", "tool", "song.mp3", tool_name="list_dir")
    assert store.recall.search("Music").items[0].id == call.id


def test_a_message_is_kept_even_when_embedding_fails(store: MemoryStore):
    store.test_embedder.fail = True
    message = store.recall.add("c1", "user", "remember the boiler code 7731")
    assert store.recall.count("c1") == 1
    assert store.recall.search("boiler code").items[0].id == message.id  # by its words
    assert store.index.missing_vectors("recall") == [message.id]
    store.test_embedder.fail = False
    assert store.recall.backfill_vectors() == 1
    assert store.index.missing_vectors("recall") == []


def test_search_by_date_range_is_paginated(store: MemoryStore):
    day = datetime.datetime(2026, 5, 1, 12)
    for i in range(9):
        store.recall.add("c1", "user", f"day {i}", created_at=day + datetime.timedelta(days=i))
    page = store.recall.search_date(day + datetime.timedelta(days=2), day + datetime.timedelta(days=7, hours=1))
    assert page.total == 6 and [m.content for m in page.items] == ["day 2", "day 3", "day 4", "day 5", "day 6"]
    assert page.header() == "Page 1 of 2, showing 5 of 6 results:"
    assert [m.content for m in store.recall.search_date(day, day, page=0).items] == ["day 0"]


def test_eviction_keeps_messages_in_recall(store: MemoryStore):
    ids = [store.recall.add("c1", "user", f"m{i}").id for i in range(6)]
    store.recall.evict(ids[:3])
    assert [m.id for m in store.recall.in_context("c1")] == ids[3:]
    assert store.recall.count("c1") == 6 and store.recall.get_many(ids[:3])[0].content == "m0"


def test_archival_insert_search_tags_and_errors(store: MemoryStore):
    store.archival.insert("The boiler service is due every October.", tags=["Home", "home"])
    store.archival.insert("Quarterly taxes are filed through the Acme portal.", tags=["money"])
    for i in range(10):
        store.archival.insert(f"Unrelated note {i} about gardening.")
    hits = store.archival.search("when is the boiler serviced")
    assert hits.items[0].content.startswith("The boiler service")
    assert hits.items[0].tags == ["home"]
    tagged = store.archival.search("taxes", tags=["money"])
    assert [p.content for p in tagged.items] == ["Quarterly taxes are filed through the Acme portal."]
    with pytest.raises(ArchivalError, match="cannot be empty"):
        store.archival.insert("   ")
    with pytest.raises(ArchivalError, match="at most 8,000"):
        store.archival.insert("x" * 9000)


def test_memory_tools_as_the_model_calls_them(store: MemoryStore):
    ctx = ToolContext({"memory": store})
    assert memory_tools.core_memory_append.call(
        {"label": "human", "content": "Name: Ada.", "request_heartbeat": True}, ctx
    ).startswith("Appended to human")
    miss = memory_tools.core_memory_replace.call(
        {"label": "human", "old_content": "Name: Adda", "new_content": "Name: Ada L.", "request_heartbeat": False}, ctx)
    assert miss.startswith("Error:") and "closest line" in miss
    assert memory_tools.archival_memory_insert.call({"content": "Ada's boiler code is 7731."}, ctx).startswith("Stored")
    found = memory_tools.archival_memory_search.call({"query": "boiler code"}, ctx)
    assert "Page 1 of 1, showing 1 of 1 result:" in found and "7731" in found
    store.recall.add("c1", "user", "please remember my boiler")
    assert "boiler" in memory_tools.conversation_search.call({"query": "boiler", "page": 0}, ctx)
    today = datetime.date.today().isoformat()
    dated = memory_tools.conversation_search_date.call({"start_date": today, "end_date": today}, ctx)
    assert "please remember my boiler" in dated
    bad = memory_tools.conversation_search_date.call({"start_date": "yesterday", "end_date": today}, ctx)
    assert bad == "Error: ValueError: start_date must be a date like 2026-03-31, not 'yesterday'"
    names = [t.name for t in (memory_tools.core_memory_append, memory_tools.core_memory_replace,
                              memory_tools.archival_memory_insert, memory_tools.archival_memory_search,
                              memory_tools.conversation_search, memory_tools.conversation_search_date)]
    assert names == ["core_memory_append", "core_memory_replace", "archival_memory_insert",
                     "archival_memory_search", "conversation_search", "conversation_search_date"]
