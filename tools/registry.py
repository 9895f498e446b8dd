"""Tools: plain typed functions, described to the model by a JSON schema derived from their code.

``@tool(risk=...)`` reads a function's signature and Google-style docstring, and returns a
:class:`Tool` (still callable like the function) registered in :data:`REGISTRY`. A definition the
schema cannot describe fails at import with :class:`ToolDefinitionError`.

Parameter types: ``str``, ``int``, ``float``, ``bool``, ``Literal[...]``, ``enum.Enum`` subclasses,
``list[T]`` of these, ``X | None``, each optionally ``Annotated`` with :class:`Range`,
:class:`MinLen` or :class:`MaxLen`. The schema stays within what ``models.grammar`` expresses:
strings and lists always have an upper bound. ``Range`` on a ``float`` and ``MinLen`` on a list
are checked by :meth:`Tool.call`, not by the grammar. A parameter annotated :class:`ToolContext`
is left out of the schema and filled by whoever calls the tool.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import inspect
import re
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise
from typing import (
    Annotated,
    Any,
    Generic,
    Literal,
    ParamSpec,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

import jsonschema

from models.grammar import DEFAULT_MAX_ITEMS, DEFAULT_MAX_STRING
from models.interface import ToolSpec

Risk = Literal["read", "write", "destructive", "control", "launch"]
RISKS: tuple[Risk, ...] = get_args(Risk)
"""The risk tiers, in order."""
MAX_RESULT_CHARS = 4000
"""Longest tool result handed back to the model; the rest is cut, with a note."""
HEARTBEAT = "request_heartbeat"
_HEARTBEAT_SCHEMA = {
    "description": "true to take another step after this result; false to wait for the user.",
    "type": "boolean",
}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_SECTION = re.compile(r"^(Args|Arguments|Returns?|Raises|Yields?|Examples?|Notes?|Warnings?):\s*$")
_ENTRY = re.compile(r"^(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")

P = ParamSpec("P")
Convert = Callable[[Any], Any]


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


class Effects:
    """The undo records of one tool call: the tool records what it changed, the journal keeps it.

    Each record is a dict with a ``kind`` and what undoing needs (see app/safety/undo.py).
    A tool records *before* returning, right after each change succeeds.
    """

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def record(self, kind: str, **data: Any) -> None:
        self.records.append({"kind": kind, **data})


@dataclass(frozen=True)
class ToolContext:
    """What the caller of a tool passes besides the model's arguments.

    ``services`` maps a kind (``"memory"``, ``"journal"`` ...) to the object serving it; a tool
    declares a parameter annotated ``ToolContext`` and asks it for what it needs.
    """

    services: dict[str, Any] = field(default_factory=dict)

    def effects(self) -> Effects:
        """Where a tool records its undo data (a throwaway recorder when the caller keeps none)."""
        found = self.services.get("effects")
        return found if isinstance(found, Effects) else Effects()

    def get(self, kind: str) -> Any:
        """The service of ``kind``; LookupError when the caller provided none."""
        if kind not in self.services:
            raise LookupError(f"no {kind!r} service in the tool context")
        return self.services[kind]


@dataclass(frozen=True, eq=False)
class Tool(Generic[P]):
    """A function the model may call, made by ``@tool``; calling the Tool calls the function.

    The model's arguments go through :meth:`call` instead, which validates and converts them
    (enum values to members), adds the :class:`ToolContext` and turns failures into text.
    """

    name: str
    description: str
    risk: Risk
    parameters: dict[str, Any]
    """The JSON schema of the arguments as the model sees them (with ``request_heartbeat``)."""
    fn: Callable[P, str] = field(repr=False)
    heartbeat: bool = True
    context_param: str | None = None
    converters: Mapping[str, Convert] = field(default_factory=dict, repr=False)
    """Valid JSON value -> the function's argument, per parameter."""
    paths: tuple[str, ...] = ()
    """Parameters that name files or folders: the safety policy resolves and checks them."""
    untrusted_output: bool = False
    """The result carries text from outside (file contents, other programs): it taints the turn."""
    internal: bool = False
    """It changes only Pagemind's own memory, never the user's files or programs."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> str:
        return self.fn(*args, **kwargs)

    def spec(self) -> ToolSpec:
        """The tool as the model sees it (a copy, free to change)."""
        return {"name": self.name, "description": self.description, "parameters": copy.deepcopy(self.parameters)}

    def split_args(self, args: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """The function's arguments, and whether the model asked for another step."""
        rest = dict(args)
        return (rest, rest.pop(HEARTBEAT, False) is True) if self.heartbeat else (rest, False)

    @cached_property
    def _validator(self) -> jsonschema.Draft202012Validator:
        schema = copy.deepcopy(self.parameters)
        if self.heartbeat:
            del schema["properties"][HEARTBEAT]
            schema["required"].remove(HEARTBEAT)
        return jsonschema.Draft202012Validator(schema)

    def invalid(self, args: Mapping[str, Any]) -> str | None:
        """The ``Error: ...`` line for arguments that do not match the schema, else None."""
        kwargs, _ = self.split_args(args)
        problems = sorted(self._validator.iter_errors(kwargs), key=lambda e: [str(p) for p in e.absolute_path])
        if not problems:
            return None
        detail = "; ".join(
            (f"{'/'.join(map(str, p.absolute_path))}: " if p.absolute_path else "") + p.message
            for p in problems[:3]
        )
        return _one_line(f"Error: invalid arguments for {self.name}: {detail}")

    def call(
        self, args: Mapping[str, Any], context: ToolContext | None = None, *, limit: int = MAX_RESULT_CHARS
    ) -> str:
        """Validate the model's ``args`` (``request_heartbeat`` is dropped), run the function.

        Invalid arguments and exceptions raised by the function come back as one ``Error: ...``
        line, results longer than ``limit`` characters are cut. KeyboardInterrupt and SystemExit
        propagate (they are not Exceptions).
        """
        kwargs, _ = self.split_args(args)
        problem = self.invalid(args)
        if problem is not None:
            return problem
        try:
            kwargs = {key: self.converters[key](value) for key, value in kwargs.items()}
            if self.context_param:
                kwargs[self.context_param] = context if context is not None else ToolContext()
            result = self.fn(**kwargs)
            if not isinstance(result, str):
                raise TypeError(f"{self.name} returned {type(result).__name__}, not str")
        except Exception as exc:  # an error is a result the model reads
            message = str(exc).strip()
            return _one_line(f"Error: {type(exc).__name__}" + (f": {message}" if message else ""))
        if len(result) > limit:
            return result[:limit] + f"... [truncated: {len(result) - limit} more characters]"
        return result


def _same(value: Any) -> Any:
    return value


def _none_or(convert: Convert) -> Convert:
    return lambda value: None if value is None else convert(value)


def _one_line(text: str, most: int = 500) -> str:
    text = " ".join(text.split())
    return text if len(text) <= most else text[:most] + "..."


class Registry:
    """Tools by name, in registration order."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool[...]] = {}

    def register(self, tool: Tool[P]) -> Tool[P]:
        if tool.name in self._tools:
            raise ToolDefinitionError(f"a tool named {tool.name!r} is already registered")
        self._tools[tool.name] = tool
        return tool

    def get(self, name: str) -> Tool[...]:
        if name not in self._tools:
            raise KeyError(f"no tool named {name!r}")
        return self._tools[name]

    def names(self) -> list[str]:
        return list(self._tools)

    def specs(self, names: Iterable[str] | None = None) -> list[ToolSpec]:
        """The specs of ``names`` (all tools by default): the input of ``tool_call_grammar``."""
        return [self.get(name).spec() for name in (self._tools if names is None else names)]

    def tools_of(self, risk: Risk) -> list[Tool[...]]:
        if risk not in RISKS:
            raise ValueError(f"unknown risk {risk!r}; one of {', '.join(RISKS)}")
        return [t for t in self._tools.values() if t.risk == risk]


REGISTRY = Registry()
"""The tools the application offers; ``@tool`` registers here unless given another registry."""


def tool(
    *,
    risk: Risk,
    name: str | None = None,
    heartbeat: bool = True,
    registry: Registry | None = None,
    paths: Iterable[str] = (),
    untrusted_output: bool = False,
    internal: bool = False,
) -> Callable[[Callable[P, str]], Tool[P]]:
    """Make a typed, documented function a :class:`Tool` and register it.

    Args:
        risk: the tier the safety policy judges its calls by.
        name: the name the model calls it by (the function's name by default).
        heartbeat: add the ``request_heartbeat`` parameter (False for ``send_message``).
        registry: where to register it (:data:`REGISTRY` by default).
        paths: the parameters that name files or folders (str or list[str]).
        untrusted_output: the result carries outside text (file contents, program output).
        internal: it changes only Pagemind's own memory (the policy lets it run untainted).
    """

    def decorate(fn: Callable[P, str]) -> Tool[P]:
        made = _make_tool(fn, risk, name or fn.__name__, heartbeat)
        missing = [p for p in paths if p not in made.parameters["properties"]]
        if missing:
            raise ToolDefinitionError(f"@tool {fn.__qualname__}: paths names unknown parameters {missing}")
        made = dataclasses.replace(made, paths=tuple(paths), untrusted_output=untrusted_output, internal=internal)
        return (registry if registry is not None else REGISTRY).register(made)

    return decorate


def _make_tool(fn: Callable[P, str], risk: Risk, name: str, heartbeat: bool) -> Tool[P]:
    where = f"@tool {fn.__module__}.{fn.__qualname__}"
    doc = inspect.getdoc(fn)
    if risk not in RISKS:
        raise ToolDefinitionError(f"{where}: unknown risk {risk!r}; one of {', '.join(RISKS)}")
    if not _NAME.match(name):
        raise ToolDefinitionError(f"{where}: {name!r} is not a valid tool name")
    if not doc:
        raise ToolDefinitionError(f"{where}: no docstring")
    description, docs = _parse_docstring(doc, where)
    try:
        hints = get_type_hints(fn, include_extras=True)
    except Exception as exc:
        raise ToolDefinitionError(f"{where}: cannot resolve type hints ({exc})") from exc
    if hints.get("return") is not str:
        raise ToolDefinitionError(f"{where}: the return annotation must be str (tools return text)")
    properties: dict[str, Any] = {}
    required: list[str] = []
    converters: dict[str, Convert] = {}
    context_param = None
    for param in inspect.signature(fn).parameters.values():
        at = f"{where}: parameter {param.name!r}"
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            raise ToolDefinitionError(f"{at}: only named parameters are supported")
        if param.name not in hints:
            raise ToolDefinitionError(f"{at} has no type hint")
        if hints[param.name] is ToolContext:
            if context_param:
                raise ToolDefinitionError(f"{at}: a tool takes one ToolContext at most")
            context_param = param.name
            docs.pop(param.name, None)
            continue
        if heartbeat and param.name == HEARTBEAT:
            raise ToolDefinitionError(f"{at}: the name is reserved for the heartbeat")
        if param.name not in docs:
            raise ToolDefinitionError(f"{at} has no entry under Args: in the docstring")
        try:
            hint, optional = _without_none(hints[param.name])
            schema, convert = _schema(hint)
        except TypeError as exc:
            raise ToolDefinitionError(f"{at}: {exc}") from None
        nullable = optional and param.default is param.empty
        prop = {"anyOf": [schema, {"type": "null"}]} if nullable else schema
        properties[param.name] = {"description": docs.pop(param.name), **prop}
        if param.default is param.empty:
            required.append(param.name)
        elif param.default is not None or not optional:
            default = param.default.value if isinstance(param.default, enum.Enum) else param.default
            if not jsonschema.Draft202012Validator(schema).is_valid(default):
                raise ToolDefinitionError(f"{at}: the default {param.default!r} does not match the type")
            properties[param.name]["default"] = default
        converters[param.name] = _none_or(convert) if optional else convert
    if docs:
        raise ToolDefinitionError(f"{where}: Args: documents {', '.join(map(repr, docs))}, not parameters")
    if heartbeat:
        properties[HEARTBEAT] = dict(_HEARTBEAT_SCHEMA)
        required.append(HEARTBEAT)
    parameters = {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
    return Tool(name, description, risk, parameters, fn, heartbeat, context_param, converters)


def _parse_docstring(doc: str, where: str) -> tuple[str, dict[str, str]]:
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


def _without_none(hint: Any) -> tuple[Any, bool]:
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


def _schema(hint: Any) -> tuple[dict[str, Any], Convert]:
    """The JSON schema of a type hint, and the conversion of a valid JSON value to its type."""
    marks: list[Any] = []
    if get_origin(hint) is Annotated:
        hint, *marks = get_args(hint)
    schema: dict[str, Any]
    convert: Convert = _same
    if hint in (bool, int, float, str):
        schema = {"type": {bool: "boolean", int: "integer", float: "number", str: "string"}[hint]}
        convert = hint if hint in (int, float) else convert
    elif get_origin(hint) is Literal:
        schema = _enum_schema(get_args(hint))
    elif isinstance(hint, type) and issubclass(hint, enum.Enum):
        schema, convert = _enum_schema(member.value for member in hint), hint
    elif get_origin(hint) is list and len(get_args(hint)) == 1:
        items, convert_item = _schema(get_args(hint)[0])
        schema, convert = {"type": "array", "items": items}, lambda v: [convert_item(x) for x in v]
    else:
        raise TypeError(f"unsupported type {hint!r}")
    kind = None if "enum" in schema else schema["type"]
    for mark in marks:
        if isinstance(mark, Range) and kind in ("integer", "number"):
            schema |= {k: v for k, v in (("minimum", mark.minimum), ("maximum", mark.maximum)) if v is not None}
        elif isinstance(mark, (MinLen, MaxLen)) and kind in ("string", "array") and mark.value >= 0:
            schema[_BOUND_KEYS[type(mark), kind]] = mark.value
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

