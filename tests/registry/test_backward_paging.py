"""Relay paging both ways on the registry's connections (delegated items, the service catalogue),
on SQLite and PostgreSQL: every page forward and backward gives the same set, in order, no duplicates."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry

from domain.principal import Principal, Role
from registry.store import Registry
from schema.catalogue import Query as CatalogueQuery
from schema.ledger import Query as LedgerQuery
from tests.registry.conftest import LedgerContext

AUDITOR = Principal(subject="auditor@zone", role=Role.AUDITOR)
SCHEMAS = {
    "delegatedItems": strawberry.Schema(query=LedgerQuery),
    "serviceItems": strawberry.Schema(query=CatalogueQuery),
}
PAGE = """
query($first: Int, $after: String, $last: Int, $before: String) {
  %s(first: $first, after: $after, last: $last, before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { code } }
  }
}
"""


async def page(registry: Registry, field: str, **variables: Any) -> Any:
    result = await SCHEMAS[field].execute(
        PAGE % field, variable_values=variables, context_value=LedgerContext(registry, AUDITOR)
    )
    return result


@pytest.mark.parametrize("field", ["delegatedItems", "serviceItems"])
async def test_forward_and_backward_give_the_same_set(seeded: Registry, field: str) -> None:
    forward: list[str] = []
    after = None
    while True:
        result = await page(seeded, field, first=97, after=after)
        assert result.errors is None, result.errors
        p = result.data[field]
        forward += [e["node"]["code"] for e in p["edges"]]
        assert p["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not p["pageInfo"]["hasNextPage"]:
            break
        after = p["pageInfo"]["endCursor"]
    total = p["totalCount"]
    backward: list[str] = []
    before = None
    while True:
        result = await page(seeded, field, last=97, before=before)
        assert result.errors is None, result.errors
        p = result.data[field]
        codes = [e["node"]["code"] for e in p["edges"]]
        assert codes == sorted(codes)
        assert p["pageInfo"]["startCursor"] == p["edges"][0]["cursor"]
        assert p["pageInfo"]["hasNextPage"] is (before is not None)
        backward = codes + backward
        if not p["pageInfo"]["hasPreviousPage"]:
            break
        before = p["pageInfo"]["startCursor"]
    assert forward == backward == sorted(forward)
    assert len(set(forward)) == len(forward) == total > 100


@pytest.mark.parametrize("field", ["delegatedItems", "serviceItems"])
async def test_between_two_cursors_and_bad_windows(seeded: Registry, field: str) -> None:
    first = (await page(seeded, field, first=10)).data[field]
    cursors = [e["cursor"] for e in first["edges"]]
    codes = [e["node"]["code"] for e in first["edges"]]
    middle = (await page(seeded, field, last=3, after=cursors[1], before=cursors[8])).data[field]
    assert [e["node"]["code"] for e in middle["edges"]] == codes[5:8]
    assert middle["pageInfo"]["hasPreviousPage"] and middle["pageInfo"]["hasNextPage"]
    for variables, argument in (
        ({"first": 5, "last": 5}, "last"),
        ({"last": 0}, "last"),
        ({"last": 5, "before": "bm90LWEtY3Vyc29y"}, "before"),
    ):
        result = await page(seeded, field, **variables)
        assert result.errors and result.errors[0].extensions["code"] == "BAD_USER_INPUT", variables
        assert result.errors[0].extensions["argument"] == argument
