"""Model fixtures: a tiny random GGUF, built once per test session with models/synthetic.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from models import synthetic


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
