"""The llama.cpp runtime, in process, with the tiny random GGUF: templates, tokens, streaming,
cancellation, constrained tool calls, KV prefix reuse and saved prefix states."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from models import synthetic
from models.errors import GenerationCancelled, ModelError
from models.grammar import tool_call_grammar
from models.interface import ToolCall, ToolCallError
from models.engine.runtime import Runtime
from models.toolcall import parse_tool_call
from tests.models.conftest import TOOLS, assert_valid_call

pytestmark = pytest.mark.slow

CONVERSATION = [
    {"role": "system", "content": "You are Pagemind. Answer with one tool call."},
    {"role": "user", "content": "What is in my Documents folder?"},
]


@pytest.fixture(scope="module")
def runtime(tiny_gguf: Path) -> Runtime:
    rt = Runtime(tiny_gguf, n_ctx=2048, seed=7)
    yield rt
    rt.close()


def test_info_describes_the_model(runtime: Runtime, tiny_gguf: Path):
    info = runtime.info
    assert info.architecture == "qwen2" and info.name == "pagemind-tiny"
    assert info.n_ctx == 2048 and info.n_ctx_train == 4096
    assert info.n_vocab == synthetic.TINY.n_vocab and info.n_embd == synthetic.TINY.n_embd
    assert info.eos_token == "<|im_end|>"
    assert len(info.file_hash) == 64


def test_applies_the_template_stored_in_the_gguf(runtime: Runtime):
    prompt = runtime.render(CONVERSATION)
    assert prompt == (
        "<|im_start|>system\nYou are Pagemind. Answer with one tool call.<|im_end|>\n"
        "<|im_start|>user\nWhat is in my Documents folder?<|im_end|>\n<|im_start|>assistant\n"
    )


def test_uses_a_custom_template_and_falls_back_to_chatml(tmp_path: Path):
    custom = "{% for m in messages %}[{{ m['role'] | upper }}] {{ m['content'] }}\n{% endfor %}"
    with_custom = Runtime(synthetic.tiny(tmp_path / "custom.gguf", chat_template=custom), n_ctx=256)
    without = Runtime(synthetic.tiny(tmp_path / "none.gguf", chat_template=None), n_ctx=256)
    try:
        assert with_custom.render(CONVERSATION[1:]) == "[USER] What is in my Documents folder?\n"
        assert without.render(CONVERSATION[1:]).startswith("<|im_start|>user\nWhat is in")
    finally:
        with_custom.close()
        without.close()


def test_counts_tokens_with_the_models_tokenizer(runtime: Runtime):
    assert runtime.tokenize("<|im_start|>") == [synthetic.TINY.n_vocab - 2]  # one special token
    # Printable ASCII pairs are single tokens in the synthetic vocabulary.
    assert runtime.count_tokens("ab") == 1
    assert runtime.count_tokens("abcd") == 2
    text = runtime.render(CONVERSATION)
    assert runtime.count_tokens(text) == len(runtime.tokenize(text)) > 20


def test_streams_pieces_that_add_up_to_the_text(runtime: Runtime):
    pieces: list[str] = []
    gen = runtime.generate(runtime.render(CONVERSATION), max_tokens=24, on_token=pieces.append)
    assert gen.n_generated > 0 and pieces
    assert "".join(pieces) == gen.text
    assert gen.stop_reason in ("stop", "length")
    assert gen.n_prompt == runtime.count_tokens(runtime.render(CONVERSATION))


def test_stop_strings_end_generation(runtime: Runtime):
    free = runtime.generate("<|im_start|>user\nhi", max_tokens=40, stop=())
    assert len(free.text) > 2
    stop = free.text[1:3]
    gen = runtime.generate("<|im_start|>user\nhi", max_tokens=40, stop=[stop])
    assert stop not in gen.text and gen.stop_reason == "stop"


def test_cancel_from_another_thread_mid_generation(runtime: Runtime):
    flag = threading.Event()
    seen: list[str] = []

    def on_token(piece: str) -> None:
        seen.append(piece)
        if len(seen) == 3:
            flag.set()

    with pytest.raises(GenerationCancelled):
        runtime.generate("<|im_start|>user\nwrite", max_tokens=500, on_token=on_token, cancelled=flag.is_set)
    assert 3 <= len(seen) < 10
    assert runtime.generate("<|im_start|>user\nagain", max_tokens=4).n_generated > 0


def test_constrained_tool_calls_are_always_valid(runtime: Runtime):
    """Random weights, many prompts: every output is a schema-valid call of a listed tool."""
    for i in range(12):
        messages = [*CONVERSATION, {"role": "user", "content": f"request number {i}"}]
        result = runtime.tool_call(messages, TOOLS, max_tokens=400, temperature=1.0)
        assert_valid_call(result)


def test_a_cut_off_call_is_a_typed_error(runtime: Runtime):
    result = runtime.tool_call(CONVERSATION, TOOLS, max_tokens=5)
    assert isinstance(result, ToolCallError)
    assert "cut off at 5 tokens" in result.message


def test_a_prompt_longer_than_the_context_is_refused(runtime: Runtime):
    with pytest.raises(ModelError, match="the context holds 2,048"):
        runtime.generate("ab" * 3000, max_tokens=1)


def test_extending_the_prompt_evaluates_only_the_new_tokens(tiny_gguf: Path):
    rt = Runtime(tiny_gguf, n_ctx=2048)
    try:
        first = rt.render(CONVERSATION)
        n_first = rt.count_tokens(first)
        gen1 = rt.generate(first, max_tokens=8)
        assert gen1.n_evaluated == n_first
        longer = first + "listing~/Documents<|im_end|>\n<|im_start|>user\nand Downloads?<|im_end|>\n"
        n_longer = rt.count_tokens(longer)
        before = rt.total_evaluated
        gen2 = rt.generate(longer, max_tokens=8)
        assert gen2.n_evaluated == n_longer - n_first
        assert rt.total_evaluated - before == gen2.n_evaluated + gen2.n_generated
        # The same prompt again: only the last token is evaluated, for fresh logits.
        assert rt.generate(longer, max_tokens=1).n_evaluated == 1
        # A prompt that differs early re-evaluates from the difference on.
        changed = "<|im_start|>system\nSomething else entirely.<|im_end|>\n"
        old, new = rt.tokenize(longer), rt.tokenize(changed)
        common = next(i for i, (a, b) in enumerate(zip(old, new)) if a != b)
        assert 0 < common < len(new)
        assert rt.generate(changed, max_tokens=1).n_evaluated == len(new) - common
    finally:
        rt.close()


def test_saved_prefix_state_gives_the_same_logits_as_a_fresh_prefill(tiny_gguf: Path, tmp_path: Path):
    prefix = "<|im_start|>system\n" + "Pagemind knows your files and keeps them safe. " * 20 + "<|im_end|>\n"
    suffix = "<|im_start|>user\nopen my notes<|im_end|>\n<|im_start|>assistant\n"
    states = tmp_path / "states"

    saver = Runtime(tiny_gguf, n_ctx=2048)
    saved = saver.save_prefix(prefix, states)
    saver.close()
    assert saved.exists() and saved.parent == states

    fresh = Runtime(tiny_gguf, n_ctx=2048)
    fresh.evaluate(prefix)
    fresh_prefix_logits = fresh.logits()
    fresh.evaluate(prefix + suffix)
    fresh_logits = fresh.logits()
    fresh.close()

    restored = Runtime(tiny_gguf, n_ctx=2048)
    try:
        n_prefix = restored.count_tokens(prefix)
        assert restored.load_prefix(prefix, states) == n_prefix
        np.testing.assert_allclose(restored.logits(), fresh_prefix_logits, rtol=1e-4, atol=1e-4)
        evaluated = restored.evaluate(prefix + suffix)
        assert evaluated == restored.count_tokens(prefix + suffix) - n_prefix
        np.testing.assert_allclose(restored.logits(), fresh_logits, rtol=1e-4, atol=1e-4)
        assert restored.load_prefix("an unknown prefix", states) == 0
    finally:
        restored.close()


def test_a_state_saved_by_another_model_is_not_used(tiny_gguf: Path, tmp_path: Path):
    prefix = "<|im_start|>system\nshared prefix<|im_end|>\n"
    other = Runtime(synthetic.tiny(tmp_path / "other.gguf", seed=99), n_ctx=512)
    other.save_prefix(prefix, tmp_path)
    other.close()
    rt = Runtime(tiny_gguf, n_ctx=512)
    try:
        assert rt.load_prefix(prefix, tmp_path) == 0
    finally:
        rt.close()


def test_grammar_from_parse_round_trip_matches_validator(runtime: Runtime):
    """Free (unconstrained) output mostly fails validation; the same model under the grammar never does."""
    prompt = runtime.render(CONVERSATION)
    free = runtime.generate(prompt, max_tokens=60, temperature=1.0)
    assert isinstance(parse_tool_call(free.text, TOOLS), ToolCallError)
    constrained = runtime.generate(prompt, max_tokens=400, grammar=tool_call_grammar(TOOLS), temperature=1.0)
    assert isinstance(parse_tool_call(constrained.text, TOOLS), ToolCall)
