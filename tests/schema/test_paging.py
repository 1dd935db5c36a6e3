"""The one cursor codec and PageInfo every list in the API pages with."""

from __future__ import annotations

import base64

import pytest

from domain.errors import InvalidInput
from schema.paging import MAX_VALUE, decode_cursor, encode_cursor, page_info


def test_a_cursor_round_trips_within_its_kind() -> None:
    cursor = encode_cursor("item", "11370100MB28")
    assert base64.urlsafe_b64decode(cursor) == b"item:11370100MB28"
    assert decode_cursor("item", cursor) == "11370100MB28"


@pytest.mark.parametrize(
    "cursor",
    [
        encode_cursor("matter", "2023-430472-47-03-000001"),  # another list's cursor
        encode_cursor("item", ""),
        encode_cursor("item", "x" * (MAX_VALUE + 1)),
        "bm90LWEtY3Vyc29y",  # "not-a-cursor"
        "%%%",
        "é",
        "A" * 10_000,  # refused before decoding
    ],
)
def test_anything_else_is_refused_clearly(cursor: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_cursor("item", cursor, argument="projects.after")
    assert str(caught.value) == "projects.after: not a cursor this API returned"
    assert caught.value.extensions()["argument"] == "projects.after"
    assert "endCursor" in caught.value.extensions()["rule"]  # type: ignore[operator]


def test_page_info_from_edges_or_cursors() -> None:
    info = page_info(["a", "b", "c"], has_next=True, has_previous=False)
    assert (info.start_cursor, info.end_cursor) == ("a", "c")
    assert (info.has_next_page, info.has_previous_page) == (True, False)
    empty = page_info([], has_next=False, has_previous=True)
    assert (empty.start_cursor, empty.end_cursor, empty.has_previous_page) == (None, None, True)
