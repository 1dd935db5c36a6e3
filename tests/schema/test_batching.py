"""Lists never fan out per project: a page of N matters is one batch call per department.

Upstream calls are counted by the fixture systems themselves (``/_admin/stats``),
with the connectors' cache off, so every lookup really goes upstream.
"""

from __future__ import annotations

from fixtures.world import DEPARTMENTS, World
from tests.schema.conftest import Hub

BOUND = 2  # upstream calls per department for matters(first: 50) (issue 7's target)

PAGE = """
query ($first: Int, $after: String) {
  matters(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges {
      cursor
      node {
        projectCode name stage
        enterprise { creditCode }
        items { department status overdue }
        planning { items { kind } }
        civilAirDefence { requirement }
        firePath { path }
        utilities { status }
        realEstate { unitNumber }
        phasedPermit { phases { eligible } }
        blockers { reason }
        nextSteps { title }
        sources { department status }
      }
    }
  }
}
"""


async def test_a_page_of_50_costs_at_most_two_calls_per_department(hub: Hub, world: World) -> None:
    warm = await hub.query("{ matters(first: 0) { totalCount } }")  # builds the matter index
    assert warm["data"]["matters"]["totalCount"] == len(world.projects)
    await hub.reset_stats()

    body = await hub.query(PAGE, {"first": 50})
    assert "errors" not in body, body["errors"][:3]
    edges = body["data"]["matters"]["edges"]
    assert len(edges) == 50
    assert all(s["status"] == "OK" for e in edges for s in e["node"]["sources"])

    calls = await hub.upstream_calls()
    print(f"upstream calls for matters(first: 50): {calls}")
    assert set(calls) == set(DEPARTMENTS)
    assert all(n <= BOUND for n in calls.values()), calls
    assert all(n >= 1 for n in calls.values()), calls  # the page was really loaded, not guessed


async def test_a_single_matter_is_one_call_per_department(hub: Hub, world: World) -> None:
    code = next(c for c in sorted(world.projects) if all(world.view(d, c) for d in DEPARTMENTS))
    await hub.reset_stats()
    body = await hub.query(
        "query ($c: String!) { matter(projectCode: $c) { name items { status } utilities { status } "
        "realEstate { unitNumber } firePath { path } civilAirDefence { requirement } "
        "phasedPermit { mode } sources { status } } }",
        {"c": code},
    )
    assert "errors" not in body
    calls = await hub.upstream_calls(tokens=False)
    print(f"upstream lookups for one matter: {calls}")
    # Profile and planning view share one lookup (the pipeline coalesces them).
    assert all(n == 1 for n in calls.values()), calls


async def test_paging_walks_every_matter_once(hub: Hub, world: World) -> None:
    seen: list[str] = []
    after = None
    while True:
        body = await hub.query(
            "query ($after: String) { matters(first: 100, after: $after) "
            "{ pageInfo { hasNextPage endCursor } edges { node { projectCode } } } }",
            {"after": after},
        )
        page = body["data"]["matters"]
        seen += [e["node"]["projectCode"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == sorted(world.projects)


async def test_filters_read_the_index_not_the_departments(hub: Hub, world: World) -> None:
    await hub.query("{ matters(first: 0) { totalCount } }")
    await hub.reset_stats()
    body = await hub.query(
        "{ overdue: matters(first: 0, filter: {overdue: true}) { totalCount } "
        '  fire: matters(first: 0, filter: {department: "fire"}) { totalCount } '
        "  completion: matters(first: 0, filter: {stage: COMPLETION_ACCEPTANCE}) { totalCount } }"
    )
    assert "errors" not in body
    assert body["data"]["fire"]["totalCount"] == len(world.views["fire"])
    assert body["data"]["overdue"]["totalCount"] > 0
    assert sum((await hub.upstream_calls()).values()) == 0
