"""The main context: layout for prefix reuse, memory pressure, eviction that loses nothing."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.kernel.context import PRESSURE_WARNING, ContextLimits, MainContext, cut_point
from app.kernel.scripted import ScriptedModel
from app.memory.store import MemoryStore
from models import synthetic
from models.local_client import LocalChatModel

TOOLS = [
    {"name": "send_message", "description": "Reply to the user.",
     "parameters": {"type": "object", "properties": {"message": {"type": "string", "description": "the reply"}},
                    "required": ["message"]}},
    {"name": "list_dir", "description": "List a folder.",
     "parameters": {"type": "object", "properties": {"path": {"type": "string", "description": "the folder"}},
                    "required": ["path"]}},
]
SYSTEM = "You are Pagemind, a private assistant on this computer."


def words(n: int, seed: int = 0) -> str:
    vocab = "alpha beta gamma delta folder report invoice budget travel notes".split()
    return " ".join(vocab[(i * 3 + seed) % len(vocab)] for i in range(n))


@pytest.fixture
def store(tmp_path: Path):
    memory = MemoryStore.open(tmp_path / "ctx.duckdb")
    yield memory
    memory.close()


def make_context(store: MemoryStore, model, window: int = 600, **limits) -> MainContext:
    return MainContext(model, store, "c1", SYSTEM, TOOLS, ContextLimits(window=window, reserve=100, **limits))


def add_call(ctx: MainContext, n: int) -> None:
    ctx.add("assistant", f"thinking {n}", tool_name="list_dir", tool_args={"path": f"~/d{n}"})
    ctx.add("tool", words(n % 20 + 3, n), tool_name="list_dir")


def test_layout_static_prefix_then_core_then_summary_then_fifo(store: MemoryStore):
    ctx = make_context(store, ScriptedModel())
    ctx.add("user", "hello there")
    prompt = ctx.prompt()
    order = [prompt.index(SYSTEM), prompt.index("- send_message(message: the reply)"),
             prompt.index("<persona"), prompt.index("hello there")]
    assert order == sorted(order)
    before = ctx.prompt()
    ctx.add("user", "and another")
    assert ctx.prompt().startswith(before[: before.rindex("<|im_start|>assistant")])  # only the tail changed


def test_core_edits_are_notes_until_the_next_eviction(store: MemoryStore):
    """The edit reaches the FIFO as the memory tool's result; the prefix changes only at eviction."""
    ctx = make_context(store, ScriptedModel())
    head = ctx.system_text()
    store.core.append("human", "Prefers metric units.")
    ctx.add("assistant", "", tool_name="core_memory_append", tool_args={"label": "human", "content": "Prefers metric units."})
    ctx.add("tool", "Appended to human (80/2000 characters).", tool_name="core_memory_append")
    assert ctx.system_text() == head  # the prefix did not change
    assert "Appended to human" in ctx.prompt() and "Prefers metric units." in ctx.prompt()
    for i in range(12):
        ctx.add("user", words(10, i))
    ctx.evict()
    assert "Prefers metric units." in ctx.system_text()


def test_pressure_warns_once_then_evicts_into_a_summary(store: MemoryStore):
    model = ScriptedModel(texts=["Ada asked about folders and invoices."] * 10)
    ctx = make_context(store, model)
    events = []
    for i in range(40):
        ctx.add("user", words(25, i))
        if (event := ctx.manage()) is not None:
            events.append(event)
        if "evicted" in events:
            break
    assert events[0] == "warned" and events.count("warned") == 1 and events[-1] == "evicted"
    warnings = [m for m in store.recall.in_context("c1") + store.recall.get_many(range(1, 200))
                if m.content == PRESSURE_WARNING]
    assert warnings
    assert ctx.summary == "Ada asked about folders and invoices."
    assert "Ada asked about folders" in ctx.prompt()
    assert store.summaries.latest("c1") == ctx.summary
    assert ctx.tokens_used() < ctx.limits.flush_at * ctx.limits.budget


def test_cut_point_never_separates_a_call_from_its_result(store: MemoryStore):
    ctx = make_context(store, ScriptedModel())
    ctx.add("user", "list things")
    add_call(ctx, 1)
    ctx.add("user", "more")
    fifo = ctx.fifo()  # [user, call, result, user]: half is 2, which would cut between the pair
    assert cut_point(fifo, keep_last=0) == 1
    for keep in range(0, 5):
        cut = cut_point(fifo, keep)
        assert not (0 < cut < len(fifo) and fifo[cut].role == "tool" and fifo[cut - 1].is_tool_call)


EVENT = st.one_of(
    st.tuples(st.just("user"), st.integers(1, 60)),
    st.tuples(st.just("call"), st.integers(1, 40)),
    st.tuples(st.just("note"), st.integers(1, 10)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(EVENT, min_size=1, max_size=45), window=st.integers(500, 900))
def test_context_never_exceeds_the_window_and_never_splits_a_call(events, window):
    with tempfile.TemporaryDirectory() as tmp:
        store = MemoryStore.open(Path(tmp) / "p.duckdb")
        try:
            ctx = make_context(store, ScriptedModel(), window=window)
            added = 0
            for kind, n in events:
                if kind == "user":
                    ctx.add("user", words(n, added))
                    added += 1
                elif kind == "call":
                    add_call(ctx, n)
                    added += 2
                else:
                    ctx.add("system", f"[core memory updated] {words(n)}")
                    added += 1
                ctx.manage()
                assert ctx.tokens_used() <= window - ctx.limits.reserve
                fifo = ctx.fifo()
                for i, message in enumerate(fifo):
                    if message.role == "tool":
                        assert i > 0 and fifo[i - 1].is_tool_call, "a tool result lost its call"
            assert store.recall.count("c1") >= added  # nothing lost (warnings add more)
        finally:
            store.close()


@pytest.mark.slow
def test_real_tokenizer_counts_and_eviction(store: MemoryStore, tmp_path: Path):
    path = synthetic.tiny(tmp_path / "tiny.gguf")
    with LocalChatModel(path, n_ctx=1024) as model:
        ctx = make_context(store, model, window=1024)
        assert ctx.tokens_used() == len(model.tokenize(ctx.prompt()))
        for i in range(60):
            ctx.add("user", words(30, i))
            ctx.manage()
            assert ctx.tokens_used() <= 1024 - ctx.limits.reserve
        assert store.db.fetchone("SELECT count(*) FROM summaries")[0] > 0
        assert store.recall.count("c1") >= 60


def test_summaries_fit_even_a_tiny_budget(store: MemoryStore):
    from app.memory.summaries import summarize

    model = ScriptedModel(texts=["short"] * 50)
    huge = [store.recall.add("c1", "user", "word " * 2000)]
    assert summarize(model, "old summary " * 200, huge, budget=400) == "short"
    assert all(model.count_tokens(p) <= 400 for p in model.prompts)
