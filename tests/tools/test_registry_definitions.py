"""Tool definitions the registry refuses at decoration time, each with a message naming the
function and the parameter."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest

from tests.tools.test_registry import open_app
from tools.registry import (
    MaxLen,
    MinLen,
    Range,
    Registry,
    ToolContext,
    ToolDefinitionError,
    tool,
)


# -- definitions refused at decoration time -----------------------------------------------------
def no_docstring(a: str) -> str:
    return a


def no_summary(a: str) -> str:
    """Args:
    a: the text.
    """
    return a


def no_hint(a) -> str:  # type: ignore[no-untyped-def]
    """Do something.

    Args:
        a: the text.
    """
    return a


def undocumented(a: str, b: int) -> str:
    """Do something.

    Args:
        a: the text.
    """
    return a


def documents_a_ghost(a: str) -> str:
    """Do something.

    Args:
        a: the text.
        ghost: not a parameter.
    """
    return a


def documents_twice(a: str) -> str:
    """Do something.

    Args:
        a: the text.
        a: again.
    """
    return a


def empty_entry(a: str) -> str:
    """Do something.

    Args:
        a:
    """
    return a


def no_return(a: str):  # type: ignore[no-untyped-def]
    """Do something.

    Args:
        a: the text.
    """
    return a


def returns_int(a: str) -> int:
    """Do something.

    Args:
        a: the text.
    """
    return 1


def dict_param(a: dict[str, int]) -> str:
    """Do something.

    Args:
        a: a mapping.
    """
    return ""


def union_param(a: int | str) -> str:
    """Do something.

    Args:
        a: a number or a text.
    """
    return ""


def bare_list(a: list) -> str:  # type: ignore[type-arg]
    """Do something.

    Args:
        a: a list.
    """
    return ""


def float_literal(a: Literal[1.5, 2.5]) -> str:
    """Do something.

    Args:
        a: a float.
    """
    return ""


def unresolved(a: Nope) -> str:  # type: ignore[name-defined]  # noqa: F821
    """Do something.

    Args:
        a: something.
    """
    return ""


def misplaced_bound(a: Annotated[int, MaxLen(3)]) -> str:
    """Do something.

    Args:
        a: a number.
    """
    return ""


def crossed_bounds(a: Annotated[str, MinLen(5), MaxLen(2)]) -> str:
    """Do something.

    Args:
        a: the text.
    """
    return a


def none_default(a: str = None) -> str:  # type: ignore[assignment]
    """Do something.

    Args:
        a: the text.
    """
    return ""


def default_out_of_range(a: Annotated[int, Range(1, 5)] = 9) -> str:
    """Do something.

    Args:
        a: a number.
    """
    return ""


def reserved(request_heartbeat: bool) -> str:
    """Do something.

    Args:
        request_heartbeat: mine.
    """
    return ""


def star_args(*a: str) -> str:
    """Do something.

    Args:
        a: the texts.
    """
    return ""


def two_contexts(a: ToolContext, b: ToolContext) -> str:
    """Do something."""
    return ""


@pytest.mark.parametrize(
    ("fn", "fragment"),
    [
        (no_docstring, "no_docstring: no docstring"),
        (no_summary, "no_summary: the docstring has no summary"),
        (no_hint, "no_hint: parameter 'a' has no type hint"),
        (undocumented, "undocumented: parameter 'b' has no entry under Args:"),
        (documents_a_ghost, "documents_a_ghost: Args: documents 'ghost', not parameters"),
        (documents_twice, "documents_twice: Args: documents 'a' twice"),
        (empty_entry, "empty_entry: parameter 'a' has an empty entry under Args:"),
        (no_return, "no_return: the return annotation must be str"),
        (returns_int, "returns_int: the return annotation must be str"),
        (dict_param, "dict_param: parameter 'a': unsupported type dict[str, int]"),
        (union_param, "union_param: parameter 'a': unsupported type int | str"),
        (bare_list, "bare_list: parameter 'a': unsupported type <class 'list'>"),
        (float_literal, "float_literal: parameter 'a': enum values must be strings, integers or booleans"),
        (unresolved, "unresolved: cannot resolve type hints (name 'Nope' is not defined)"),
        (misplaced_bound, "misplaced_bound: parameter 'a': MaxLen(value=3) does not apply to <class 'int'>"),
        (crossed_bounds, "crossed_bounds: parameter 'a': minLength 5 is above maxLength 2"),
        (none_default, "none_default: parameter 'a': the default None does not match the type"),
        (default_out_of_range, "default_out_of_range: parameter 'a': the default 9 does not match the type"),
        (reserved, "reserved: parameter 'request_heartbeat': the name is reserved for the heartbeat"),
        (star_args, "star_args: parameter 'a': only named parameters are supported"),
        (two_contexts, "two_contexts: parameter 'b': a tool takes one ToolContext at most"),
    ],
)
def test_definitions_the_schema_cannot_describe_fail_at_decoration(fn, fragment):
    with pytest.raises(ToolDefinitionError) as caught:
        tool(risk="read", registry=Registry())(fn)
    assert fragment in str(caught.value)
    assert str(caught.value).startswith(f"@tool {__name__}.{fn.__name__}: ")


def test_unknown_risks_and_bad_names_fail_at_decoration():
    with pytest.raises(ToolDefinitionError, match="unknown risk 'dangerous'"):
        tool(risk="dangerous", registry=Registry())(open_app.fn)  # type: ignore[arg-type]
    with pytest.raises(ToolDefinitionError, match="'open app' is not a valid tool name"):
        tool(risk="launch", name="open app", registry=Registry())(open_app.fn)


def test_heartbeat_can_be_declined_for_other_tools_and_a_context_needs_no_args_entry():
    def note(ctx: ToolContext) -> str:
        """Write a note."""
        return "ok"

    made = tool(risk="write", heartbeat=False, registry=Registry())(note)
    assert made.parameters == {"type": "object", "properties": {}, "required": [], "additionalProperties": False}


