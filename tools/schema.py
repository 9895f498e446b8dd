"""How a tool's signature and docstring become its JSON schema: types, bounds, descriptions.

The registry (tools/registry.py) calls these at decoration time; everything they refuse fails at
import with :class:`ToolDefinitionError`.
"""

from __future__ import annotations

import enum
import re
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from models.grammar import DEFAULT_MAX_ITEMS, DEFAULT_MAX_STRING, NON_BLANK
from tools.judged import Moved

Convert = Callable[[Any], Any]
_SECTION = re.compile(r"^(Args|Arguments|Returns?|Raises|Yields?|Examples?|Notes?|Warnings?):\s*$")
_ENTRY = re.compile(r"^(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


class ToolDefinitionError(ValueError):
    """A function cannot become a tool, or its name is taken; raised at decoration time."""


@dataclass(frozen=True)
class Range:
    """Inclusive bounds of an ``int`` or ``float`` parameter; None leaves a side open."""

    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class MaxLen:
    """Most characters of a ``str``, or most items of a ``list``."""

    value: int


@dataclass(frozen=True)
class MinLen:
    """Fewest characters of a ``str``, or fewest items of a ``list``."""

    value: int


_BOUND_KEYS = {
    (MinLen, "string"): "minLength", (MaxLen, "string"): "maxLength",
    (MinLen, "array"): "minItems", (MaxLen, "array"): "maxItems",
}


def same(value: Any) -> Any:
    return value


def none_or(convert: Convert) -> Convert:
    return lambda value: None if value is None else convert(value)


def path_kind(hint: Any) -> tuple[bool, bool] | None:
    """(takes a list, moved as a whole) for a ``Path`` or ``list[Path]`` hint, else None."""
    marks: list[Any] = []
    if get_origin(hint) is Annotated:
        hint, *marks = get_args(hint)
    if get_origin(hint) is list and len(get_args(hint)) == 1:
        inner = path_kind(get_args(hint)[0])
        return None if inner is None else (True, inner[1])
    if hint is Path:
        return False, any(isinstance(mark, Moved) for mark in marks)
    return None


def parse_docstring(doc: str, where: str) -> tuple[str, dict[str, str]]:
    """The description (the text before the first section) and the ``Args:`` entries."""
    lines = doc.splitlines()
    headers = [i for i, line in enumerate(lines) if _SECTION.match(line)] + [len(lines)]
    description = " ".join(" ".join(lines[: headers[0]]).split())
    if not description:
        raise ToolDefinitionError(f"{where}: the docstring has no summary")
    entries: dict[str, str] = {}
    for start, end in pairwise(headers):
        body = [line for line in lines[start + 1 : end] if line.strip()]
        if not lines[start].startswith("Arg") or not body:
            continue
        indent, current = len(body[0]) - len(body[0].lstrip()), ""
        for line in body:
            depth, match = len(line) - len(line.lstrip()), _ENTRY.match(line.strip())
            if depth == 0:
                break
            if depth > indent and current:
                entries[current] += " " + line.strip()
            elif depth < indent or not match:
                raise ToolDefinitionError(f"{where}: cannot read the Args: line {line.strip()!r}")
            elif match.group(1) in entries:
                raise ToolDefinitionError(f"{where}: Args: documents {match.group(1)!r} twice")
            else:
                current = match.group(1)
                entries[current] = match.group(2)
    for key, text in entries.items():
        entries[key] = " ".join(text.split())
        if not entries[key]:
            raise ToolDefinitionError(f"{where}: parameter {key!r} has an empty entry under Args:")
    return description, entries


def without_none(hint: Any) -> tuple[Any, bool]:
    """``X`` and True for ``X | None`` (also inside ``Annotated``), else ``hint`` and False."""
    marks: list[Any] = []
    if get_origin(hint) is Annotated:
        hint, *marks = get_args(hint)
    optional = get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint)
    if optional and len(get_args(hint)) == 2:
        hint = next(a for a in get_args(hint) if a is not type(None))
    else:
        optional = False
    return (Annotated[(hint, *marks)] if marks else hint), optional


def _enum_schema(values: Iterable[Any]) -> dict[str, Any]:
    values = list(values)
    if not values or not all(isinstance(v, (str, int)) for v in values):
        raise TypeError(f"enum values must be strings, integers or booleans, not {values!r}")
    kinds = {type(v) for v in values}
    names = {str: "string", int: "integer", bool: "boolean"}
    return ({"type": names[kinds.pop()]} if len(kinds) == 1 and kinds <= set(names) else {}) | {"enum": values}


def schema_of(hint: Any) -> tuple[dict[str, Any], Convert]:
    """The JSON schema of a type hint, and the conversion of a valid JSON value to its type."""
    marks: list[Any] = []
    if get_origin(hint) is Annotated:
        hint, *marks = get_args(hint)
    schema: dict[str, Any]
    convert: Convert = same
    if hint in (bool, int, float, str):
        schema = {"type": {bool: "boolean", int: "integer", float: "number", str: "string"}[hint]}
        convert = hint if hint in (int, float) else convert
    elif hint is Path:
        schema = {"type": "string", "minLength": 1, "pattern": NON_BLANK}
    elif get_origin(hint) is Literal:
        schema = _enum_schema(get_args(hint))
    elif isinstance(hint, type) and issubclass(hint, enum.Enum):
        schema, convert = _enum_schema(member.value for member in hint), hint
    elif get_origin(hint) is list and len(get_args(hint)) == 1:
        items, convert_item = schema_of(get_args(hint)[0])
        schema, convert = {"type": "array", "items": items}, lambda v: [convert_item(x) for x in v]
    else:
        raise TypeError(f"unsupported type {hint!r}")
    kind = None if "enum" in schema else schema["type"]
    for mark in marks:
        if isinstance(mark, Range) and kind in ("integer", "number"):
            schema |= {k: v for k, v in (("minimum", mark.minimum), ("maximum", mark.maximum)) if v is not None}
        elif isinstance(mark, (MinLen, MaxLen)) and kind in ("string", "array") and mark.value >= 0:
            schema[_BOUND_KEYS[type(mark), kind]] = mark.value
        elif isinstance(mark, Moved) and hint is Path:
            continue
        else:
            raise TypeError(f"{mark!r} does not apply to {hint!r}")
    if kind == "string":
        schema.setdefault("maxLength", DEFAULT_MAX_STRING)
    elif kind == "array":
        schema.setdefault("maxItems", DEFAULT_MAX_ITEMS)
    for low, high in (("minimum", "maximum"), ("minLength", "maxLength"), ("minItems", "maxItems")):
        if schema.get(low, float("-inf")) > schema.get(high, float("inf")):
            raise TypeError(f"{low} {schema[low]} is above {high} {schema[high]}")
    return schema, convert
