"""The memory tools, with MemGPT's signatures: the model pages its own memory in and out.

Each needs the ``memory`` service (an ``app.memory.store.MemoryStore``) in its ToolContext. They
are ``internal``: they change only Pagemind's own memory, never the user's files. Edits still carry
the ``write`` tier, so the gate asks when the conversation holds untrusted text (a poisoned
document must not be able to rewrite what Pagemind believes about its user). A passage stored
while the conversation holds untrusted text keeps that source, and a search that finds remembered
untrusted text (a passage, or an earlier message that carried such text) taints the turn again.
"""

from __future__ import annotations

import datetime
from typing import Annotated

from tools.registry import MaxLen, Range, ToolContext, tool

Page = Annotated[int, Range(0, 1000)]


def _memory(context: ToolContext):  # -> MemoryStore (kept untyped: tools never import app code)
    return context.get("memory")


@tool(risk="write", internal=True)
def core_memory_append(label: Annotated[str, MaxLen(40)], content: Annotated[str, MaxLen(1000)],
                       context: ToolContext) -> str:
    """Add a line to a core memory block, which stays in your context at all times.

    Args:
        label: the block, e.g. "human" (facts about the user) or "persona" (yourself).
        content: the text to add, as one or more whole lines.
    """
    block = _memory(context).core.append(label, content)
    return f"Appended to {label} ({len(block.value)}/{block.limit} characters)."


@tool(risk="write", internal=True)
def core_memory_replace(label: Annotated[str, MaxLen(40)], old_content: Annotated[str, MaxLen(1000)],
                        new_content: Annotated[str, MaxLen(1000)], context: ToolContext) -> str:
    """Replace exact text in a core memory block; an empty new_content deletes it.

    Args:
        label: the block, e.g. "human" or "persona".
        old_content: the exact text to replace, copied from the block.
        new_content: the text to put in its place.
    """
    block = _memory(context).core.replace(label, old_content, new_content)
    return f"Replaced in {label} ({len(block.value)}/{block.limit} characters)."


@tool(risk="write", internal=True)
def archival_memory_insert(content: Annotated[str, MaxLen(4000)], context: ToolContext) -> str:
    """Store a passage in archival memory, for later search. Use it for anything worth keeping.

    Args:
        content: the passage, written so it makes sense when found on its own later.
    """
    source = context.taint[-1] if context.taint else None
    passage = _memory(context).archival.insert(content, source=source)
    return f"Stored as archival passage {passage.id}."


def _report_sources(found, context: ToolContext):  # -> the same Page: its untrusted items taint the turn
    for item in found.items:
        if getattr(item, "source", None):
            context.effects().untrusted(f"{item.source} (remembered)")
    return found


@tool(risk="read", internal=True)
def archival_memory_search(query: Annotated[str, MaxLen(300)], context: ToolContext, page: Page = 0) -> str:
    """Search archival memory by meaning and words.

    Args:
        query: what to look for.
        page: which page of results, from 0.
    """
    found = _memory(context).archival.search(query, page=page)
    return _report_sources(found, context).text()


@tool(risk="read", internal=True)
def conversation_search(query: Annotated[str, MaxLen(300)], context: ToolContext, page: Page = 0) -> str:
    """Search every earlier message of every conversation (recall memory).

    Args:
        query: what to look for.
        page: which page of results, from 0.
    """
    found = _memory(context).recall.search(query, page=page)
    return _report_sources(found, context).text()


def _day(text: str, name: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{name} must be a date like 2026-03-31, not {text!r}") from None


@tool(risk="read", internal=True)
def conversation_search_date(start_date: Annotated[str, MaxLen(10)], end_date: Annotated[str, MaxLen(10)],
                             context: ToolContext, page: Page = 0) -> str:
    """List the messages exchanged between two dates, both included, oldest first.

    Args:
        start_date: the first day, as YYYY-MM-DD.
        end_date: the last day, as YYYY-MM-DD.
        page: which page of results, from 0.
    """
    start, end = _day(start_date, "start_date"), _day(end_date, "end_date")
    if end < start:
        raise ValueError("end_date is before start_date")
    found = _memory(context).recall.search_date(
        datetime.datetime.combine(start, datetime.time.min), datetime.datetime.combine(end, datetime.time.max), page=page
    )
    return _report_sources(found, context).text()
