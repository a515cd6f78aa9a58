"""Pages of a long list: a fixed page size, the total, and the page asked for (past the end: the last page).

Every list a person reads is paged rather than cut: a list that stops at some number of rows without saying so
hides the rest (a coordinator could not find the 501st record waiting for approval). Two statements per page,
whatever the size of the table: the rows of the page and the total.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from sqlalchemy import Select

from volunteer.extensions import db

T = TypeVar("T")
U = TypeVar("U")

#: rows on one page of every list
PAGE_SIZE = 50
#: page numbers beyond this are read as this (an absurd number must not become an absurd OFFSET)
MAX_PAGE = 100_000


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and where it sits in the whole."""

    items: list[T]
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        """How many pages the whole list has (an empty list has one, empty, page)."""
        return max(1, math.ceil(self.total / self.size))

    @property
    def has_prev(self) -> bool:
        """Whether a previous page exists."""
        return self.number > 1

    @property
    def has_next(self) -> bool:
        """Whether a next page exists."""
        return self.number < self.pages

    def map(self, convert: Callable[[list[T]], list[U]]) -> Page[U]:
        """The same page with its items converted (all at once, so the conversion can batch its queries)."""
        return replace(self, items=convert(self.items))  # type: ignore[return-value]

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def paginate(statement: Select[Any], number: int | None, size: int = PAGE_SIZE) -> Page[Any]:
    """One page of a SELECT of entities (ordered by the caller, with a unique last key so pages do not overlap)."""
    number = min(max(1, number or 1), MAX_PAGE)
    result = db.paginate(statement, page=number, per_page=size, max_per_page=size, error_out=False)
    if not result.items and number > 1 and result.total:  # past the end (the list shrank, or a typed number)
        number = math.ceil(result.total / size)
        result = db.paginate(statement, page=number, per_page=size, max_per_page=size, error_out=False)
    return Page(list(result.items), number, size, int(result.total or 0))
