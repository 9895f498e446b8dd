"""Model fixtures: a tiny random GGUF, built once per test session with models/synthetic.py."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from models import synthetic
from models.interface import ToolCall, ToolCallError


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic.tiny(tmp_path_factory.mktemp("models") / "tiny.gguf")


TOOLS = [
    {
        "name": "send_message",
        "description": "Reply to the user.",
        "parameters": {
            "type": "object",
            "properties": {"message": {"type": "string", "maxLength": 80}},
            "required": ["message"],
        },
    },
    {
        "name": "list_dir",
        "description": "List a folder.",
        "parameters": {
            "type": "object",
            "properties": {
                "path": {"type": "string", "maxLength": 40},
                "sort": {"enum": ["name", "size", "modified"]},
                "limit": {"type": "integer", "minimum": 1, "maximum": 500},
                "hidden": {"type": "boolean"},
            },
            "required": ["path"],
        },
    },
    {
        "name": "kill_process",
        "description": "Stop a process.",
        "parameters": {
            "type": "object",
            "properties": {
                "pid": {"type": "integer"},
                "force": {"type": "boolean"},
                "request_heartbeat": {"type": "boolean"},
            },
            "required": ["pid", "request_heartbeat"],
        },
    },
]


def assert_valid_call(result: ToolCall | ToolCallError) -> ToolCall:
    """A complete, schema-valid call of one of TOOLS, with a bounded thought."""
    assert isinstance(result, ToolCall), result
    spec = next(t for t in TOOLS if t["name"] == result.tool)
    jsonschema.validate(result.args, {**spec["parameters"], "additionalProperties": False})
    assert len(result.thought) <= 300
    assert result.generation is not None and result.generation.stop_reason == "stop"
    return result
