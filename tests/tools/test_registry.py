"""The tool registry: schemas derived from typed functions, definitions refused at decoration time,
calls (validation, conversion, context, errors as results, truncation), and the grammar built from
the derived specs: llama.cpp compiles it and the parser accepts exactly the arguments it describes."""

from __future__ import annotations

import enum
import json
import math
from typing import Annotated, Any, Literal

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tools.registry as registry_module
from models.grammar import DEFAULT_MAX_ITEMS, DEFAULT_MAX_STRING, tool_call_grammar
from models.interface import ToolCall, ToolCallError
from models.toolcall import parse_tool_call
from tools.registry import (
    HEARTBEAT,
    MAX_RESULT_CHARS,
    RISKS,
    MaxLen,
    MinLen,
    Range,
    Registry,
    Tool,
    ToolContext,
    ToolDefinitionError,
    tool,
)


class Sort(enum.Enum):
    NAME = "name"
    SIZE = "size"
    MODIFIED = "modified"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


def _show(received: dict[str, Any]) -> str:
    """What a sample tool received, so tests can see names, values and types."""
    return repr(sorted(received.items()))


SAMPLES = Registry()


@tool(risk="read", registry=SAMPLES, heartbeat=False)
def send_message(message: Annotated[str, MaxLen(200)]) -> str:
    """Send a message to the user.

    Args:
        message: what to say.
    """
    return f"sent: {message}"


@tool(risk="read", registry=SAMPLES)
def list_dir(
    path: Annotated[str, MinLen(1), MaxLen(40)],
    sort: Sort = Sort.NAME,
    limit: Annotated[int, Range(1, 500)] = 50,
    hidden: bool = False,
    pattern: str | None = None,
) -> str:
    """List the entries of a folder.

    One entry per line,
    newest first when sorted by date.

    Args:
        path: the folder
            to list.
        sort (Sort): the order of the entries.
        limit: at most this many entries.
        hidden: include hidden entries.
        pattern: a glob the names must match.

    Returns:
        The listing.
    """
    return _show(locals())


@tool(risk="write", registry=SAMPLES)
def move_file(source: str, destination: str, overwrite: Literal["never", "always", "newer"] = "never") -> str:
    """Move or rename a file.

    Args:
        source: the file to move.
        destination: where it goes.
        overwrite: when to replace an existing file.
    """
    return _show(locals())


@tool(risk="destructive", registry=SAMPLES)
def kill_process(
    pids: Annotated[list[Annotated[int, Range(minimum=1)]], MinLen(1), MaxLen(8)],
    reason: str | None,
    signal: Literal[9, 15] = 15,
    priority: Priority | None = None,
) -> str:
    """Stop processes.

    Args:
        pids: the processes to stop.
        reason: why, or null.
        signal: the signal to send.
        priority: how urgent it is.
    """
    return _show(locals())


@tool(risk="control", registry=SAMPLES, name="type_keys")
def type_text(
    text: Annotated[str, MaxLen(500)],
    interval: Annotated[float, Range(0.0, 1.0)] = 0.05,
    keys: Annotated[list[Literal["enter", "tab"]], MaxLen(4)] | None = None,
    repeat: int = 1,
    tags: list[str] | None = None,
) -> str:
    """Type text into the focused window.

    Args:
        text: the text to type.
        interval: seconds between keys.
        keys: special keys to press afterwards.
        repeat: how many times.
        tags: labels for the journal.
    """
    return _show(locals())


@tool(risk="write", registry=SAMPLES)
def core_memory_append(
    section: Literal["human", "persona"], text: Annotated[str, MaxLen(300)], ctx: ToolContext
) -> str:
    """Append a line to a core memory section.

    Args:
        section: which section.
        text: the line to add.
        ctx: the services (the memory store).
    """
    ctx.get("memory").append((section, text))
    return f"appended to {section}"


@tool(risk="launch", registry=SAMPLES)
def open_app(name: Annotated[str, MaxLen(60)], weight: float | None = None) -> str:
    """Open an application.

    Args:
        name: the application.
        weight: a float or nothing.
    """
    return _show(locals())


def _context() -> ToolContext:
    return ToolContext({"memory": []})


# -- schemas ------------------------------------------------------------------------------------
def test_schema_from_signature_and_docstring():
    assert list_dir.name == "list_dir" and list_dir.risk == "read"
    assert list_dir.description == "List the entries of a folder. One entry per line, newest first when sorted by date."
    assert list_dir.parameters == {
        "type": "object",
        "properties": {
            "path": {"description": "the folder to list.", "type": "string", "minLength": 1, "maxLength": 40},
            "sort": {
                "description": "the order of the entries.",
                "type": "string",
                "enum": ["name", "size", "modified"],
                "default": "name",
            },
            "limit": {
                "description": "at most this many entries.",
                "type": "integer",
                "minimum": 1,
                "maximum": 500,
                "default": 50,
            },
            "hidden": {"description": "include hidden entries.", "type": "boolean", "default": False},
            "pattern": {
                "description": "a glob the names must match.",
                "type": "string",
                "maxLength": DEFAULT_MAX_STRING,
            },
            HEARTBEAT: {
                "description": "true to take another step after this result; false to wait for the user.",
                "type": "boolean",
            },
        },
        "required": ["path", HEARTBEAT],
        "additionalProperties": False,
    }


def test_schema_of_lists_literals_int_enums_and_nullable_parameters():
    props = kill_process.parameters["properties"]
    assert props["pids"] == {
        "description": "the processes to stop.",
        "type": "array",
        "items": {"type": "integer", "minimum": 1},
        "minItems": 1,
        "maxItems": 8,
    }
    assert props["reason"] == {
        "description": "why, or null.",
        "anyOf": [{"type": "string", "maxLength": DEFAULT_MAX_STRING}, {"type": "null"}],
    }
    assert props["signal"] == {"description": "the signal to send.", "type": "integer", "enum": [9, 15], "default": 15}
    assert props["priority"] == {"description": "how urgent it is.", "type": "integer", "enum": [1, 2]}
    assert kill_process.parameters["required"] == ["pids", "reason", HEARTBEAT]


def test_schema_of_floats_default_bounds_and_named_tools():
    assert type_text.name == "type_keys" and type_text.risk == "control"
    props = type_text.parameters["properties"]
    assert props["interval"] == {
        "description": "seconds between keys.",
        "type": "number",
        "minimum": 0.0,
        "maximum": 1.0,
        "default": 0.05,
    }
    assert props["keys"]["items"] == {"type": "string", "enum": ["enter", "tab"]}
    assert props["keys"]["maxItems"] == 4
    assert props["repeat"] == {"description": "how many times.", "type": "integer", "default": 1}
    assert props["tags"]["items"] == {"type": "string", "maxLength": DEFAULT_MAX_STRING}
    assert props["tags"]["maxItems"] == DEFAULT_MAX_ITEMS
    assert open_app.parameters["properties"]["weight"] == {"description": "a float or nothing.", "type": "number"}


def test_context_parameters_stay_out_of_the_schema():
    assert core_memory_append.context_param == "ctx"
    assert list(core_memory_append.parameters["properties"]) == ["section", "text", HEARTBEAT]


def test_every_schema_is_a_valid_draft_2020_12_schema():
    for spec in SAMPLES.specs():
        jsonschema.Draft202012Validator.check_schema(spec["parameters"])


def test_decorated_function_stays_callable_and_spec_is_a_copy():
    assert isinstance(list_dir, Tool)
    assert list_dir("~/Docs") == _show(
        {"path": "~/Docs", "sort": Sort.NAME, "limit": 50, "hidden": False, "pattern": None}
    )
    spec = list_dir.spec()
    assert spec["name"] == "list_dir" and spec["description"] == list_dir.description
    spec["parameters"]["properties"].clear()
    assert "path" in list_dir.spec()["parameters"]["properties"]


# -- the heartbeat ------------------------------------------------------------------------------
def test_every_tool_but_send_message_takes_a_required_heartbeat():
    for spec in SAMPLES.specs():
        params = spec["parameters"]
        if spec["name"] == "send_message":
            assert HEARTBEAT not in params["properties"] and HEARTBEAT not in params["required"]
        else:
            assert params["properties"][HEARTBEAT]["type"] == "boolean"
            assert list(params["properties"])[-1] == HEARTBEAT and HEARTBEAT in params["required"]


def test_the_heartbeat_is_split_off_before_the_call():
    assert list_dir.split_args({"path": "a", HEARTBEAT: True}) == ({"path": "a"}, True)
    assert list_dir.split_args({"path": "a", HEARTBEAT: False}) == ({"path": "a"}, False)
    assert send_message.split_args({"message": "hi"}) == ({"message": "hi"}, False)
    result = list_dir.call({"path": "a", HEARTBEAT: True})
    assert not result.startswith("Error") and HEARTBEAT not in result
    assert send_message.call({"message": "hi", HEARTBEAT: True}).startswith(
        "Error: invalid arguments for send_message: Additional properties are not allowed"
    )


# -- calls --------------------------------------------------------------------------------------
def test_call_converts_json_values_to_the_declared_types():
    assert list_dir.call({"path": "a", "sort": "size", "limit": 3}) == _show(
        {"path": "a", "sort": Sort.SIZE, "limit": 3, "hidden": False, "pattern": None}
    )
    assert kill_process.call({"pids": [4, 5], "reason": None, "priority": 2}) == _show(
        {"pids": [4, 5], "reason": None, "signal": 15, "priority": Priority.HIGH}
    )
    result = type_text.call({"text": "x", "interval": 0, "repeat": 2.0})
    assert "('interval', 0.0)" in result and "('repeat', 2)" in result

    def pick(sorts: list[Sort]) -> str:
        """Pick orders.

        Args:
            sorts: the orders.
        """
        return repr(sorts)

    made = tool(risk="read", registry=Registry())(pick)
    assert made.parameters["properties"]["sorts"]["items"] == {"type": "string", "enum": ["name", "size", "modified"]}
    assert made.call({"sorts": ["size", "name"]}) == repr([Sort.SIZE, Sort.NAME])


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ({"path": 3}, "path: 3 is not of type 'string'"),
        ({}, "'path' is a required property"),
        ({"path": ""}, "path: '' should be non-empty"),
        ({"path": "a", "limit": 0}, "limit: 0 is less than the minimum of 1"),
        ({"path": "a", "sort": "random"}, "sort: 'random' is not one of ['name', 'size', 'modified']"),
        ({"path": "a", "rm": True}, "Additional properties are not allowed ('rm' was unexpected)"),
    ],
)
def test_call_reports_invalid_arguments_as_a_result(args, fragment):
    result = list_dir.call(args)
    assert result.startswith("Error: invalid arguments for list_dir: ")
    assert fragment in result and "\n" not in result


def test_float_bounds_and_list_minimums_are_checked_by_the_call():
    assert "interval: 1.5 is greater than the maximum of 1.0" in type_text.call({"text": "x", "interval": 1.5})
    assert "pids: [] should be non-empty" in kill_process.call({"pids": [], "reason": None})


def test_the_context_reaches_the_tool():
    context = _context()
    assert core_memory_append.call({"section": "human", "text": "likes tea"}, context) == "appended to human"
    assert context.services["memory"] == [("human", "likes tea")]
    assert core_memory_append.call({"section": "human", "text": "x"}) == (
        "Error: LookupError: no 'memory' service in the tool context"
    )


def test_exceptions_become_one_line_results():
    def fail(kind: str) -> str:
        """Fail on purpose.

        Args:
            kind: what to raise.
        """
        if kind == "value":
            raise ValueError("bad\n  thing")
        if kind == "bare":
            raise RuntimeError
        if kind == "interrupt":
            raise KeyboardInterrupt
        if kind == "exit":
            raise SystemExit(3)
        return 42  # type: ignore[return-value]

    made = tool(risk="read", registry=Registry())(fail)
    assert made.call({"kind": "value", HEARTBEAT: False}) == "Error: ValueError: bad thing"
    assert made.call({"kind": "bare"}) == "Error: RuntimeError"
    assert made.call({"kind": "int"}) == "Error: TypeError: fail returned int, not str"
    with pytest.raises(KeyboardInterrupt):
        made.call({"kind": "interrupt"})
    with pytest.raises(SystemExit):
        made.call({"kind": "exit"})


def test_long_results_are_truncated_with_a_note():
    def long(n: int) -> str:
        """Return n characters.

        Args:
            n: how many.
        """
        return "x" * n

    made = tool(risk="read", registry=Registry())(long)
    assert made.call({"n": MAX_RESULT_CHARS}) == "x" * MAX_RESULT_CHARS
    cut = made.call({"n": MAX_RESULT_CHARS + 25})
    assert cut == "x" * MAX_RESULT_CHARS + "... [truncated: 25 more characters]"
    assert made.run({"n": 100}, limit=10).text == "x" * 10 + "... [truncated: 90 more characters]"


# -- the registry -------------------------------------------------------------------------------
def test_registry_lookup_order_and_risk_tiers():
    assert RISKS == ("read", "write", "destructive", "control", "launch")
    names = ["send_message", "list_dir", "move_file", "kill_process", "type_keys", "core_memory_append", "open_app"]
    assert SAMPLES.names() == names
    assert SAMPLES.get("type_keys") is type_text
    assert [s["name"] for s in SAMPLES.specs(["open_app", "list_dir"])] == ["open_app", "list_dir"]
    assert SAMPLES.tools_of("write") == [move_file, core_memory_append]
    assert SAMPLES.tools_of("launch") == [open_app]
    with pytest.raises(KeyError, match="no tool named 'format_disk'"):
        SAMPLES.get("format_disk")
    with pytest.raises(ValueError, match="unknown risk"):
        SAMPLES.tools_of("dangerous")  # type: ignore[arg-type]


def test_registry_refuses_duplicate_names():
    private = Registry()
    private.register(list_dir)
    with pytest.raises(ToolDefinitionError, match="a tool named 'list_dir' is already registered"):
        private.register(list_dir)
    with pytest.raises(ToolDefinitionError, match="already registered"):
        tool(risk="read", name="list_dir", registry=private)(open_app.fn)


def test_tool_registers_in_the_default_registry(monkeypatch: pytest.MonkeyPatch):
    default = Registry()
    monkeypatch.setattr(registry_module, "REGISTRY", default)
    made = tool(risk="launch")(open_app.fn)
    assert default.get("open_app") is made


# -- the grammar built from the specs -----------------------------------------------------------
def test_llama_cpp_compiles_the_grammar_of_the_sample_tools():
    llama_cpp = pytest.importorskip("llama_cpp")
    grammar = tool_call_grammar(SAMPLES.specs())
    assert llama_cpp.LlamaGrammar.from_string(grammar, verbose=False) is not None
    assert "*" not in grammar and "+" not in grammar.replace("[-+]", "")  # nothing unbounded


_INT_LIMIT = 10**15 - 1  # the grammar's integers have 15 digits at most


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid under ``schema`` (the subset of JSON schema the registry emits)."""
    if "anyOf" in schema:
        return st.one_of([from_schema(option) for option in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema["type"]
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        low, high = schema.get("minimum", -_INT_LIMIT), schema.get("maximum", _INT_LIMIT)
        return st.integers(math.ceil(low), math.floor(high))
    if kind == "number":
        return st.floats(schema.get("minimum", -1e15), schema.get("maximum", 1e15), allow_nan=False)
    if kind == "string":
        return st.text(min_size=schema.get("minLength", 0), max_size=schema["maxLength"])
    if kind == "array":
        items = from_schema(schema["items"])
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=schema["maxItems"])
    assert kind == "object", schema
    props = schema["properties"]
    return st.fixed_dictionaries(
        {key: from_schema(props[key]) for key in schema["required"]},
        optional={key: from_schema(value) for key, value in props.items() if key not in schema["required"]},
    )


def wrong_type(schema: dict[str, Any]) -> Any:
    """A value of a JSON type ``schema`` does not admit."""
    if "anyOf" in schema:
        return wrong_type(schema["anyOf"][0])
    if "enum" in schema:
        return ["none of these"]
    return {"string": 12345, "integer": "12", "number": "1.5", "boolean": "yes", "array": "a, b"}[schema["type"]]


def _raw(name: str, args: dict[str, Any]) -> str:
    return json.dumps({"thought": "", "tool": name, "args": args})


@settings(max_examples=300, deadline=None)
@given(data=st.data(), spec=st.sampled_from(SAMPLES.specs()))
def test_the_parser_accepts_exactly_the_arguments_the_schemas_describe(data, spec):
    specs = SAMPLES.specs()
    schema = spec["parameters"]
    args = data.draw(from_schema(schema), label="args")
    call = parse_tool_call(_raw(spec["name"], args), specs)
    assert isinstance(call, ToolCall), call
    assert call.tool == spec["name"] and call.args == args
    result = SAMPLES.get(spec["name"]).call(call.args, _context())
    assert not result.startswith("Error"), result

    extra = parse_tool_call(_raw(spec["name"], {**args, "unexpected": 1}), specs)
    assert isinstance(extra, ToolCallError) and "Additional properties" in extra.message

    key = data.draw(st.sampled_from(sorted(schema["properties"])), label="wrong key")
    wrong = parse_tool_call(_raw(spec["name"], {**args, key: wrong_type(schema["properties"][key])}), specs)
    assert isinstance(wrong, ToolCallError) and f"Invalid arguments for {spec['name']}" in wrong.message
