"""The seams of the model layer: plain data types and the ChatModel / Embedder protocols.

The runner client (models/runner_client.py), the runtime inside the runner (models/engine/runtime.py) and the remote
client (models/remote.py) all speak these, so the kernel never knows which one it holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence, TypedDict

import numpy as np


class ChatMessage(TypedDict):
    """One message of a chat as the model's template takes it."""

    role: str  # "system" | "user" | "assistant" | "tool"
    content: str


class ToolSpec(TypedDict):
    """One tool as the model sees it: ``parameters`` is a JSON schema of type object."""

    name: str
    description: str
    parameters: dict[str, Any]


TokenCallback = Callable[[str], None]
"""Called with each piece of generated text as soon as it is decoded."""


@dataclass(frozen=True)
class ModelInfo:
    path: str
    architecture: str
    name: str
    n_ctx: int
    """The context window in use."""
    n_ctx_train: int
    """The longest context the model was trained for."""
    n_vocab: int
    n_embd: int
    embedding: bool
    chat_template: str
    """The Jinja chat template from the GGUF (ChatML when the file has none)."""
    file_hash: str
    """sha256 of the model file."""
    bos_token: str = ""
    eos_token: str = ""


@dataclass
class Generation:
    text: str
    n_prompt: int
    """Tokens in the prompt."""
    n_evaluated: int
    """Prompt tokens that had to be evaluated (the rest came from the KV cache or a saved state)."""
    n_generated: int
    stop_reason: str
    """"stop" (end of generation or a stop string), "length" (max_tokens), "cancelled"."""
    prefill_seconds: float = 0.0
    decode_seconds: float = 0.0
    first_token_seconds: float = 0.0
    """From the request's start to the first generated piece."""


@dataclass
class ToolCall:
    tool: str
    args: dict[str, Any]
    thought: str = ""
    raw: str = ""
    generation: Generation | None = field(default=None, compare=False)


@dataclass
class ToolCallError:
    """The model's output was not a valid call; ``message`` is fed back to the model."""

    message: str
    raw: str = ""
    generation: Generation | None = field(default=None, compare=False)


class PrefixCache(Protocol):
    """Keeping a prompt's KV state: evaluated ahead, saved to disk, restored after a restart.

    A model without such a state (a remote server) evaluates nothing and saves nothing: 0 and None.
    """

    def evaluate(self, prompt: str) -> int:
        """Prefill ``prompt`` now (while the user types); returns the tokens evaluated."""
        ...

    def save_prefix(self, prompt: str) -> Path | None:
        """Save the KV state of ``prompt`` (evaluated first when needed); where it went, if saved."""
        ...

    def load_prefix(self, prompt: str) -> int:
        """Restore the longest saved state that is a prefix of ``prompt``; the tokens restored."""
        ...


class ChatModel(PrefixCache, Protocol):
    info: ModelInfo

    def tokenize(self, text: str) -> list[int]: ...

    def count_tokens(self, text: str) -> int: ...

    def render(self, messages: Sequence[ChatMessage], add_generation_prompt: bool = True) -> str:
        """The prompt text for ``messages`` under the model's chat template."""
        ...

    def generate(
        self,
        prompt: str,
        *,
        max_tokens: int = 256,
        grammar: str | None = None,
        stop: Sequence[str] = (),
        on_token: TokenCallback | None = None,
    ) -> Generation: ...

    def tool_call(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        *,
        max_tokens: int = 512,
        on_token: TokenCallback | None = None,
    ) -> ToolCall | ToolCallError: ...

    def cancel(self) -> None:
        """Stop the generation in flight (from any thread); it ends with GenerationCancelled."""
        ...

    def close(self) -> None: ...


class Embedder(Protocol):
    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """The longest text, in its own tokens, that it embeds whole."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """An (n, dim) float32 array of L2-normalised vectors."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Each text's length in the embedder's own tokens."""
        ...

    def close(self) -> None: ...

