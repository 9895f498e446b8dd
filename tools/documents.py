"""Searching the user's indexed documents (the watched folders), for the model.

The ``memory`` service (an ``app.memory.store.MemoryStore``) holds the index. A hit's text is the
document's own words: the result is untrusted, so once the model has read it the turn is tainted
and nothing above ``read`` runs without asking.
"""

from __future__ import annotations

from typing import Annotated

from app import paths
from tools.registry import MaxLen, Range, ToolContext, tool


@tool(risk="read", internal=True, untrusted_output=True)
def search_documents(query: Annotated[str, MaxLen(300)], context: ToolContext,
                     page: Annotated[int, Range(0, 1000)] = 0) -> str:
    """Search the user's documents in the watched folders by meaning and words.

    Args:
        query: what to look for, in the user's words or the words the document would use.
        page: which page of results, from 0.
    """
    found = context.get("memory").documents.search(query, page=page)
    if not found.total:
        return f"No document matches. (Only the watched folders are indexed: `{paths.launcher()} watch PATH`.)"
    return found.text()
