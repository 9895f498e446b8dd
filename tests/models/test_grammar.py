"""The tool-call grammar and the parser/validator, without a model, plus llama.cpp compiling it."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.grammar import (
    GrammarError,
    integer_range,
    tool_call_grammar,
    tool_call_schema,
)
from models.interface import ToolCall, ToolCallError
from models.toolcall import parse_tool_call
from tests.models.conftest import TOOLS


def _as_regex(body: str) -> re.Pattern[str]:
    """Integer-range bodies use only literals, classes, groups and {n}: a regex in disguise."""
    return re.compile("^(" + body.replace('"', "").replace(" ", "") + ")$")


@settings(max_examples=300, deadline=None)
@given(
    lo=st.one_of(st.none(), st.integers(-10**6, 10**6)),
    span=st.one_of(st.none(), st.integers(0, 10**7)),
    probe=st.integers(-2 * 10**7, 2 * 10**7),
)
def test_integer_range_matches_exactly_the_integers_in_bounds(lo, span, probe):
    hi = None if span is None else (span if lo is None else lo + span)
    pattern = _as_regex(integer_range(lo, hi))
    inside = (lo is None or probe >= lo) and (hi is None or probe <= hi)
    assert bool(pattern.match(str(probe))) == inside
    for edge in (lo, hi):
        if edge is not None:
            assert pattern.match(str(edge))


def test_integer_range_rejects_leading_zeros_and_empty_ranges():
    pattern = _as_regex(integer_range(0, 1000))
    assert not pattern.match("007") and not pattern.match("-0")
    with pytest.raises(GrammarError):
        integer_range(5, 4)


def test_grammar_has_one_branch_per_tool_and_bounds_everything():
    grammar = tool_call_grammar(TOOLS)
    for spec in TOOLS:
        assert f'call-{spec["name"].replace("_", "-")} ::=' in grammar
    assert "char{0,300}" in grammar  # the thought
    assert "char{0,80}" in grammar  # send_message's message
    assert "*" not in grammar and "+" not in grammar.replace("[-+]", "")  # nothing unbounded


def test_grammar_refuses_what_it_cannot_express():
    with pytest.raises(GrammarError):
        tool_call_grammar([])
    with pytest.raises(GrammarError):
        tool_call_grammar([{"name": "x", "description": "", "parameters": {"type": "string"}}])
    with pytest.raises(GrammarError):
        tool_call_grammar(
            [{"name": "x", "description": "", "parameters": {"type": "object", "properties": {"a": {"type": "tuple"}}}}]
        )


def test_llama_cpp_compiles_the_grammar():
    llama_cpp = pytest.importorskip("llama_cpp")
    grammar = llama_cpp.LlamaGrammar.from_string(tool_call_grammar(TOOLS), verbose=False)
    assert grammar is not None


def test_schema_of_a_whole_call_names_every_tool():
    schema = tool_call_schema(TOOLS)
    assert [b["properties"]["tool"]["const"] for b in schema["oneOf"]] == [t["name"] for t in TOOLS]


# -- parsing and validation -------------------------------------------------------------------
def test_parse_valid_call_with_raw_control_characters():
    raw = '{"thought": "line one\nline two", "tool": "list_dir", "args": {"path": "~/Docs", "limit": 5}}'
    call = parse_tool_call(raw, TOOLS)
    assert isinstance(call, ToolCall)
    assert call.tool == "list_dir" and call.args == {"path": "~/Docs", "limit": 5}
    assert call.thought == "line one\nline two"


def test_parse_skips_text_around_the_object():
    raw = 'Sure! {"thought": "", "tool": "send_message", "args": {"message": "hi"}} trailing'
    assert isinstance(parse_tool_call(raw, TOOLS), ToolCall)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("no json here", "not a JSON object"),
        ('{"thought": "x", "tool": "list_dir", "args": {"path": ', "not a JSON object"),
        ('["a"]', "not a JSON object"),
        ('{"thought": "", "tool": "format_disk", "args": {}}', "Unknown tool 'format_disk'"),
        ('{"thought": "", "tool": "list_dir", "args": {}}', "'path' is a required property"),
        ('{"thought": "", "tool": "list_dir", "args": {"path": 3}}', "path: 3 is not of type 'string'"),
        ('{"thought": "", "tool": "list_dir", "args": {"path": "a", "limit": 0}}', "limit: 0 is less than"),
        ('{"thought": "", "tool": "list_dir", "args": {"path": "a", "rm": true}}', "Additional properties"),
        ('{"thought": "", "tool": "list_dir", "args": {"path": "a"}, "x": 1}', "Unexpected keys"),
        ('{"thought": 5, "tool": "list_dir", "args": {"path": "a"}}', "'thought' must be a string"),
        ('{"thought": "", "tool": "list_dir", "args": "a"}', "must be an object"),
    ],
)
def test_parse_reports_bad_calls_as_errors_the_model_can_read(raw, fragment):
    result = parse_tool_call(raw, TOOLS)
    assert isinstance(result, ToolCallError)
    assert fragment in result.message
    assert "\n" not in result.message.strip() or raw in result.message


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_parse_never_raises(raw):
    result = parse_tool_call(raw, TOOLS)
    assert isinstance(result, (ToolCall, ToolCallError))


def test_every_valid_call_in_the_schema_language_parses_back():
    call = {"thought": "t", "tool": "kill_process", "args": {"pid": 42, "request_heartbeat": False}}
    result = parse_tool_call(json.dumps(call), TOOLS)
    assert isinstance(result, ToolCall) and result.args == call["args"]


def test_array_bounds_are_part_of_the_grammar():
    llama_cpp = pytest.importorskip("llama_cpp")
    spec = {"name": "kill", "description": "", "parameters": {
        "type": "object", "properties": {"pids": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3}},
        "required": ["pids"]}}
    grammar = tool_call_grammar([spec])
    assert '("," ws integer){0,2}' in grammar and '"[" ws integer' in grammar
    assert llama_cpp.LlamaGrammar.from_string(grammar, verbose=False) is not None
