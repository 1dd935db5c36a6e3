"""Partial results (DESIGN rule 2): a department's failure never fails the request.

Each department down in turn, and all five down: HTTP 200, the other
departments' parts, the failed part null with a GraphQL error whose extensions
carry code, department and retryable, and ``Matter.sources`` saying the same.
"""

from __future__ import annotations

from typing import Any

import pytest

from fixtures.world import DEPARTMENTS, World
from tests.schema.conftest import Hub, HubFactory, errors_by_path

MATTER = """
query ($code: String!) {
  matter(projectCode: $code) {
    projectCode
    name
    stage
    items { department kind status }
    planning { items { kind } }
    civilAirDefence { requirement status }
    firePath { path }
    utilities { utility status }
    realEstate { unitNumber }
    sources { department status known fetchedAt latencyMs errorCode retryable }
  }
}
"""

# The Matter field each department alone feeds.
FIELD = {
    "planning": "planning",
    "civil_air_defence": "civilAirDefence",
    "fire": "firePath",
    "utilities": "utilities",
    "real_estate": "realEstate",
}


@pytest.fixture
def code(world: World) -> str:
    """A project every department knows (completion stage)."""
    known = [c for c in sorted(world.projects) if all(world.view(d, c) for d in DEPARTMENTS)]
    assert known, "the test world needs a project known to all five departments"
    return known[0]


def sources(matter: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["department"]: s for s in matter["sources"]}


def assert_unavailable(body: dict[str, Any], department: str, code: str = "DEPARTMENT_UNAVAILABLE") -> None:
    matter = body["data"]["matter"]
    assert matter[FIELD[department]] is None
    error = errors_by_path(body)[("matter", FIELD[department])]
    assert error["extensions"] == {
        "code": code,
        "department": department,
        "retryable": code != "DEPARTMENT_REJECTED",
    }
    # No URL, credential or payload in what the caller sees.
    assert "http" not in error["message"] and "127.0.0.1" not in error["message"]
    source = sources(matter)[department]
    assert source["status"] == "UNAVAILABLE"
    assert source["errorCode"] == code
    assert source["fetchedAt"] is None
    assert all(item["department"] != department for item in matter["items"])


def assert_ok(body: dict[str, Any], department: str) -> None:
    matter = body["data"]["matter"]
    assert matter[FIELD[department]] is not None
    assert ("matter", FIELD[department]) not in errors_by_path(body)
    source = sources(matter)[department]
    assert source["status"] == "OK" and source["known"] is True
    assert source["fetchedAt"] and source["latencyMs"] is not None


async def test_all_departments_answer(hub: Hub, code: str, world: World) -> None:
    body = await hub.query(MATTER, {"code": code})
    assert "errors" not in body, body["errors"]
    matter = body["data"]["matter"]
    assert matter["name"] == world.projects[code].name
    for department in DEPARTMENTS:
        assert_ok(body, department)
    assert {i["department"] for i in matter["items"]} >= {"planning", "fire"}


@pytest.mark.parametrize("down", DEPARTMENTS)
async def test_one_department_down(hub: Hub, code: str, down: str) -> None:
    await hub.fault(down, maintenance=True)
    response = await hub.post(MATTER, {"code": code})
    assert response.status_code == 200  # the department's 503 never becomes the hub's
    body = response.json()
    assert body["data"]["matter"]["projectCode"] == code
    assert_unavailable(body, down)
    for department in DEPARTMENTS:
        if department != down:
            assert_ok(body, department)
    # Planning is also the project directory: when it is down, the profile is the copy the
    # matter index took at startup (the profile's fields fail with it when there is none:
    # test_a_matter_with_the_directory_down_from_the_start).
    assert body["data"]["matter"]["name"]
    assert ("matter", "name") not in errors_by_path(body)


async def test_all_departments_down(hub: Hub, code: str) -> None:
    for department in DEPARTMENTS:
        await hub.fault(department, maintenance=True)
    response = await hub.post(MATTER, {"code": code})
    assert response.status_code == 200
    body = response.json()
    matter = body["data"]["matter"]
    assert matter["projectCode"] == code
    assert matter["items"] == []
    for department in DEPARTMENTS:
        assert_unavailable(body, department)
    assert {s["status"] for s in matter["sources"]} == {"UNAVAILABLE"}


async def test_hanging_department_times_out(make_hub: HubFactory, code: str) -> None:
    hub = await make_hub(overrides={"fire": {"deadline_s": 0.3}})
    await hub.fault("fire", hang_rate=1.0, hang_s=30.0)
    body = await hub.query(MATTER, {"code": code})
    assert_unavailable(body, "fire", code="DEPARTMENT_TIMEOUT")
    assert_ok(body, "planning")


async def test_refused_credentials_are_rejected(
    make_hub: HubFactory, code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_WRONG_UTILITIES_KEY", "not-the-key")
    hub = await make_hub(overrides={"utilities": {"credentials": {"api_key": "TEST_WRONG_UTILITIES_KEY"}}})
    body = await hub.query(MATTER, {"code": code})
    assert_unavailable(body, "utilities", code="DEPARTMENT_REJECTED")
    assert "not-the-key" not in str(body)
    assert_ok(body, "fire")


async def test_outage_serves_the_last_good_answer_as_stale(make_hub: HubFactory, code: str) -> None:
    # Fresh for a millisecond, then kept for stale-if-error: the next call goes upstream.
    hub = await make_hub(cache_ttl_s=0.001, stale_s=600.0)
    first = await hub.query(MATTER, {"code": code})
    assert sources(first["data"]["matter"])["fire"]["status"] == "OK"
    await hub.fault("fire", maintenance=True)
    body = await hub.query(MATTER, {"code": code})
    assert "errors" not in body
    matter = body["data"]["matter"]
    assert matter["firePath"] == first["data"]["matter"]["firePath"]
    assert sources(matter)["fire"]["status"] == "STALE"
    assert sources(matter)["planning"]["status"] == "OK"


async def test_unknown_project_is_null_without_error(hub: Hub) -> None:
    body = await hub.query(MATTER, {"code": "2023-430472-47-03-999999"})
    assert body["data"]["matter"] is None
    assert "errors" not in body


LIST = """
{
  matters(first: 10) {
    totalCount
    index { projects staleDepartments }
    edges { node { projectCode name firePath { path } sources { department status errorCode } } }
  }
}
"""


async def test_a_list_survives_a_department_outage(make_hub: HubFactory, world: World) -> None:
    hub = await make_hub(faults={"fire": {"maintenance": True}})  # down before the index is built
    response = await hub.post(LIST)
    assert response.status_code == 200
    body = response.json()
    matters = body["data"]["matters"]
    assert matters["totalCount"] == len(world.projects)
    assert matters["index"]["staleDepartments"] == ["fire"]
    nodes = [e["node"] for e in matters["edges"]]
    assert len(nodes) == 10 and all(n["name"] for n in nodes)
    for i, node in enumerate(nodes):
        assert node["firePath"] is None
        fire = next(s for s in node["sources"] if s["department"] == "fire")
        assert fire == {"department": "fire", "status": "UNAVAILABLE", "errorCode": "DEPARTMENT_UNAVAILABLE"}
        error = errors_by_path(body)[("matters", "edges", i, "node", "firePath")]
        assert error["extensions"]["department"] == "fire"


async def test_the_index_keeps_profiles_when_the_directory_fails(hub: Hub, code: str, world: World) -> None:
    # The index was built at startup, while planning was up.
    await hub.fault("planning", maintenance=True)
    body = await hub.query(MATTER, {"code": code})
    matter = body["data"]["matter"]
    # The profile comes from the index's copy; planning's own part is still reported down.
    assert matter["name"] == world.projects[code].name
    assert_unavailable(body, "planning")


async def test_a_matter_with_the_directory_down_from_the_start(make_hub: HubFactory, code: str) -> None:
    hub = await make_hub(faults={"planning": {"maintenance": True}}, ready=False)  # no index copy
    body = await hub.query(MATTER, {"code": code})
    assert body["data"]["matter"]["projectCode"] == code
    # Planning is the project directory: the profile's fields fail with it.
    assert body["data"]["matter"]["name"] is None
    assert errors_by_path(body)[("matter", "name")]["extensions"]["department"] == "planning"
    assert_unavailable(body, "planning")


async def test_a_list_with_the_directory_down_from_the_start(make_hub: HubFactory) -> None:
    hub = await make_hub(faults={"planning": {"maintenance": True}}, ready=False)  # no index
    response = await hub.post(LIST)
    assert response.status_code == 200
    body = response.json()
    matters = body["data"]["matters"]
    assert matters["edges"] == [] and matters["totalCount"] == 0
    assert matters["index"] is None
    error = errors_by_path(body)[("matters", "index")]
    assert error["extensions"] == {
        "code": "DEPARTMENT_UNAVAILABLE",
        "department": "planning",
        "retryable": True,
    }
