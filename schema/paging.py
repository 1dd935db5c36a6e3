"""One paging vocabulary for the API: opaque cursors and the Relay ``PageInfo``.

Every connection takes Relay's four arguments: ``first`` / ``after`` pages
forward, ``last`` / ``before`` backward (``window`` checks them, ``slice_sorted``
applies them to a list sorted by key); ``hasPreviousPage`` and ``hasNextPage``
say whether the list holds entries before and after the page.

A cursor is ``base64url("<kind>:<value>")``: the kind keeps a cursor of one list
from being replayed on another, the value is the key the list is ordered by (a
project code, an item code, a log entry id), so paging survives refreshes.
Cursors are decoded at the GraphQL edge; the layers below take the keys.
"""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import strawberry

from domain.errors import InvalidInput

MAX_CURSOR = 128  # characters; no cursor this API returns is longer (values are at most MAX_VALUE)
MAX_VALUE = 64
RULE = "a cursor must be an endCursor or edge cursor from an earlier page"


@strawberry.type(description="Relay page info")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


def page_info(edges_or_cursors: Sequence[Any], *, has_next: bool, has_previous: bool) -> PageInfo:
    """The page info of a page, from its edges (anything with ``.cursor``) or its cursors."""
    cursors = [c if isinstance(c, str) else c.cursor for c in edges_or_cursors]
    return PageInfo(
        has_next_page=has_next,
        has_previous_page=has_previous,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )


def encode_cursor(kind: str, value: str) -> str:
    """An opaque, stable cursor for ``value`` in the list ``kind``."""
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode()


def not_a_cursor(argument: str = "after") -> InvalidInput:
    """The error for a cursor this API did not return (also for a value its list refuses)."""
    return InvalidInput(f"{argument}: not a cursor this API returned", argument=argument, rule=RULE)


def decode_cursor(kind: str, cursor: str, *, argument: str = "after") -> str:
    """The value in a cursor of the list ``kind``; InvalidInput for anything else."""
    raw = ""
    if len(cursor) <= MAX_CURSOR:
        try:
            raw = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeError):
            raw = ""
    found, sep, value = raw.partition(":")
    if found != kind or not sep or not value or len(value) > MAX_VALUE:
        raise not_a_cursor(argument)
    return value


@dataclass(frozen=True, slots=True)
class Window:
    """A checked Relay window: ``first`` entries after ``after``, or ``last`` before ``before`` (keys)."""

    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None


def _count(value: int | None, argument: str, maximum: int) -> int | None:
    if value is not None and not 0 <= value <= maximum:
        rule = f"{argument} must be between 0 and {maximum}"
        raise InvalidInput(f"{argument}: {rule}", argument=argument, rule=rule)
    return value


def window(
    kind: str,
    *,
    first: int | None,
    after: str | None,
    last: int | None = None,
    before: str | None = None,
    default: int,
    maximum: int,
) -> Window:
    """The window the arguments ask for, cursors decoded; ``InvalidInput`` before any call otherwise.

    With neither ``first`` nor ``last``: the first ``default`` entries (after ``after``, before ``before``).
    """
    if first is not None and last is not None:
        rule = "give first (paging forward) or last (paging backward), not both"
        raise InvalidInput(f"last: {rule}", argument="last", rule=rule)
    first, last = _count(first, "first", maximum), _count(last, "last", maximum)
    after_key, before_key = decode_bounds(kind, after, before)
    return Window(
        first=default if first is None and last is None else first,
        after=after_key,
        last=last,
        before=before_key,
    )


def decode_bounds(kind: str, after: str | None, before: str | None) -> tuple[str | None, str | None]:
    """The keys in the ``after`` and ``before`` cursors of the list ``kind`` (None where not given)."""
    return (
        decode_cursor(kind, after) if after is not None else None,
        decode_cursor(kind, before, argument="before") if before is not None else None,
    )


def slice_sorted(keys: Sequence[str], w: Window) -> tuple[int, int]:
    """``[start, stop)`` of the window over ``keys`` sorted ascending (cursors need not be present)."""
    start = bisect_right(keys, w.after) if w.after is not None else 0
    stop = bisect_left(keys, w.before) if w.before is not None else len(keys)
    stop = max(start, stop)
    if w.first is not None:
        stop = min(stop, start + w.first)
    if w.last is not None:
        start = max(start, stop - w.last)
    return start, stop
