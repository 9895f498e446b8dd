"""GBNF grammars for one tool call, built from the tools' JSON schemas.

The model's whole output is ``{"thought": "...", "tool": NAME, "args": {...}}``. The grammar has one
branch per tool, so ``args`` can only be the arguments of the tool named; objects admit only their
declared properties; strings, arrays, numbers and whitespace are all bounded, so decoding always
ends. Supported schema keywords: type (object, string, integer, number, boolean, array, null, or a
list of them), properties, required, enum, const, anyOf/oneOf, items, minItems, maxItems, minLength,
maxLength, minimum and maximum of integers (enforced digit by digit), and the one pattern
:data:`NON_BLANK` (the first character is no whitespace). Float bounds are left to the validator.

This module is pure Python: the GUI process builds grammars, the runner compiles them.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Sequence

from models.interface import ToolSpec

THOUGHT_MAX_CHARS = 300
"""About 50 words of inner monologue, as MemGPT keeps it."""
DEFAULT_MAX_STRING = 1000
NON_BLANK = r"^\S"
"""The pattern of strings that must not start with whitespace (paths: a blank one would name home)."""
DEFAULT_MAX_ITEMS = 32
MAX_INT_DIGITS = 15

_BASE_RULES = {
    "ws": '| " " | "\\n" [ ]{0,4}',
    "char": '[^"\\\\\\x00-\\x1F\\x7F] | "\\\\" (["\\\\/bfnrt] | "u" [0-9a-fA-F]{4})',
    "solid": '[^"\\\\\\x00-\\x20\\x7F\\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000] '
             '| "\\\\" ["\\\\/]',
    "boolean": '"true" | "false"',
    "null": '"null"',
    "uint": f'"0" | [1-9] [0-9]{{0,{MAX_INT_DIGITS - 1}}}',
    "integer": '"-"? uint',
    "number": '"-"? uint ("." [0-9]{1,10})? ([eE] [-+]? [0-9]{1,3})?',
}


class GrammarError(ValueError):
    """A tool's schema uses something the grammar builder cannot express."""


def _digits_between(a: str, b: str) -> list[str]:
    """GBNF sequences matching exactly the numbers from ``a`` to ``b`` (strings of one length)."""
    if a == b:
        return [f'"{a}"']
    rest = len(a) - 1
    if a[1:] == "0" * rest and b[1:] == "9" * rest:
        tail = f" [0-9]{{{rest}}}" if rest else ""
        return [f"[{a[0]}-{b[0]}]{tail}"]
    if a[0] == b[0]:
        return [f'"{a[0]}" ({" | ".join(_digits_between(a[1:], b[1:]))})']
    low = [f'"{a[0]}" ({" | ".join(_digits_between(a[1:], "9" * rest))})']
    high = [f'"{b[0]}" ({" | ".join(_digits_between("0" * rest, b[1:]))})']
    middle = []
    if int(a[0]) + 1 <= int(b[0]) - 1:
        middle = [f"[{int(a[0]) + 1}-{int(b[0]) - 1}] [0-9]{{{rest}}}"]
    return low + middle + high


def _nonnegative_range(lo: int, hi: int) -> str:
    parts = []
    for width in range(len(str(lo)), len(str(hi)) + 1):
        start = max(lo, 10 ** (width - 1) if width > 1 else 0)
        end = min(hi, 10**width - 1)
        parts += _digits_between(str(start), str(end))
    return " | ".join(parts)


def integer_range(minimum: float | None, maximum: float | None) -> str:
    """A GBNF body matching exactly the integers in [minimum, maximum] (15 digits at most)."""
    limit = 10**MAX_INT_DIGITS - 1
    lo = -limit if minimum is None else max(-limit, math.ceil(minimum))
    hi = limit if maximum is None else min(limit, math.floor(maximum))
    if lo > hi:
        raise GrammarError(f"no integer lies between {minimum} and {maximum}")
    parts = []
    if lo < 0:
        parts.append(f'"-" ({_nonnegative_range(max(1, -hi), -lo)})')
    if hi >= 0:
        parts.append(_nonnegative_range(max(0, lo), hi))
    return " | ".join(parts)


def _literal(value: Any) -> str:
    """A GBNF literal matching the JSON text of ``value``."""
    text = json.dumps(value, ensure_ascii=False)
    return json.dumps(text, ensure_ascii=False)


class _Builder:
    def __init__(self) -> None:
        self.rules: dict[str, str] = dict(_BASE_RULES)

    def add(self, name: str, body: str) -> str:
        name = re.sub(r"[^a-zA-Z0-9-]+", "-", name).strip("-").lower() or "rule"
        candidate, n = name, 1
        while candidate in self.rules and self.rules[candidate] != body:
            n += 1
            candidate = f"{name}-{n}"
        self.rules[candidate] = body
        return candidate

    def string(self, schema: dict[str, Any], name: str) -> str:
        low = int(schema.get("minLength", 0))
        high = int(schema.get("maxLength", DEFAULT_MAX_STRING))
        if high < low:
            raise GrammarError(f"{name}: maxLength {high} is below minLength {low}")
        if "pattern" in schema:
            if schema["pattern"] != NON_BLANK:
                raise GrammarError(f"{name}: unsupported pattern {schema['pattern']!r}")
            if high < 1:
                raise GrammarError(f"{name}: a non-blank string needs maxLength of at least 1")
            return self.add(f"{name}-solid", f'"\\"" solid char{{{max(0, low - 1)},{high - 1}}} "\\""')
        return self.add(f"{name}-str", f'"\\"" char{{{low},{high}}} "\\""')

    def value(self, schema: dict[str, Any], name: str) -> str:
        if "const" in schema:
            return self.add(f"{name}-const", _literal(schema["const"]))
        if "enum" in schema:
            return self.add(f"{name}-enum", " | ".join(_literal(v) for v in schema["enum"]))
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = [self.value(s, f"{name}-{i}") for i, s in enumerate(schema[key])]
                return self.add(f"{name}-any", " | ".join(options))
        kind = schema.get("type")
        if isinstance(kind, list):
            options = [self.value({**schema, "type": k}, f"{name}-{k}") for k in kind]
            return self.add(f"{name}-any", " | ".join(options))
        if kind == "string":
            return self.string(schema, name)
        if kind == "integer":
            bounds = (schema.get("minimum"), schema.get("maximum"))
            if bounds == (None, None):
                return "integer"
            return self.add(f"{name}-int", integer_range(*bounds))
        if kind in ("number", "boolean", "null"):
            return kind
        if kind == "array":
            return self.array(schema, name)
        if kind == "object":
            return self.object(schema, name)
        raise GrammarError(f"{name}: unsupported schema {json.dumps(schema)[:120]}")

    def array(self, schema: dict[str, Any], name: str) -> str:
        item = self.value(schema.get("items", {"type": "string"}), f"{name}-item")
        least = int(schema.get("minItems", 0))
        most = int(schema.get("maxItems", DEFAULT_MAX_ITEMS))
        if most < least:
            raise GrammarError(f"{name}: maxItems {most} is below minItems {least}")
        if most < 1:
            return self.add(f"{name}-arr", '"[" ws "]"')
        more = f' ("," ws {item}){{{max(0, least - 1)},{most - 1}}}' if most > 1 else ""
        body = f"{item}{more} ws"
        return self.add(f"{name}-arr", f'"[" ws {body} "]"' if least else f'"[" ws ({body})? "]"')

    def object(self, schema: dict[str, Any], name: str) -> str:
        props: dict[str, Any] = schema.get("properties", {})
        required = [k for k in props if k in set(schema.get("required", []))]
        optional = [k for k in props if k not in required]
        pairs = {
            key: self.add(
                f"{name}-{key}-kv", f"{_literal(key)} ws \":\" ws {self.value(props[key], f'{name}-{key}')}"
            )
            for key in props
        }
        # opt_i: one or more of the optional properties i.., in order, comma-separated.
        tail = ""
        for i in range(len(optional) - 1, -1, -1):
            kv = pairs[optional[i]]
            body = kv if not tail else f'{kv} ("," ws {tail})? | {tail}'
            tail = self.add(f"{name}-opt-{i}", body)
        if required:
            body = ' "," ws '.join(pairs[k] for k in required)
            if tail:
                body += f' ("," ws {tail})?'
        else:
            body = f"({tail})?" if tail else ""
        inner = f" {body} ws" if body else ""
        return self.add(f"{name}-obj", f'"{{" ws{inner} "}}"')

    def render(self) -> str:
        ordered = ["root"] + [k for k in self.rules if k != "root"]
        return "\n".join(f"{k} ::= {self.rules[k]}" for k in ordered) + "\n"


def tool_call_grammar(tools: Sequence[ToolSpec], thought_max: int = THOUGHT_MAX_CHARS) -> str:
    """The GBNF grammar admitting exactly one well-formed call of one of ``tools``."""
    if not tools:
        raise GrammarError("a tool call grammar needs at least one tool")
    builder = _Builder()
    branches = []
    for spec in tools:
        params = spec.get("parameters") or {"type": "object", "properties": {}}
        if params.get("type") != "object":
            raise GrammarError(f"tool {spec['name']!r}: parameters must be a JSON object schema")
        args = builder.object(params, f"args-{spec['name']}")
        branches.append(
            builder.add(f"call-{spec['name']}", f'{_literal(spec["name"])} "," ws "\\"args\\"" ws ":" ws {args}')
        )
    thought = builder.string({"maxLength": thought_max}, "thought")
    builder.rules["root"] = (
        f'"{{" ws "\\"thought\\"" ws ":" ws {thought} "," ws "\\"tool\\"" ws ":" ws '
        f'({" | ".join(branches)}) ws "}}"'
    )
    return builder.render()


def tool_call_schema(tools: Sequence[ToolSpec], thought_max: int = THOUGHT_MAX_CHARS) -> dict[str, Any]:
    """The JSON schema of a whole call (the same language as the grammar, for validators)."""
    return {
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "thought": {"type": "string", "maxLength": thought_max},
                    "tool": {"const": spec["name"]},
                    "args": spec.get("parameters") or {"type": "object", "properties": {}},
                },
                "required": ["thought", "tool", "args"],
                "additionalProperties": False,
            }
            for spec in tools
        ]
    }
