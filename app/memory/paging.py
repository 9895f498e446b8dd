"""Pages of search results, worded for the model ("page 2 of 5, showing 5 of 23")."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Generic, Sequence, TypeVar, Protocol

class Item(Protocol):
    """What a page holds: something with an id that shows itself as one line."""

    @property
    def id(self) -> int: ...

    def line(self) -> str: ...


T = TypeVar("T", bound=Item)
PAGE_SIZE = 5


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    """Zero-based."""
    pages: int
    total: int

    def header(self) -> str:
        if not self.total:
            return "No results."
        return (
            f"Page {self.page + 1} of {self.pages}, showing {len(self.items)} of {self.total} "
            f"result{'s' if self.total != 1 else ''}:"
        )

    def text(self) -> str:
        """The header and one line per item (items have a ``line()``), for the model or a terminal."""
        return "\n".join([self.header(), *(item.line() for item in self.items)])


def page_of(items: Sequence[T], page: int, total: int, size: int = PAGE_SIZE) -> Page[T]:
    """The page numbered ``page`` holding ``items``, out of ``total`` results in all."""
    return Page(items=list(items), page=max(0, page), pages=max(1, math.ceil(total / size)), total=total)


def ranked_page(
    ranked_ids: Sequence[int], page: int, fetch: Callable[[Sequence[int]], list[T]], size: int = PAGE_SIZE
) -> Page[T]:
    """Page ``page`` of ids ranked best first, fetched with ``fetch`` and kept in rank order."""
    wanted = list(ranked_ids[page * size : (page + 1) * size])
    rank = {item: n for n, item in enumerate(wanted)}
    items = sorted(fetch(wanted), key=lambda item: rank[item.id])
    return page_of(items, page, total=len(ranked_ids), size=size)
