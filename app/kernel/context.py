"""The main context: what the model sees, laid out so that the KV cache is reused.

    [static system prompt + tool list] [core memory snapshot] [summary of evicted messages] [FIFO]

Only the FIFO's tail changes between evictions. A core memory edit reaches the FIFO as the result
of the memory tool that made it ("Appended to human ..."); the snapshot is re-rendered only at the
next eviction, when the prefix changes anyway (DESIGN.md decision 2). Token counts come from the model's own tokenizer. At ``warn_at`` of the
budget the model is warned once (MemGPT); past ``flush_at`` the oldest half of the FIFO is evicted,
never separating a tool call from its result, and folded into the recursive summary. Evicted
messages stay in recall.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Callable, Sequence

from app.memory.recall import Message
from app.memory.store import MemoryStore
from app.memory.summaries import summarize
from models.interface import ChatMessage, ChatModel, ToolSpec

log = logging.getLogger(__name__)

PRESSURE_WARNING = (
    "Memory pressure: the conversation history will soon reach its maximum length and the oldest "
    "messages will be moved out of your context. Save anything important to core or archival "
    "memory now."
)


@dataclass(frozen=True)
class ContextLimits:
    window: int
    """The model's context length in tokens."""
    reserve: int = 512
    """Tokens kept free for the model's reply."""
    warn_at: float = 0.70
    flush_at: float = 0.90
    idle_flush_at: float = 0.75
    """Between turns, the oldest messages are folded away from here on, so a turn rarely has to."""
    keep_last: int = 4
    """The newest messages are never evicted."""

    @property
    def budget(self) -> int:
        return self.window - self.reserve


def tool_list(tools: Sequence[ToolSpec]) -> str:
    lines = []
    for spec in tools:
        params = spec["parameters"].get("properties", {})
        described = ", ".join(f"{name}: {p.get('description', '')}".rstrip(": ") for name, p in params.items())
        lines.append(f"- {spec['name']}({described}): {spec['description']}")
    return "\n".join(lines)


def static_text(system_prompt: str, tools: Sequence[ToolSpec]) -> str:
    """The first part of the context, which never changes: the system prompt and the tool list."""
    return f"{system_prompt.strip()}\n\nYour tools:\n{tool_list(tools)}"


def cut_point(fifo: Sequence[Message], keep_last: int) -> int:
    """How many of the oldest messages to evict: about half, never splitting a call from its result."""
    cut = min(len(fifo) // 2, max(0, len(fifo) - keep_last))
    while 0 < cut < len(fifo) and fifo[cut].role == "tool" and fifo[cut - 1].is_tool_call:
        cut -= 1
    return cut


def as_chat(message: Message) -> ChatMessage:
    if message.is_tool_call:
        call = {"thought": message.content, "tool": message.tool_name,
                "args": json.loads(message.tool_args or "{}")}
        return {"role": "assistant", "content": json.dumps(call, ensure_ascii=False)}
    return {"role": message.role, "content": message.content}


class MainContext:
    def __init__(
        self,
        model: ChatModel | None,
        memory: MemoryStore,
        conversation: str,
        system_prompt: str,
        tools: Sequence[ToolSpec],
        limits: ContextLimits | None = None,
        summarizer: Callable[[ChatModel, str, Sequence[Message], int], str] = summarize,
    ) -> None:
        self.model = model
        self.memory = memory
        self.conversation = conversation
        self.static = static_text(system_prompt, tools)
        self.limits = limits or ContextLimits(window=model.info.n_ctx if model is not None else 0)
        """With no chat model loaded (quick commands only) nothing is measured or evicted."""
        self.summarizer = summarizer
        self.core_snapshot = memory.core.render()
        self.summary = memory.summaries.latest(conversation)
        self.warned = False

    # -- building the prompt ---------------------------------------------------------------
    def system_text(self) -> str:
        parts = [self.static, f"Core memory (always visible; edit it with your memory tools):\n{self.core_snapshot}"]
        if self.summary:
            parts.append(f"Summary of earlier conversation (the full messages are in recall):\n{self.summary}")
        return "\n\n".join(parts)

    def fifo(self) -> list[Message]:
        return self.memory.recall.in_context(self.conversation)

    def taint(self) -> list[str]:
        """The sources of the untrusted text the context holds now, oldest first.

        Only the FIFO can hold such text: the summary is written from trusted text alone (see
        app/memory/summaries.py), so the taint ends when the last untrusted message is evicted.
        """
        found: list[str] = []
        for message in self.fifo():
            if message.source and message.source not in found:
                found.append(message.source)
        return found

    def messages(self) -> list[ChatMessage]:
        return [{"role": "system", "content": self.system_text()}, *map(as_chat, self.fifo())]

    def _model(self) -> ChatModel:
        if self.model is None:
            raise RuntimeError("no chat model is loaded")
        return self.model

    def prompt(self) -> str:
        return self._model().render(self.messages())

    def tokens_used(self) -> int:
        return self._model().count_tokens(self.prompt())

    # -- adding to the FIFO ----------------------------------------------------------------
    def add(self, role: str, content: str, *, tool_name: str | None = None,
            tool_args: dict[str, object] | None = None, source: str | None = None) -> Message:
        """Commit a message to recall (and so to the FIFO) before the model sees it."""
        return self.memory.recall.add(self.conversation, role, content, tool_name=tool_name,
                                      tool_args=tool_args, source=source)

    # -- memory pressure -------------------------------------------------------------------
    def manage(self) -> str | None:
        """Warn or evict as the budget requires; returns "warned", "evicted" or None.

        The warning comes first; when one message jumps past both marks, eviction follows at once.
        """
        if self.model is None:
            return None
        used = self.tokens_used()
        budget = self.limits.budget
        event = None
        if used < self.limits.warn_at * budget:
            self.warned = False  # one warning per crossing of the mark, not one per turn above it
        elif not self.warned:
            self.warned = True
            self.add("system", PRESSURE_WARNING)
            event, used = "warned", self.tokens_used()
        if used >= self.limits.flush_at * budget:
            # The newest messages stay, unless they alone overflow: then all but the last go.
            for keep in (self.limits.keep_last, 1):
                while used >= self.limits.flush_at * budget and self.evict(keep):
                    used = self.tokens_used()
            if used >= self.limits.flush_at * budget:
                log.warning("the context is still full (%d of %d tokens) with one message left", used, budget)
            event = "evicted"
        return event

    def evict(self, keep_last: int | None = None, model: ChatModel | None = None) -> list[Message]:
        """Fold the oldest part of the FIFO into the summary (written by ``model``, the context's
        own by default); returns the evicted messages."""
        fifo = self.fifo()
        cut = cut_point(fifo, self.limits.keep_last if keep_last is None else keep_last)
        if cut == 0:
            return []
        evicted = fifo[:cut]
        summary = self.summarizer(model or self._model(), self.summary, evicted, self.limits.budget)
        with self.memory.db.transaction():
            self.memory.summaries.save(self.conversation, summary, evicted[-1].id)
            self.memory.recall.evict([m.id for m in evicted])
        self.summary = summary
        self.core_snapshot = self.memory.core.render()
        log.info("evicted %d messages into the summary", len(evicted))
        return evicted
