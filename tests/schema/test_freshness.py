"""Freshness that is true per department and per project, whatever the fault.

A department's part of a matter is OK (fetched now), STALE (its last good
answer: ``fetchedAt`` is the copy's time, and the source says why the fresh
call failed) or UNAVAILABLE (no copy: the part is null with the department's
error). This holds for a copy that says "not known here", for a matter asked
alone, in a page, or through ``_entities``, and a failing batch call falls
back per project: the projects with a copy keep it, only the others fail.

The faults are the fixtures' own (``PUT /_admin/faults``; a killed department
is its server stopped), over real loopback departments and every project of
the 200-project test world. The department's cache keeps no fresh answers
(``ttl_s = 0``) but keeps copies for an hour (``stale_s``), so each query asks
the department and a failure falls back to the copy at once: no waiting.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from fixtures.world import DEPARTMENTS, World
from tests.schema.conftest import Hub, HubFactory, errors_by_path

DEPARTMENT = "fire"
FIELD = "firePath"
NODE = """
  projectCode
  firePath { path spotCheckDrawn }
  sources { department status known fetchedAt errorCode retryable message }
"""
PAGE = f"""
query ($first: Int!, $after: String) {{
  matters(first: $first, after: $after) {{
    pageInfo {{ hasNextPage endCursor }}
    edges {{ node {{ {NODE} }} }}
  }}
}}
"""
MATTER = f"query ($code: String!) {{ matter(projectCode: $code) {{ {NODE} }} }}"
ENTITIES = f"""
query ($representations: [_Any!]!) {{
  _entities(representations: $representations) {{ ... on Matter {{ {NODE} }} }}
}}
"""

# fault kind -> (fault settings for the fixtures' admin, the error code the hub reports)
FAULTS: dict[str, tuple[dict[str, Any] | None, str]] = {
    "hang": ({"hang_rate": 1.0, "hang_s": 30.0}, "DEPARTMENT_TIMEOUT"),
    "maintenance": ({"maintenance": True}, "DEPARTMENT_UNAVAILABLE"),
    "503 burst": ({"error_rate": 1.0, "error_status": 503}, "DEPARTMENT_UNAVAILABLE"),
    "malformed body": ({"malformed_rate": 1.0}, "DEPARTMENT_UNAVAILABLE"),
    "429": ({"rate_limit_rate": 1.0, "retry_after_s": 30.0}, "DEPARTMENT_UNAVAILABLE"),
    "process killed": (None, "DEPARTMENT_UNAVAILABLE"),
}


def source(node: dict[str, Any], department: str = DEPARTMENT) -> dict[str, Any]:
    return next(s for s in node["sources"] if s["department"] == department)


async def every_matter(hub: Hub, first: int) -> tuple[list[dict[str, Any]], dict[tuple[Any, ...], Any]]:
    """Every matter, page by page; the nodes, and the errors by path (page number first)."""
    nodes: list[dict[str, Any]] = []
    errors: dict[tuple[Any, ...], Any] = {}
    after = None
    for _ in range(100):
        body = await hub.query(PAGE, {"first": first, "after": after})
        page = body["data"]["matters"]
        offset = len(nodes)
        nodes += [edge["node"] for edge in page["edges"]]
        for path, error in errors_by_path(body).items():
            # ("matters", "edges", i, "node", field) -> (project code, field)
            errors[(nodes[offset + path[2]]["projectCode"], path[-1])] = error
        if not page["pageInfo"]["hasNextPage"]:
            return nodes, errors
        after = page["pageInfo"]["endCursor"]
    raise AssertionError("more than 100 pages")


async def fresh_hub(make_hub: HubFactory) -> Hub:
    """A hub whose index was built with the department down: it holds no copy of its answers."""
    hub = await make_hub(
        cache_ttl_s=0.0,
        stale_s=3600.0,
        faults={DEPARTMENT: {"maintenance": True}},
    )
    assert hub.services.matter_index.status.stale_departments == {DEPARTMENT: "DEPARTMENT_UNAVAILABLE"}
    await hub.fault(DEPARTMENT, maintenance=False)
    return hub


async def break_department(hub: Hub, kind: str) -> None:
    settings, _ = FAULTS[kind]
    if settings is None:
        await hub.departments.kill(DEPARTMENT)
    else:
        await hub.fault(DEPARTMENT, **settings)


@pytest.mark.parametrize("kind", list(FAULTS))
async def test_no_copy_is_reported_fresh(make_hub: HubFactory, world: World, kind: str) -> None:
    hub = await fresh_hub(make_hub)
    # The first 100 projects get a copy of the department's answer ("not known here" included);
    # the other 100 are never asked before it breaks: they have none.
    body = await hub.query(PAGE, {"first": 100, "after": None})
    assert "errors" not in body, body["errors"][:3]
    warm = {edge["node"]["projectCode"]: edge["node"] for edge in body["data"]["matters"]["edges"]}
    assert sorted(warm) == sorted(world.projects)[:100]
    assert all(source(n)["status"] == "OK" and source(n)["fetchedAt"] for n in warm.values())
    assert {source(n)["known"] for n in warm.values()} == {True, False}  # copies of both kinds

    await break_department(hub, kind)
    _, expected = FAULTS[kind]
    nodes, errors = await every_matter(hub, 50)
    assert len(nodes) == len(world.projects) >= 200
    stale = unavailable = 0
    for node in nodes:
        code, part = node["projectCode"], source(node)
        assert part["status"] != "OK", f"{code}: served from a copy (or not at all), reported OK"
        assert part["errorCode"] == expected and part["message"], part
        if code in warm:
            stale += 1
            assert part["status"] == "STALE"
            assert part["fetchedAt"] == source(warm[code])["fetchedAt"]  # the copy's time
            assert part["known"] == source(warm[code])["known"]  # what the copy says
            assert node[FIELD] == warm[code][FIELD]
            assert (code, FIELD) not in errors  # data from a copy: no error, the source says why
        else:
            unavailable += 1
            assert (part["status"], part["known"], part["fetchedAt"]) == ("UNAVAILABLE", None, None)
            assert node[FIELD] is None
            assert errors[(code, FIELD)]["extensions"]["department"] == DEPARTMENT
            assert errors[(code, FIELD)]["extensions"]["code"] == expected
        for other in DEPARTMENTS:
            if other != DEPARTMENT:
                assert source(node, other)["status"] == "OK"
    assert (stale, unavailable) == (100, len(world.projects) - 100)

    # A matter asked alone says the same.
    warm_code, cold_code = sorted(world.projects)[0], sorted(world.projects)[-1]
    alone = (await hub.query(MATTER, {"code": warm_code}))["data"]["matter"]
    assert source(alone)["status"] == "STALE"
    assert source(alone)["fetchedAt"] == source(warm[warm_code])["fetchedAt"]
    cold = (await hub.query(MATTER, {"code": cold_code}))["data"]["matter"]
    assert source(cold)["status"] == "UNAVAILABLE" and cold[FIELD] is None


Found = tuple[list[dict[str, Any]], dict[tuple[Any, ...], Any]]


async def first_page(hub: Hub, codes: list[str]) -> Found:
    body = await hub.query(PAGE, {"first": len(codes), "after": None})
    nodes = [edge["node"] for edge in body["data"]["matters"]["edges"]]
    errors = {(nodes[p[2]]["projectCode"], p[-1]): e for p, e in errors_by_path(body).items()}
    return nodes, errors


async def entities(hub: Hub, codes: list[str]) -> Found:
    representations = [{"__typename": "Matter", "projectCode": code} for code in codes]
    body = await hub.query(ENTITIES, {"representations": representations})
    nodes = body["data"]["_entities"]
    errors = {(nodes[p[1]]["projectCode"], p[-1]): e for p, e in errors_by_path(body).items()}
    return nodes, errors


@pytest.mark.parametrize("ask", [first_page, entities], ids=["a page of 50", "_entities with 50"])
async def test_one_project_without_a_copy_fails_alone(
    make_hub: HubFactory, world: World, ask: Callable[[Hub, list[str]], Awaitable[Found]]
) -> None:
    hub = await fresh_hub(make_hub)
    fifty = sorted(world.projects)[:50]
    warm, errors = await entities(hub, fifty[:49])  # copies for 49 of them, none for the last
    assert not errors and all(source(n)["status"] == "OK" for n in warm)
    before = {n["projectCode"]: n for n in warm}

    await hub.fault(DEPARTMENT, error_rate=1.0, error_status=503)  # the batch call fails
    nodes, errors = await ask(hub, fifty)
    assert [n["projectCode"] for n in nodes] == fifty
    for node in nodes[:49]:  # each keeps its data, marked as the copy it is
        part = source(node)
        assert (part["status"], part["errorCode"]) == ("STALE", "DEPARTMENT_UNAVAILABLE")
        assert part["fetchedAt"] == source(before[node["projectCode"]])["fetchedAt"]
        assert node[FIELD] == before[node["projectCode"]][FIELD]
    last = nodes[49]
    assert source(last)["status"] == "UNAVAILABLE" and last[FIELD] is None
    assert set(errors) == {(fifty[-1], FIELD)}  # one error, the project with no copy
    assert errors[(fifty[-1], FIELD)]["extensions"]["department"] == DEPARTMENT
