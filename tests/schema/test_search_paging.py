"""Finding and paging matters: search by name or code prefix; Relay paging forward and backward."""

from __future__ import annotations

from typing import Any

import pytest

from fixtures.generate import TIANJIA_CODE
from fixtures.world import World
from tests.schema.conftest import Hub

SEARCH = """
query ($search: String!) {
  matters(first: 100, filter: {search: $search}) { totalCount nodes { projectCode name } }
}
"""

PAGE = """
query ($first: Int, $after: String, $last: Int, $before: String) {
  matters(first: $first, after: $after, last: $last, before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { projectCode } }
  }
}
"""


async def search(hub: Hub, words: str) -> list[str]:
    body = await hub.query(SEARCH, {"search": words})
    assert "errors" not in body, body["errors"]
    found = body["data"]["matters"]
    assert found["totalCount"] == len(found["nodes"])
    return [n["projectCode"] for n in found["nodes"]]


async def test_search_finds_a_project_by_its_name(hub: Hub) -> None:
    assert await search(hub, "上河九章") == [TIANJIA_CODE]
    assert await search(hub, "  上河九章 ") == [TIANJIA_CODE]  # trimmed


async def test_search_finds_projects_by_their_enterprises_name(hub: Hub, world: World) -> None:
    tianjia = world.projects[TIANJIA_CODE]
    name = world.enterprises[tianjia.enterprise_code].name
    expected = sorted(
        c for c, p in world.projects.items() if name in world.enterprises[p.enterprise_code].name
    )
    assert await search(hub, name) == expected


async def test_search_matches_code_prefixes(hub: Hub, world: World) -> None:
    prefix = TIANJIA_CODE[:14]  # year, division, industry
    assert await search(hub, prefix) == sorted(c for c in world.projects if c.startswith(prefix))
    credit = world.projects[TIANJIA_CODE].enterprise_code
    expected = sorted(c for c, p in world.projects.items() if p.enterprise_code.startswith(credit[:12]))
    assert await search(hub, credit[:12].lower()) == expected  # case-insensitive
    parcel = world.projects[TIANJIA_CODE].parcel_code
    assert TIANJIA_CODE in await search(hub, parcel)


async def test_search_finds_nothing_for_unknown_words(hub: Hub) -> None:
    assert await search(hub, "不存在的项目名称") == []


@pytest.mark.parametrize("words", ["", "   ", "x" * 65, "上河\x00九章", "上河\u200b九章"])
async def test_bad_search_words_are_refused(hub: Hub, words: str) -> None:
    body = await hub.query(SEARCH, {"search": words})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["extensions"]["argument"] == "filter.search"


async def page(hub: Hub, **variables: Any) -> dict[str, Any]:
    body = await hub.query(PAGE, variables)
    assert "errors" not in body, body["errors"]
    result: dict[str, Any] = body["data"]["matters"]
    return result


async def test_every_page_forward_and_backward_gives_the_same_set(hub: Hub, world: World) -> None:
    everything = sorted(world.projects)
    forward: list[str] = []
    after = None
    while True:
        p = await page(hub, first=17, after=after)
        codes = [e["node"]["projectCode"] for e in p["edges"]]
        forward += codes
        assert p["pageInfo"]["hasPreviousPage"] is (after is not None)
        assert p["pageInfo"]["startCursor"] == p["edges"][0]["cursor"]
        assert p["pageInfo"]["endCursor"] == p["edges"][-1]["cursor"]
        if not p["pageInfo"]["hasNextPage"]:
            break
        after = p["pageInfo"]["endCursor"]
    backward: list[str] = []
    before = None
    while True:
        p = await page(hub, last=17, before=before)
        codes = [e["node"]["projectCode"] for e in p["edges"]]
        assert codes == sorted(codes)  # a page backward still lists in order
        backward = codes + backward
        assert p["pageInfo"]["hasNextPage"] is (before is not None)
        if not p["pageInfo"]["hasPreviousPage"]:
            break
        before = p["pageInfo"]["startCursor"]
    assert forward == backward == everything  # same set, same order, no duplicates
    assert len(set(forward)) == len(forward) == len(world.projects)


async def test_last_alone_gives_the_end_and_between_two_cursors_works(hub: Hub, world: World) -> None:
    codes = sorted(world.projects)
    end = await page(hub, last=3)
    assert [e["node"]["projectCode"] for e in end["edges"]] == codes[-3:]
    assert end["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": True,
        "startCursor": end["edges"][0]["cursor"],
        "endCursor": end["edges"][-1]["cursor"],
    }
    first = await page(hub, first=10)
    cursors = [e["cursor"] for e in first["edges"]]
    middle = await page(hub, first=100, after=cursors[2], before=cursors[7])
    assert [e["node"]["projectCode"] for e in middle["edges"]] == codes[3:7]
    assert middle["pageInfo"]["hasPreviousPage"] and middle["pageInfo"]["hasNextPage"]


@pytest.mark.parametrize(
    ("variables", "argument"),
    [
        ({"first": 5, "last": 5}, "last"),
        ({"last": -1}, "last"),
        ({"last": 101}, "last"),
        ({"last": 5, "before": "bm90LWEtY3Vyc29y"}, "before"),
    ],
)
async def test_bad_paging_arguments_are_refused(hub: Hub, variables: dict[str, Any], argument: str) -> None:
    body = await hub.query(PAGE, variables)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["extensions"]["argument"] == argument


async def test_an_enterprises_projects_page_backward(hub: Hub, world: World) -> None:
    credit = max(
        world.enterprises, key=lambda c: sum(p.enterprise_code == c for p in world.projects.values())
    )
    mine = sorted(c for c, p in world.projects.items() if p.enterprise_code == credit)
    assert len(mine) >= 2
    body = await hub.query(
        """query ($c: String!) { enterprise(creditCode: $c) {
             projects(last: 1) { pageInfo { hasPreviousPage hasNextPage } nodes { projectCode } } } }""",
        {"c": credit},
    )
    projects = body["data"]["enterprise"]["projects"]
    assert [n["projectCode"] for n in projects["nodes"]] == mine[-1:]
    assert projects["pageInfo"] == {"hasPreviousPage": True, "hasNextPage": False}
