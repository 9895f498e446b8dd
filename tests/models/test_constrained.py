"""Grammar-constrained decoding (models/constrained.py) through the real runtime and llama.cpp.

The tiny random model mostly repeats its last token, so the grammar rejects its first choice at
most structural positions: the fallback (filter the candidates, sample again) runs all the time,
and jump-forward fills in what the grammar forces. Model seeds, prompts, temperatures and
schemas vary the paths taken.
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from models import synthetic
from models.errors import GenerationCancelled, ModelError
from models.grammar import tool_call_grammar, tool_call_schema
from models.interface import ToolCall, ToolCallError
from models.local_client import LocalChatModel
from models.engine.runtime import Runtime
from models.toolcall import parse_tool_call
from tests.models.conftest import TOOLS, assert_valid_call

pytestmark = pytest.mark.slow

RICH_TOOLS = [
    *TOOLS,
    {
        "name": "move_files",
        "description": "Move files.",
        "parameters": {
            "type": "object",
            "properties": {
                "sources": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 2, "maxLength": 12},
                    "minItems": 1,
                    "maxItems": 3,
                },
                "target": {
                    "type": "object",
                    "properties": {"dir": {"type": "string", "maxLength": 20}, "mode": {"const": "überschreiben"}},
                    "required": ["dir", "mode"],
                },
                "ratio": {"type": "number"},
                "note": {"type": ["string", "null"], "maxLength": 5},
                "level": {"enum": ["niedrig", "höher", "höchste", 3, None]},
            },
            "required": ["sources", "target", "level"],
        },
    },
    {"name": "noop", "description": "Do nothing.", "parameters": {"type": "object", "properties": {}}},
]
GRAMMAR = tool_call_grammar(TOOLS)
CONVERSATION = [
    {"role": "system", "content": "You are Pagemind. Answer with one tool call."},
    {"role": "user", "content": "What is in my Documents folder?"},
]
PROMPT = (
    "<|im_start|>system\nYou are Pagemind. Answer with one tool call.<|im_end|>\n"
    "<|im_start|>user\nWhat is in my Documents folder?<|im_end|>\n<|im_start|>assistant\n"
)


@pytest.fixture(scope="module")
def runtime(tiny_gguf: Path) -> Runtime:
    rt = Runtime(tiny_gguf, n_ctx=2048, seed=11)
    yield rt
    rt.close()


def _random_prompt(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits + string.punctuation + " ")
                   for _ in range(rng.randint(1, 60)))


@pytest.mark.parametrize("mode", ["jump", "candidate"])
def test_every_call_is_valid_json_for_its_tools_schema(tmp_path: Path, mode: str):
    schema, grammar = tool_call_schema(RICH_TOOLS), tool_call_grammar(RICH_TOOLS)
    rng = random.Random(mode)
    tools_seen, resampled, forced = set(), 0, 0
    for model_seed in range(3):
        rt = Runtime(synthetic.tiny(tmp_path / f"tiny-{model_seed}.gguf", seed=model_seed), n_ctx=1024,
                     seed=model_seed + 1)
        rt.set_grammar_decoding(mode)
        try:
            for i in range(8):
                gen = rt.generate(_random_prompt(rng), grammar=grammar, max_tokens=600,
                                  temperature=(0.0, 0.2, 1.0)[i % 3])
                assert gen.stop_reason == "stop", gen
                value = json.loads(gen.text, strict=False)
                jsonschema.validate(value, schema)
                assert isinstance(parse_tool_call(gen.text, RICH_TOOLS), ToolCall)
                tools_seen.add(value["tool"])
                resampled += rt.last_stats.resampled
                forced += rt.last_stats.forced
        finally:
            rt.close()
    assert len(tools_seen) >= 2
    assert resampled > 0  # the grammar rejected sampled tokens: the fallback ran
    assert (forced > 0) == (mode == "jump")


def test_tool_calls_through_the_template_are_valid_for_many_seeds(tiny_gguf: Path):
    for seed in range(1, 7):
        rt = Runtime(tiny_gguf, n_ctx=1024, seed=seed)
        try:
            for i in range(3):
                messages = [*CONVERSATION, {"role": "user", "content": f"request number {i} " * (seed + i)}]
                assert_valid_call(rt.tool_call(messages, TOOLS, max_tokens=400, temperature=1.0))
        finally:
            rt.close()


def test_jump_forward_forces_the_fixed_parts_and_evaluates_them_in_batches(runtime: Runtime):
    forced_before = runtime.total_forced
    gen = runtime.generate(PROMPT, grammar=GRAMMAR, max_tokens=400)
    jump = runtime.last_stats
    assert gen.stop_reason == "stop"
    assert gen.text.startswith('{"thought": "') and '", "tool": "' in gen.text
    assert '", "args": {' in gen.text and gen.text.endswith("}}")
    # The grammar's end is seen, not sampled: every token was either sampled or forced.
    assert jump.forced > 0 and jump.forced + jump.sampled == gen.n_generated
    assert runtime.total_forced - forced_before == jump.forced
    assert runtime.decode_stats()["forced"] == jump.forced
    # A sampled token and the forced text after it share one decode.
    assert jump.batches <= jump.sampled < gen.n_generated / 2

    runtime.set_grammar_decoding("candidate")
    try:
        alone = runtime.generate(PROMPT, grammar=GRAMMAR, max_tokens=400)
    finally:
        runtime.set_grammar_decoding("jump")
    check = runtime.last_stats
    assert check.forced == 0 and check.batches >= alone.n_generated - 1 > jump.batches


def test_a_fully_forced_grammar_needs_no_sampling_and_no_decoding(runtime: Runtime):
    grammar = 'root ::= "{" ws "\\"answer\\"" ws ":" ws "42" ws "}"\nws ::= [ \\t\\n]*\n'
    gen = runtime.generate(PROMPT, grammar=grammar, max_tokens=50)
    assert gen.text == '{"answer": 42}' and gen.stop_reason == "stop"
    assert runtime.last_stats.sampled == 0 and runtime.last_stats.batches == 0
    assert runtime.last_stats.forced == gen.n_generated > 0


def test_unconstrained_generation_samples_every_token(runtime: Runtime):
    gen = runtime.generate(PROMPT, max_tokens=12)
    assert runtime.last_stats.forced == 0 and runtime.last_stats.resampled == 0
    assert runtime.last_stats.sampled >= gen.n_generated > 0


def test_streamed_pieces_add_up_to_the_text(runtime: Runtime):
    pieces: list[str] = []
    gen = runtime.generate(PROMPT, grammar=GRAMMAR, max_tokens=400, on_token=pieces.append)
    assert "".join(pieces) == gen.text and len(pieces) >= gen.n_generated / 3
    assert 0 < gen.first_token_seconds <= gen.prefill_seconds + gen.decode_seconds


def test_a_stop_string_inside_forced_text_ends_generation(runtime: Runtime):
    gen = runtime.generate(PROMPT, grammar=GRAMMAR, max_tokens=400, stop=['"tool"'])
    assert gen.stop_reason == "stop"
    assert gen.text.startswith('{"thought": "') and '"tool"' not in gen.text
    assert gen.text.rstrip().endswith(",")


def test_max_tokens_cuts_forced_text_at_the_exact_count(runtime: Runtime):
    whole = runtime.generate(PROMPT, grammar=GRAMMAR, max_tokens=400, temperature=0.0)
    for limit in (1, 2, 3, 5, 8, 13):
        gen = runtime.generate(PROMPT, grammar=GRAMMAR, max_tokens=limit, temperature=0.0)
        assert gen.n_generated == limit and gen.stop_reason == "length"
        assert whole.text.startswith(gen.text)
    result = runtime.tool_call(CONVERSATION, TOOLS, max_tokens=3)
    assert isinstance(result, ToolCallError) and "cut off at 3 tokens" in result.message


def test_greedy_calls_are_repeatable(runtime: Runtime):
    first = runtime.tool_call(CONVERSATION, TOOLS, max_tokens=400, temperature=0.0)
    again = runtime.tool_call(CONVERSATION, TOOLS, max_tokens=400, temperature=0.0)
    assert assert_valid_call(first).raw == assert_valid_call(again).raw


def test_cancellation_is_checked_after_every_token_forced_ones_too(runtime: Runtime):
    seen: list[str] = []

    def cancelled() -> bool:
        return len(seen) >= 3

    n_prompt = len(runtime.tokenize(PROMPT))
    with pytest.raises(GenerationCancelled):
        runtime.generate(PROMPT, grammar=GRAMMAR, max_tokens=400, on_token=seen.append, cancelled=cancelled)
    assert len(seen) == 3
    # Only evaluated tokens are in the cache: here the three were forced and never evaluated.
    assert n_prompt <= runtime.llm.n_tokens <= n_prompt + 3
    assert_valid_call(runtime.tool_call(CONVERSATION, TOOLS, max_tokens=400))


def test_the_next_call_reuses_the_prompt_and_the_evaluated_call(tiny_gguf: Path):
    rt = Runtime(tiny_gguf, n_ctx=2048, seed=5)
    fresh = Runtime(tiny_gguf, n_ctx=2048)
    try:
        first = rt.tokenize(PROMPT)
        gen1 = rt.generate(PROMPT, grammar=GRAMMAR, max_tokens=400)
        assert rt.last_stats.forced > 0
        cached = [int(t) for t in rt.llm.input_ids[: rt.llm.n_tokens]]
        assert cached[: len(first)] == first
        evaluated_text = rt.llm.detokenize(cached[len(first):]).decode()
        assert evaluated_text and gen1.text.startswith(evaluated_text)

        longer = PROMPT + gen1.text + "<|im_end|>\n<|im_start|>user\nand Downloads?<|im_end|>\n<|im_start|>assistant\n"
        new = rt.tokenize(longer)
        common = next(i for i, (a, b) in enumerate(zip([*cached, -1], new)) if a != b)
        assert common > len(first)  # the call's evaluated tokens are reused too
        before = rt.total_evaluated
        gen2 = rt.generate(longer, grammar=GRAMMAR, max_tokens=400)
        assert gen2.n_evaluated == len(new) - common
        assert rt.total_evaluated - before == gen2.n_evaluated + gen2.n_generated
        assert rt.generate(longer, max_tokens=1).n_evaluated == 1

        # The cache built from sampled steps and forced batches equals a fresh prefill's.
        rt.evaluate(longer)
        fresh.evaluate(longer)
        np.testing.assert_allclose(rt.logits(), fresh.logits(), rtol=1e-3, atol=1e-3)
    finally:
        rt.close()
        fresh.close()


def test_the_old_full_vocabulary_path_stays_reachable(runtime: Runtime):
    runtime.set_grammar_decoding("full")
    try:
        assert_valid_call(runtime.tool_call(CONVERSATION, TOOLS, max_tokens=400))
        assert runtime.last_stats.forced == 0
    finally:
        runtime.set_grammar_decoding("jump")
    with pytest.raises(ModelError, match="unknown grammar decoding"):
        runtime.set_grammar_decoding("fast")


def test_a_grammar_llama_cpp_cannot_parse_is_a_model_error(runtime: Runtime):
    with pytest.raises(ModelError, match="cannot parse the grammar"):
        runtime.generate(PROMPT, grammar='root ::= "a" undefined-rule', max_tokens=4)
    assert runtime.generate(PROMPT, grammar='root ::= "yes" | "no"', max_tokens=8).text in ("yes", "no")


def test_the_runner_exposes_the_decoding_mode_and_its_counts(tiny_gguf: Path):
    with LocalChatModel(tiny_gguf, n_ctx=1024, seed=3) as model:
        assert_valid_call(model.tool_call(CONVERSATION, TOOLS, max_tokens=400))
        stats = model.runner.call("decode_stats")
        assert stats["forced"] > 0 and stats["total_forced"] == stats["forced"]
        model.runner.call("set_grammar_decoding", mode="full")
        assert_valid_call(model.tool_call(CONVERSATION, TOOLS, max_tokens=400))
        assert model.runner.call("decode_stats")["forced"] == 0
