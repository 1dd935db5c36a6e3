"""Matter.timeline end to end: the departments' processing histories, through each connector."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from domain.records import EventKind
from domain.workdays import working_days_between
from fixtures.generate import SUNSHINE_SCHOOL_CODE, TIANJIA_CODE
from fixtures.world import DEPARTMENTS, World
from tests.schema.conftest import Hub

TIMELINE = """
query ($code: String!) {
  matter(projectCode: $code) {
    timeline {
      events { date department itemKind itemName kind label reference }
      pauses { department itemKind reason reasonLabel start end workingDays }
    }
  }
}
"""

ALL = """
query ($after: String) {
  matters(first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes {
      projectCode
      items { department kind status workingDaysUsed }
      timeline {
        events { date department itemKind kind }
        pauses { department itemKind start end }
      }
    }
  }
}
"""

DECISIONS = {"APPROVED", "REJECTED", "WITHDRAWN"}


def world_history(world: World, code: str) -> list[tuple[str, str, str, str]]:
    """The world's events for a project, (date, department, item kind, event kind), in timeline order."""
    events = []
    for dept in DEPARTMENTS:
        view = world.view(dept, code)
        if view is None:
            continue
        for item in view.items:
            events += [(e.on.isoformat(), dept, item.kind, e.kind.value) for e in item.history]
        for r in view.registrations:
            kind = "real_estate.registration"
            if r.submitted_on:
                events.append((r.submitted_on.isoformat(), dept, kind, "REGISTRATION_APPLIED"))
            if r.registered_on:
                events.append((r.registered_on.isoformat(), dept, kind, "REGISTERED"))
                if r.certificate_number:
                    events.append((r.registered_on.isoformat(), dept, kind, "CERTIFICATE_ISSUED"))
    return sorted(events, key=lambda e: e[0])  # stable: departments, then each history's order


async def timeline_of(hub: Hub, code: str) -> dict[str, Any]:
    body = await hub.query(TIMELINE, {"code": code})
    assert "errors" not in body, body["errors"]
    result: dict[str, Any] = body["data"]["matter"]["timeline"]
    return result


@pytest.mark.parametrize("code", [TIANJIA_CODE, SUNSHINE_SCHOOL_CODE])
async def test_named_timelines_equal_the_worlds_history(hub: Hub, world: World, code: str) -> None:
    got = await timeline_of(hub, code)
    events = got["events"]
    assert [(e["date"], e["department"], e["itemKind"], e["kind"]) for e in events] == world_history(
        world, code
    )
    assert [e["date"] for e in events] == sorted(e["date"] for e in events)
    assert all(e["label"] and e["itemName"] for e in events)


async def test_tianjias_timeline_tells_the_case(hub: Hub) -> None:
    got = await timeline_of(hub, TIANJIA_CODE)
    steps = {(e["itemKind"], e["kind"]): e for e in got["events"]}
    approved = steps[("planning.conditions", "APPROVED")]
    assert approved["date"] == "2023-05-29" and approved["label"] == "办结（准予许可）"
    assert approved["reference"].startswith("HYZG2023")
    assert steps[("planning.design_scheme_review", "SUPPLEMENT_REQUESTED")]["date"] == "2023-09-20"
    assert steps[("planning.layout_plan", "SUSPENDED")]["label"] == "挂起"
    pauses = {p["itemKind"]: p for p in got["pauses"]}
    assert pauses["planning.design_scheme_review"]["reason"] == "SUPPLEMENT_REQUESTED"
    assert pauses["planning.design_scheme_review"]["reasonLabel"] == "补齐补正告知"
    assert pauses["planning.design_scheme_review"]["end"] is None  # still waiting for the materials
    assert pauses["planning.layout_plan"]["reason"] == "SUSPENDED"
    assert pauses["planning.layout_plan"]["workingDays"] > 0


async def test_sunshine_schools_timeline_crosses_every_department(hub: Hub) -> None:
    got = await timeline_of(hub, SUNSHINE_SCHOOL_CODE)
    departments = [e["department"] for e in got["events"]]
    assert set(departments) == set(DEPARTMENTS)
    kinds = {e["kind"] for e in got["events"]}
    assert {"TICKET_CONNECTED", "REGISTERED", "CERTIFICATE_ISSUED", "REGISTRATION_APPLIED"} <= kinds
    connected = [e for e in got["events"] if e["kind"] == "TICKET_CONNECTED"]
    assert sorted(e["label"] for e in connected) == sorted(
        ["供水：接通", "供电：接通", "供气：接通", "通信：接通"]
    )
    assert all(e["reference"].endswith(("-W", "-P", "-G", "-T")) for e in connected)


async def test_every_items_working_days_are_its_timeline_minus_its_pauses(hub: Hub, world: World) -> None:
    """For every item of the world: working days used == days from acceptance to decision − pauses."""
    as_of = world.as_of
    checked = paused = 0
    after = None
    while True:
        body = await hub.query(ALL, {"after": after})
        assert "errors" not in body, body["errors"]
        page = body["data"]["matters"]
        for node in page["nodes"]:
            events = node["timeline"]["events"]
            for item in node["items"]:
                if item["workingDaysUsed"] is None:
                    continue
                mine = [
                    e
                    for e in events
                    if (e["department"], e["itemKind"]) == (item["department"], item["kind"])
                    and e["kind"] in {k.value for k in EventKind if not k.value.startswith(("TICKET", "REG"))}
                ]
                starts = [e["date"] for e in mine if e["kind"] == "ACCEPTED"] or [
                    e["date"] for e in mine if e["kind"] == "SUBMITTED"
                ]
                ends = [e["date"] for e in mine if e["kind"] in DECISIONS]
                start = date.fromisoformat(starts[0])
                end = date.fromisoformat(ends[0]) if ends else as_of
                pauses = [
                    p
                    for p in node["timeline"]["pauses"]
                    if (p["department"], p["itemKind"]) == (item["department"], item["kind"])
                ]
                skipped = sum(
                    working_days_between(
                        max(date.fromisoformat(p["start"]), start),
                        min(date.fromisoformat(p["end"]) if p["end"] else end, end),
                    )
                    for p in pauses
                )
                assert item["workingDaysUsed"] == working_days_between(start, end) - skipped, (
                    node["projectCode"],
                    item["kind"],
                )
                checked += 1
                paused += bool(pauses)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert checked > 1000 and paused > 50
