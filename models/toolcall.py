"""Turn a model's raw output into a validated ToolCall, or a ToolCallError the model can read.

Parsing is lenient (raw control characters inside strings are accepted, surrounding text is
skipped); validation is strict (the arguments must match the named tool's JSON schema). Nothing
here raises on bad model output: errors are values, fed back to the model as a tool result.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import jsonschema

from models.interface import Generation, ToolCall, ToolCallError, ToolSpec

_MAX_QUOTE = 200


def _quote(raw: str) -> str:
    raw = raw.strip()
    return raw if len(raw) <= _MAX_QUOTE else raw[:_MAX_QUOTE] + "..."


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _decode(raw: str) -> Any:
    decoder = json.JSONDecoder(strict=False, parse_constant=_no_constant)
    start = raw.find("{")
    if start < 0:
        raise ValueError("no JSON object found")
    value, _ = decoder.raw_decode(raw, start)
    return value


def parse_tool_call(raw: str, tools: Sequence[ToolSpec]) -> ToolCall | ToolCallError:
    """Parse and validate one ``{"thought", "tool", "args"}`` object against ``tools``."""
    try:
        value = _decode(raw)
    except ValueError as exc:
        return ToolCallError(f"Your output is not a JSON object ({exc}): {_quote(raw)!r}", raw=raw)
    if not isinstance(value, dict):
        return ToolCallError("Your output must be a JSON object with thought, tool and args.", raw=raw)
    names = [spec["name"] for spec in tools]
    name = value.get("tool")
    if not isinstance(name, str) or name not in names:
        return ToolCallError(
            f"Unknown tool {name!r}; choose one of: {', '.join(names)}.", raw=raw
        )
    extra = sorted(set(value) - {"thought", "tool", "args"})
    if extra:
        return ToolCallError(f"Unexpected keys {extra}; use only thought, tool and args.", raw=raw)
    thought = value.get("thought", "")
    if not isinstance(thought, str):
        return ToolCallError("'thought' must be a string.", raw=raw)
    args = value.get("args", {})
    if not isinstance(args, dict):
        return ToolCallError(f"'args' for {name} must be an object.", raw=raw)
    spec = tools[names.index(name)]
    schema = spec.get("parameters") or {"type": "object", "properties": {}}
    schema = {"additionalProperties": False, **schema}
    validator = jsonschema.Draft202012Validator(schema)
    problems = sorted(validator.iter_errors(args), key=lambda e: list(e.absolute_path))
    if problems:
        detail = "; ".join(
            (f"{'/'.join(map(str, p.absolute_path))}: " if p.absolute_path else "") + p.message
            for p in problems[:3]
        )
        return ToolCallError(f"Invalid arguments for {name}: {detail}", raw=raw)
    return ToolCall(tool=name, args=args, thought=thought, raw=raw)


def tool_call_from_generation(
    generation: Generation, tools: Sequence[ToolSpec], max_tokens: int
) -> ToolCall | ToolCallError:
    """The call decoded in ``generation``, with the generation attached to the result."""
    result = parse_tool_call(generation.text, tools)
    if isinstance(result, ToolCallError) and generation.stop_reason == "length":
        result.message = f"Your call was cut off at {max_tokens} tokens. " + result.message
    result.generation = generation
    return result
