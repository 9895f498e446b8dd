"""Record the tool calls a model made in a turn, and replay them as the model.

``python main.py ask REQUEST --record FILE`` writes the calls as a JSON list of
``{"thought", "tool", "args"}`` objects (the shape the model emits; an output that was no valid
call is kept as its raw text), rewritten after every call so a crash keeps what was made.
``--model replay:FILE`` plays such a list back as the model, through the real gate, tools, journal
and memory, with no llama.cpp: a user attaches a recording to a bug report, anyone reproduces the
turn. A replay that runs out of calls ends the turn with a clear message.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.kernel.scripted import ScriptedModel
from models.errors import ModelError
from models.interface import (
    ChatMessage,
    ChatModel,
    Generation,
    ModelInfo,
    TokenCallback,
    ToolCall,
    ToolCallError,
    ToolSpec,
)

REPLAY_PREFIX = "replay:"


class RecordingModel:
    """A ChatModel that is ``model``, and keeps each tool call it makes in ``path``."""

    def __init__(self, model: ChatModel, path: Path) -> None:
        self.model = model
        self.path = path
        self.calls: list[dict[str, Any] | str] = []
        self._write()

    @property
    def info(self) -> ModelInfo:
        return self.model.info

    def tool_call(self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], *, max_tokens: int = 512,
                  on_token: TokenCallback | None = None) -> ToolCall | ToolCallError:
        call = self.model.tool_call(messages, tools, max_tokens=max_tokens, on_token=on_token)
        if isinstance(call, ToolCall):
            self.calls.append({"thought": call.thought, "tool": call.tool, "args": call.args})
        else:
            self.calls.append(call.raw)
        self._write()
        return call

    def _write(self) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(self.calls, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        temporary.replace(self.path)

    def tokenize(self, text: str) -> list[int]:
        return self.model.tokenize(text)

    def count_tokens(self, text: str) -> int:
        return self.model.count_tokens(text)

    def render(self, messages: Sequence[ChatMessage], add_generation_prompt: bool = True) -> str:
        return self.model.render(messages, add_generation_prompt)

    def generate(self, prompt: str, *, max_tokens: int = 256, grammar: str | None = None, stop: Sequence[str] = (),
                 on_token: TokenCallback | None = None) -> Generation:
        return self.model.generate(prompt, max_tokens=max_tokens, grammar=grammar, stop=stop, on_token=on_token)

    def evaluate(self, prompt: str) -> int:
        return self.model.evaluate(prompt)

    def save_prefix(self, prompt: str) -> Path | None:
        return self.model.save_prefix(prompt)

    def load_prefix(self, prompt: str) -> int:
        return self.model.load_prefix(prompt)

    def cancel(self) -> None:
        self.model.cancel()

    def close(self) -> None:
        self.model.close()


def replay_model(path: Path, n_ctx: int = 8192) -> ScriptedModel:
    """The model that makes the calls recorded in ``path``, then says it has no more."""
    try:
        calls = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"cannot read the recording {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ModelError(f"the recording {path} is not JSON: {exc}") from None
    if not isinstance(calls, list) or not all(
            isinstance(call, str) or (isinstance(call, dict) and isinstance(call.get("tool"), str)) for call in calls):
        raise ModelError(f"the recording {path} is not a list of {{\"thought\", \"tool\", \"args\"}} calls")
    return ScriptedModel(calls, n_ctx=n_ctx, name=f"replay of {path.name}")
