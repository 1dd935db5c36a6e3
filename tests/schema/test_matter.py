"""The one-matter view end to end: the hub's answer against the fixture world's truth."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from domain import rules
from domain.handbook import HANDBOOK
from domain.principal import Role
from domain.records import Lifecycle, ShelterRequirement, Stage
from fixtures.world import DEPARTMENTS, World
from tests.schema.conftest import Hub

MATTER = """
query ($code: String!) {
  matter(projectCode: $code) {
    projectCode name site parcelCode stage
    enterprise { creditCode name keyEnterprise liaison { name phone } }
    agent { name phone }
    items {
      department kind name status rawStatus fileNumber submittedOn acceptedOn decidedOn
      statutoryLimitDays promisedLimitDays workingDaysUsed dueOn overdue limitProblem
      certificateNumber missingMaterials materialsDueOn onCommitment
    }
    civilAirDefence { requirement shelterAreaM2 feeYuan status rawStatus }
    firePath { path spotCheckDrawn }
    utilities { utility ticketNumber status rawStatus }
    realEstate { businessNumber unitNumber parcelCode type status certificateNumber }
    phasedPermit { mode phases { phase name eligible missing } }
    blockers { department kind reason message }
    nextSteps { department kind title materials guideEntryCode guideEntry { code name contact } }
    sources { department status known }
  }
}
"""


def complete_project(world: World) -> str:
    return next(c for c in sorted(world.projects) if all(world.view(d, c) for d in DEPARTMENTS))


async def matter(hub: Hub, code: str) -> dict[str, Any]:
    body = await hub.query(MATTER, {"code": code})
    assert "errors" not in body, body["errors"]
    result: dict[str, Any] = body["data"]["matter"]
    return result


async def test_matter_matches_the_world(hub: Hub, world: World) -> None:
    code = complete_project(world)
    project = world.projects[code]
    got = await matter(hub, code)
    assert got["projectCode"] == code
    assert got["name"] == project.name
    assert got["parcelCode"] == project.parcel_code
    assert got["enterprise"]["creditCode"] == project.enterprise_code
    assert got["stage"] == project.stage.value == Stage.COMPLETION_ACCEPTANCE.value
    views = {d: world.views[d][code] for d in DEPARTMENTS}
    truth = [(i.department, i.kind, i.status.value, i.raw_status) for v in views.values() for i in v.items]
    mine = [(i["department"], i["kind"], i["status"], i["rawStatus"]) for i in got["items"]]
    assert sorted(mine) == sorted(truth)
    for item in got["items"]:
        source = next(
            i
            for i in views[item["department"]].items
            if (i.kind, i.raw_status) == (item["kind"], item["rawStatus"])
        )
        clock = rules.item_clock(source, world.as_of)
        assert item["workingDaysUsed"] == clock.working_days_used
        assert item["overdue"] is clock.overdue
    assert {t["utility"] for t in got["utilities"]} == {"WATER", "POWER", "GAS", "TELECOM"}
    assert got["realEstate"], "a completed project has registrations"
    for registration in got["realEstate"]:
        assert len(registration["unitNumber"]) == 28
        assert registration["unitNumber"] in project.unit_numbers
        assert registration["parcelCode"] == project.parcel_code
    fire = "DESIGN_REVIEW" if project.special_fire else "FILING"
    assert got["firePath"]["path"] == fire
    assert {s["department"]: s["status"] for s in got["sources"]} == dict.fromkeys(DEPARTMENTS, "OK")


async def test_civil_air_defence_follows_the_building(hub: Hub, world: World) -> None:
    seen: set[str] = set()
    for code in sorted(world.views["civil_air_defence"]):
        decision = world.views["civil_air_defence"][code].civil_air_defence
        if decision is None or decision.requirement.value in seen:
            continue
        seen.add(decision.requirement.value)
        project = world.projects[code]
        got = (await matter(hub, code))["civilAirDefence"]
        assert got["requirement"] == decision.requirement.value
        if decision.requirement is ShelterRequirement.SHELTER:
            assert project.floors_above_ground >= 10 or project.foundation_depth_m >= 3
            assert got["shelterAreaM2"] == pytest.approx(project.ground_floor_area_m2)
        elif decision.requirement is ShelterRequirement.FEE:
            assert got["feeYuan"] and got["feeYuan"] > 0
        else:
            assert project.is_plant
    assert seen == {"SHELTER", "FEE", "EXEMPT"}


async def test_next_steps_point_into_the_handbook(hub: Hub, world: World) -> None:
    codes = {e.code for e in HANDBOOK}
    steps = []
    for code in sorted(world.projects)[:30]:
        steps += (await matter(hub, code))["nextSteps"]
    assert steps
    for step in steps:
        if step["guideEntryCode"]:
            assert step["guideEntryCode"] in codes
            assert step["guideEntry"]["code"] == step["guideEntryCode"]


async def test_early_project_has_no_later_departments(hub: Hub, world: World) -> None:
    code = next(c for c in sorted(world.projects) if world.projects[c].stage is Stage.LAND_AND_PLANNING)
    got = await matter(hub, code)
    assert got["stage"] == "LAND_AND_PLANNING"
    assert got["utilities"] == [] and got["realEstate"] == [] and got["firePath"] is None
    known = {s["department"]: s["known"] for s in got["sources"]}
    assert known["real_estate"] is False and known["utilities"] is False


async def test_approval_guide_has_the_14_entries(hub: Hub) -> None:
    body = await hub.query(
        "{ approvalGuide { code name department basis conditions materials process contact "
        "statutoryDays promisedDays } }",
        role=None,
    )
    guide = body["data"]["approvalGuide"]
    assert len(guide) == 14
    assert all(e["promisedDays"] * 2 <= e["statutoryDays"] for e in guide)
    assert all(e["contact"].startswith("0734") for e in guide)


async def test_enterprise_with_projects_connection(hub: Hub, world: World) -> None:
    credit = max(
        world.enterprises, key=lambda c: sum(p.enterprise_code == c for p in world.projects.values())
    )
    mine = sorted(c for c, p in world.projects.items() if p.enterprise_code == credit)
    query = """query ($c: String!, $after: String) { enterprise(creditCode: $c) { creditCode name
      projects(first: 1, after: $after) { totalCount pageInfo { hasNextPage endCursor }
      edges { node { projectCode enterprise { creditCode } } } } } }"""
    body = await hub.query(query, {"c": credit})
    enterprise = body["data"]["enterprise"]
    assert enterprise["name"] == world.enterprises[credit].name
    assert enterprise["projects"]["totalCount"] == len(mine)
    assert enterprise["projects"]["edges"][0]["node"]["projectCode"] == mine[0]
    if len(mine) > 1:
        after = enterprise["projects"]["pageInfo"]["endCursor"]
        body = await hub.query(query, {"c": credit, "after": after})
        assert body["data"]["enterprise"]["projects"]["edges"][0]["node"]["projectCode"] == mine[1]


async def test_unknown_enterprise_is_null(hub: Hub) -> None:
    body = await hub.query('{ enterprise(creditCode: "91350200776049653A") { name } }')
    assert body["data"]["enterprise"] is None and "errors" not in body


async def test_filters_agree_with_the_world(hub: Hub, world: World) -> None:
    async def codes(filter_: str) -> list[str]:
        body = await hub.query(
            f"{{ matters(first: 100, filter: {filter_}) {{ totalCount "
            "edges { node { projectCode } } } }"
        )
        assert "errors" not in body, body["errors"]
        result = body["data"]["matters"]
        assert result["totalCount"] == len(result["edges"]) or result["totalCount"] > 100
        return [e["node"]["projectCode"] for e in result["edges"]]

    credit = world.projects[sorted(world.projects)[0]].enterprise_code
    assert await codes(f'{{creditCode: "{credit}"}}') == sorted(
        c for c, p in world.projects.items() if p.enterprise_code == credit
    )
    assert await codes('{department: "real_estate"}') == sorted(world.views["real_estate"])[:100]
    rejected_fire = sorted(
        c for c, v in world.views["fire"].items() if any(i.status is Lifecycle.REJECTED for i in v.items)
    )
    assert await codes('{department: "fire", status: REJECTED}') == rejected_fire[:100]
    overdue = sorted(
        c
        for c in world.projects
        if any(
            rules.item_clock(i, world.as_of).overdue
            for d in DEPARTMENTS
            if (v := world.view(d, c))
            for i in v.items
        )
    )
    assert overdue, "the world has overdue items"
    assert await codes("{overdue: true}") == overdue[:100]
    for stage in Stage:
        expected = sorted(c for c, p in world.projects.items() if p.stage is stage)
        assert await codes(f"{{stage: {stage.value}}}") == expected[:100]


async def test_sources_report_every_department(hub: Hub) -> None:
    await hub.query("{ matters(first: 5) { totalCount } }")
    body = await hub.query(
        "{ sources { department title status latencyMs breakerState calls upstreamCalls errors "
        "cacheHits counters } }",
        role=Role.INTEGRATOR,
    )
    sources = {s["department"]: s for s in body["data"]["sources"]}
    assert set(sources) == set(DEPARTMENTS)
    for source in sources.values():
        assert source["status"] == "UP"
        assert source["breakerState"] == "CLOSED"
        assert source["calls"] >= 1
        assert isinstance(source["counters"], dict)


async def test_sources_report_a_department_in_maintenance(hub: Hub) -> None:
    await hub.fault("utilities", maintenance=True)
    body = await hub.query("{ sources { department status } }", role=Role.INTEGRATOR)
    status = {s["department"]: s["status"] for s in body["data"]["sources"]}
    assert status["utilities"] in ("MAINTENANCE", "UNREACHABLE")
    assert status["planning"] == "UP"


async def test_federation_entities(hub: Hub, world: World) -> None:
    code = complete_project(world)
    credit = world.projects[code].enterprise_code
    body = await hub.query(
        "query ($r: [_Any!]!) { _entities(representations: $r) { "
        "... on Matter { projectCode projectName: name } ... on Enterprise { creditCode name } } }",
        {
            "r": [
                {"__typename": "Matter", "projectCode": code},
                {"__typename": "Enterprise", "creditCode": credit},
            ]
        },
    )
    assert "errors" not in body
    matter_, enterprise = body["data"]["_entities"]
    assert matter_ == {"projectCode": code, "projectName": world.projects[code].name}
    assert enterprise == {"creditCode": credit, "name": world.enterprises[credit].name}


def test_cursors_are_opaque_and_stable() -> None:
    from schema.paging import decode_cursor, encode_cursor
    from schema.types import MATTER_CURSOR

    cursor = encode_cursor(MATTER_CURSOR, "2023-430472-47-03-000001")
    assert "2023" not in cursor
    assert base64.urlsafe_b64decode(cursor).startswith(b"matter:")
    assert decode_cursor(MATTER_CURSOR, cursor) == "2023-430472-47-03-000001"
