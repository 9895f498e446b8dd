"""A scripted ChatModel for deterministic tests of the loop and the context.

It replays a list of tool calls (dicts, or raw text to test malformed output) and texts for
``generate`` (a recorded turn is replayed with it: app/kernel/recording.py); its tokenizer is deterministic (one token per word or punctuation mark), so token
budgets in tests are exact and fast. It is not a substitute for the llama.cpp path.
"""

from __future__ import annotations

import json
import re
import threading
import zlib
from pathlib import Path
from typing import Any, Sequence

from models import template
from models.errors import GenerationCancelled, ModelError
from models.interface import (
    Generation,
    ChatMessage,
    ModelInfo,
    TokenCallback,
    ToolCall,
    ToolCallError,
    ToolSpec,
)
from models.toolcall import tool_call_from_generation

_TOKEN = re.compile(r"\w+|[^\w\s]|\s+")


class ScriptedModel:
    def __init__(
        self,
        calls: Sequence[dict[str, Any] | str] = (),
        texts: Sequence[str] = (),
        n_ctx: int = 4096,
        name: str = "scripted",
    ) -> None:
        self.calls = list(calls)
        self.texts = list(texts)
        self.prompts: list[str] = []
        self.evaluated: list[str] = []
        self._cancel = threading.Event()
        self.info = ModelInfo(
            path="scripted", architecture="scripted", name=name, n_ctx=n_ctx,
            n_ctx_train=n_ctx, n_vocab=50_000, n_embd=0, embedding=False,
            chat_template=template.CHATML, file_hash="",
        )

    def tokenize(self, text: str) -> list[int]:
        return [zlib.crc32(piece.encode()) % 50_000 for piece in _TOKEN.findall(text) if not piece.isspace()]

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def render(self, messages: Sequence[ChatMessage], add_generation_prompt: bool = True) -> str:
        return template.render_for(self.info, messages, add_generation_prompt)

    def _emit(self, prompt: str, text: str, on_token: TokenCallback | None, max_tokens: int) -> Generation:
        self.prompts.append(prompt)
        pieces = [p for p in _TOKEN.findall(text)]
        out = ""
        for n, piece in enumerate(pieces):
            if self._cancel.is_set():
                self._cancel.clear()
                raise GenerationCancelled("cancelled")
            if n >= max_tokens:
                return Generation(out, self.count_tokens(prompt), self.count_tokens(prompt), n, "length")
            out += piece
            if on_token is not None:
                on_token(piece)
        n_prompt = self.count_tokens(prompt)
        return Generation(out, n_prompt, n_prompt, len(pieces), "stop")

    def generate(
        self,
        prompt: str,
        *,
        max_tokens: int = 256,
        grammar: str | None = None,
        stop: Sequence[str] = (),
        on_token: TokenCallback | None = None,
    ) -> Generation:
        text = self.texts.pop(0) if self.texts else f"(summary of {self.count_tokens(prompt)} tokens)"
        return self._emit(prompt, text, on_token, max_tokens)

    def tool_call(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        *,
        max_tokens: int = 512,
        on_token: TokenCallback | None = None,
    ) -> ToolCall | ToolCallError:
        if not self.calls:
            raise ModelError(f"{self.info.name} has no more calls; the turn ends here")
        step = self.calls.pop(0)
        raw = step if isinstance(step, str) else json.dumps(
            {"thought": step.get("thought", ""), "tool": step["tool"], "args": step.get("args", {})}
        )
        generation = self._emit(self.render(messages), raw, on_token, max_tokens)
        return tool_call_from_generation(generation, tools, max_tokens)

    def evaluate(self, prompt: str) -> int:
        """Counts what a real model would prefill (the tokens of ``prompt``), and keeps nothing."""
        self.evaluated.append(prompt)
        return self.count_tokens(prompt)

    def save_prefix(self, prompt: str) -> Path | None:
        return None

    def load_prefix(self, prompt: str) -> int:
        return 0

    def cancel(self) -> None:
        self._cancel.set()

    def close(self) -> None:
        pass
