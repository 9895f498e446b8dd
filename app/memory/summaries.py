"""The recursive summary of messages evicted from the main context.

Each eviction folds the evicted messages into the previous summary with the model. When the
messages are too long for one request, they are folded in slices, oldest first, so the summary
of any amount of history fits. Messages that hold untrusted text (a file's contents, names chosen
by others, the model's own words while it read them) reach the summarizer only as a note of where
that text came from: the summary stays trusted, and an injected instruction cannot survive an
eviction inside it.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from typing import Sequence

from app.memory.db import Database
from app.memory.recall import Message
from models.interface import ChatModel

log = logging.getLogger(__name__)

SUMMARY_TOKENS = 300
_INSTRUCTION = (
    "You maintain the running summary of a conversation between a user and Pagemind, an "
    "assistant that acts on the user's computer. Rewrite the summary so that it also covers the "
    "new messages: keep facts about the user, decisions, files and actions taken, and open "
    "requests; drop small talk. Answer with the summary only, under 200 words."
)


class SummaryStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def latest(self, conversation: str) -> str:
        row = self.db.fetchone(
            "SELECT content FROM summaries WHERE conversation = ? ORDER BY id DESC LIMIT 1", [conversation]
        )
        return row[0] if row else ""

    def save(self, conversation: str, content: str, through_message: int) -> None:
        self.db.execute(
            "INSERT INTO summaries (conversation, content, through_message, created_at) VALUES (?, ?, ?, ?)",
            [conversation, content, through_message, datetime.datetime.now()],
        )


def _trusted(message: Message) -> Message:
    """``message`` as the summarizer may see it: untrusted text is named, never quoted, so the
    summary (always in the context) never carries it and never taints the conversation."""
    if not message.source:
        return message
    what = "result" if message.role == "tool" else "message"
    hidden = f"[a {what} holding untrusted text from {message.source}; search recall for it]"
    return dataclasses.replace(message, content=hidden, tool_args=None)


def _transcript(messages: Sequence[Message]) -> str:
    return "\n".join(_trusted(m).line() for m in messages)


def summarize(model: ChatModel, previous: str, messages: Sequence[Message], budget: int) -> str:
    """Fold ``messages`` into ``previous`` with ``model``; each request stays within ``budget`` tokens.

    The summary itself gets at most an eighth of the budget (and SUMMARY_TOKENS), so it always
    leaves the main context room for messages.
    """
    length = max(32, min(SUMMARY_TOKENS, budget // 8))
    summary = previous
    pending = list(messages)
    while pending:
        batch: list[Message] = []
        while pending:
            candidate = batch + [pending[0]]
            prompt = _prompt(model, summary, candidate)
            if batch and model.count_tokens(prompt) + length > budget:
                break
            batch.append(pending.pop(0))
        prompt = _prompt(model, summary, batch)
        while model.count_tokens(prompt) + length > budget:  # one message alone is too long
            head = batch[0].content
            if len(head) > 40:
                batch = [dataclasses.replace(batch[0], content=head[: len(head) // 2] + " [...]")]
            elif len(summary) > 40:  # the summary so far is what is too long
                summary = summary[: len(summary) // 2] + " [...]"
            else:
                break  # the instruction alone fills the budget; the model will say so
            prompt = _prompt(model, summary, batch)
        generation = model.generate(prompt, max_tokens=length)
        summary = generation.text.strip() or summary
    return summary


def _prompt(model: ChatModel, summary: str, messages: Sequence[Message]) -> str:
    previous = summary or "(nothing yet)"
    return model.render(
        [
            {"role": "system", "content": _INSTRUCTION},
            {
                "role": "user",
                "content": f"Summary so far:\n{previous}\n\nNew messages:\n{_transcript(messages)}",
            },
        ]
    )
