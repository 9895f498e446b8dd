"""Tools: plain typed functions, described to the model by a JSON schema derived from their code.

``@tool(risk=...)`` reads a function's signature and Google-style docstring, and returns a
:class:`Tool` (still callable like the function) registered in :data:`REGISTRY`. A definition the
schema cannot describe fails at import with :class:`ToolDefinitionError`.

Parameter types: ``str``, ``int``, ``float``, ``bool``, ``Path``, ``Literal[...]``, ``enum.Enum``
subclasses, ``list[T]`` of these, ``X | None``, each optionally ``Annotated`` with :class:`Range`,
:class:`MinLen` or :class:`MaxLen` (and a ``Path`` with :class:`~tools.judged.Moved`). A ``Path``
is a non-blank string to the model; the function receives it resolved, exactly as the permission
gate judged it (tools/judged.py). The schema stays within what ``models.grammar`` expresses:
strings and lists always have an upper bound. ``Range`` on a ``float`` and ``MinLen`` on a list
are checked by :meth:`Tool.call`, not by the grammar. A parameter annotated :class:`ToolContext`
is left out of the schema and filled by whoever calls the tool.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import inspect
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Generic, Literal, ParamSpec, get_args, get_type_hints

import jsonschema

from models.interface import ToolSpec
from tools.judged import Judgement, Refused, Subject, target
from tools.schema import (
    Convert,
    MaxLen,
    MinLen,
    Range,
    ToolDefinitionError,
    none_or,
    parse_docstring,
    path_kind,
    schema_of,
    without_none,
)

__all__ = ["MaxLen", "MinLen", "Range", "Registry", "Tool", "ToolContext", "ToolDefinitionError", "ToolResult",
           "REGISTRY", "tool"]

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

P = ParamSpec("P")


class Effects:
    """What one tool call did: the undo records of its changes, and the untrusted sources its
    result carries beyond what the tool always declares (``untrusted_output``).

    Each record is a dict with a ``kind`` and what undoing needs (see app/safety/undo.py).
    A tool records *before* returning, right after each change succeeds.
    """

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.sources: list[str] = []

    def record(self, kind: str, **data: Any) -> None:
        self.records.append({"kind": kind, **data})

    def untrusted(self, source: str) -> None:
        """The result holds text from ``source`` (a stored passage, an earlier document ...)."""
        if source not in self.sources:
            self.sources.append(source)


@dataclass(frozen=True)
class ToolContext:
    """What the caller of a tool passes besides the model's arguments.

    ``services`` maps a kind (``"memory"``, ``"journal"`` ...) to the object serving it; a tool
    declares a parameter annotated ``ToolContext`` and asks it for what it needs.
    """

    services: dict[str, Any] = field(default_factory=dict)
    judgement: Judgement | None = None
    """What the gate judged this call to act on; the tool acts on exactly that."""
    taint: tuple[str, ...] = ()
    """The untrusted sources the conversation holds while the call runs (stored with what it keeps)."""

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
    """Parameters that name files or folders (typed ``Path``): resolved once, judged, handed over."""
    moved: tuple[str, ...] = ()
    """Those of ``paths`` whose objects are moved or trashed as a whole (see tools/judged.Moved)."""
    lists: tuple[str, ...] = ()
    """Those of ``paths`` that take a list of paths."""
    subject: Callable[[dict[str, Any]], Subject | None] | None = field(default=None, repr=False)
    """Judges what the call acts on besides paths (an app, processes, a link); raises Refused."""
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
            odd = _non_finite(kwargs)
            return None if odd is None else _one_line(f"Error: invalid arguments for {self.name}: {odd}")
        detail = "; ".join(
            (f"{'/'.join(map(str, p.absolute_path))}: " if p.absolute_path else "") + p.message
            for p in problems[:3]
        )
        return _one_line(f"Error: invalid arguments for {self.name}: {detail}")

    def judge(self, args: Mapping[str, Any]) -> Judgement:
        """What a call with ``args`` (valid under the schema) acts on: every path resolved, and the
        subject the tool judges. Raises Refused, or the error that makes the call impossible."""
        kwargs, _ = self.split_args(args)
        targets = []
        for name in self.paths:
            value = kwargs.get(name, self.parameters["properties"][name].get("default"))
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str):
                    targets.append(target(name, item, moved=name in self.moved))
        subject = None
        if self.subject is not None:
            subject = self.subject({key: self.converters[key](value) for key, value in kwargs.items()})
        return Judgement(tuple(targets), subject)

    def run(
        self, args: Mapping[str, Any], context: ToolContext | None = None, *, limit: int = MAX_RESULT_CHARS
    ) -> ToolResult:
        """Validate the model's ``args`` (``request_heartbeat`` is dropped), run the function.

        Path arguments reach the function as the context's judgement resolved them (judged here
        when the caller brought none). Invalid arguments and exceptions raised by the function come
        back as a failed result whose text is one ``Error: ...`` line; results longer than ``limit``
        characters are cut. KeyboardInterrupt and SystemExit propagate (they are not Exceptions).
        """
        kwargs, _ = self.split_args(args)
        problem = self.invalid(args)
        if problem is not None:
            return ToolResult(False, problem)
        context = context if context is not None else ToolContext()
        try:
            if context.judgement is None and (self.paths or self.subject is not None):
                context = dataclasses.replace(context, judgement=self.judge(args))
            kwargs = {key: self.converters[key](value) for key, value in kwargs.items()}
            for name in self.paths:
                judged = context.judgement.paths(name) if context.judgement is not None else []
                if judged or (name in self.lists and kwargs.get(name) == []):
                    kwargs[name] = judged if name in self.lists else judged[0]
            if self.context_param:
                kwargs[self.context_param] = context
            result = self.fn(**kwargs)
            if not isinstance(result, str):
                raise TypeError(f"{self.name} returned {type(result).__name__}, not str")
        except Refused as exc:  # worded as a refusal ("refused to ...")
            return ToolResult(False, _one_line(f"Error: {exc}"))
        except Exception as exc:  # an error is a result the model reads
            message = str(exc).strip()
            return ToolResult(False, _one_line(f"Error: {type(exc).__name__}" + (f": {message}" if message else "")))
        if len(result) > limit:
            result = result[:limit] + f"... [truncated: {len(result) - limit} more characters]"
        return ToolResult(True, result)

    def call(self, args: Mapping[str, Any], context: ToolContext | None = None) -> str:
        """The text of :meth:`run`: the result, or the one ``Error: ...`` line."""
        return self.run(args, context).text


@dataclass(frozen=True)
class ToolResult:
    """What one call of a tool gave: whether it did its work, and the text the model reads."""

    ok: bool
    text: str


def _non_finite(value: Any, where: str = "") -> str | None:
    """Where a NaN or an infinity hides in ``value`` (JSON has no such numbers), else None."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where or 'a value'}: {value} is not a finite number"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _non_finite(item, f"{where}/{key}" if where else str(key))
        if found:
            return found
    return None


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
    untrusted_output: bool = False,
    internal: bool = False,
    subject: Callable[[dict[str, Any]], Subject | None] | None = None,
) -> Callable[[Callable[P, str]], Tool[P]]:
    """Make a typed, documented function a :class:`Tool` and register it.

    Args:
        risk: the tier the safety policy judges its calls by.
        name: the name the model calls it by (the function's name by default).
        heartbeat: add the ``request_heartbeat`` parameter (False for ``send_message``).
        registry: where to register it (:data:`REGISTRY` by default).
        untrusted_output: the result carries outside text (file contents, program output).
        internal: it changes only Pagemind's own memory (the policy lets it run untainted).
        subject: judges what a call acts on besides its paths (see tools/judged.Subject); it gets
            the converted arguments and raises tools.judged.Refused for calls refused outright.
    """

    def decorate(fn: Callable[P, str]) -> Tool[P]:
        made = _make_tool(fn, risk, name or fn.__name__, heartbeat)
        made = dataclasses.replace(made, untrusted_output=untrusted_output, internal=internal, subject=subject)
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
    description, docs = parse_docstring(doc, where)
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
    paths: dict[str, tuple[bool, bool]] = {}
    """Path parameters: (takes a list, moved as a whole)."""
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
            hint, optional = without_none(hints[param.name])
            schema, convert = schema_of(hint)
        except TypeError as exc:
            raise ToolDefinitionError(f"{at}: {exc}") from None
        kind = path_kind(hint)
        if kind is not None:
            paths[param.name] = kind
        nullable = optional and param.default is param.empty
        prop = {"anyOf": [schema, {"type": "null"}]} if nullable else schema
        properties[param.name] = {"description": docs.pop(param.name), **prop}
        if param.default is param.empty:
            required.append(param.name)
        elif param.default is not None or not optional:
            default = param.default.value if isinstance(param.default, enum.Enum) else param.default
            default = str(default) if isinstance(default, Path) else default
            if not jsonschema.Draft202012Validator(schema).is_valid(default):
                raise ToolDefinitionError(f"{at}: the default {param.default!r} does not match the type")
            properties[param.name]["default"] = default
        converters[param.name] = none_or(convert) if optional else convert
    if docs:
        raise ToolDefinitionError(f"{where}: Args: documents {', '.join(map(repr, docs))}, not parameters")
    if heartbeat:
        properties[HEARTBEAT] = dict(_HEARTBEAT_SCHEMA)
        required.append(HEARTBEAT)
    parameters = {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
    return Tool(name, description, risk, parameters, fn, heartbeat, context_param, converters, paths=tuple(paths),
                moved=tuple(p for p, (_, moved) in paths.items() if moved),
                lists=tuple(p for p, (listed, _) in paths.items() if listed))


