"""Local models: the ChatModel and Embedder protocols over a runner process.

The app holds these; llama.cpp runs in the runner (models/engine/, started by models/runner_client.py). Rendering the chat template
is pure Python and happens here; everything that needs the model's weights or tokenizer goes
through the runner.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from app import paths
from models import gguf_file, template
from models.interface import (
    Generation,
    ChatMessage,
    ModelInfo,
    TokenCallback,
    ToolCall,
    ToolCallError,
    ToolSpec,
)
from models.runner_client import RunnerClient


class LocalChatModel:
    """A GGUF chat model served by its own runner process."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        n_ctx: int = 4096,
        n_threads: int = 0,
        seed: int = 0,
        temperature: float = 0.2,
        debug: bool = False,
    ) -> None:
        summary = gguf_file.inspect(path)  # a bad file fails here, before a process starts
        gguf_file.check_context(summary, n_ctx)
        self.temperature = temperature
        self.runner = RunnerClient(debug=debug, name="chat")
        try:
            self.info: ModelInfo = self.runner.call(
                "load", path=str(summary.path), n_ctx=n_ctx, n_threads=n_threads, seed=seed
            )
        except BaseException:
            self.runner.close()
            raise

    def tokenize(self, text: str) -> list[int]:
        return self.runner.call("tokenize", text=text)

    def count_tokens(self, text: str) -> int:
        return self.runner.call("count_tokens", text=text)

    def render(self, messages: Sequence[ChatMessage], add_generation_prompt: bool = True) -> str:
        return template.render_for(self.info, messages, add_generation_prompt)

    def generate(
        self,
        prompt: str,
        *,
        max_tokens: int = 256,
        grammar: str | None = None,
        stop: Sequence[str] = (),
        on_token: TokenCallback | None = None,
    ) -> Generation:
        return self.runner.call(
            "generate",
            on_token=on_token,
            prompt=prompt,
            max_tokens=max_tokens,
            grammar=grammar,
            stop=list(stop),
            temperature=self.temperature,
        )

    def tool_call(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        *,
        max_tokens: int = 512,
        on_token: TokenCallback | None = None,
    ) -> ToolCall | ToolCallError:
        return self.runner.call(
            "tool_call",
            on_token=on_token,
            messages=list(messages),
            tools=list(tools),
            max_tokens=max_tokens,
            temperature=self.temperature,
        )

    def evaluate(self, prompt: str) -> int:
        """Prefill ``prompt`` (e.g. the static prefix while the user types); returns tokens evaluated."""
        return self.runner.call("evaluate", prompt=prompt)

    def save_prefix(self, prompt: str, directory: Path | None = None) -> Path:
        return self.runner.call("save_prefix", prompt=prompt, directory=directory or paths.prefix_cache_dir())

    def load_prefix(self, prompt: str, directory: Path | None = None) -> int:
        return self.runner.call("load_prefix", prompt=prompt, directory=directory or paths.prefix_cache_dir())

    def logits(self) -> np.ndarray:
        return self.runner.call("logits")

    def cancel(self) -> None:
        self.runner.cancel()

    def close(self) -> None:
        self.runner.close()

    def __enter__(self) -> LocalChatModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalEmbedder:
    """A GGUF embedding model served by its own runner process."""

    def __init__(self, path: str | os.PathLike[str], *, n_threads: int = 0) -> None:
        summary = gguf_file.inspect(path)
        self.runner = RunnerClient(name="embed")
        try:
            self.info: ModelInfo = self.runner.call(
                "load", embedding=True, path=str(summary.path), n_threads=n_threads
            )
        except BaseException:
            self.runner.close()
            raise
        self.dim = self.info.n_embd

    @property
    def max_tokens(self) -> int:
        """The longest text, in tokens, that is embedded whole (longer ones are cut)."""
        return self.info.n_ctx

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.runner.call("embed", texts=list(texts))

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Each text's length in this model's tokens (special tokens left out)."""
        return self.runner.call("count_tokens", texts=list(texts))

    def close(self) -> None:
        self.runner.close()

    def __enter__(self) -> LocalEmbedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
