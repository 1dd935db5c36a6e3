"""Clocks that say what happened, end to end: every item of the world through the hub.

The truth is counted here day by day from the world's dates (no call into
``domain.workdays``' tables or ``domain.rules``): working days from acceptance
(or submission) to the decision, each one skipped while the item was paused.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

import chinese_calendar

from domain.principal import Role
from domain.records import ApprovalItem, Lifecycle
from fixtures.generate import SUNSHINE_SCHOOL_CODE
from fixtures.world import World
from tests.schema.conftest import Hub

ITEMS = """
query ($after: String) {
  matters(first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes {
      projectCode
      items {
        department kind status decidedOn promisedLimitDays workingDaysUsed dueOn
        overdue decidedLate lateByDays promiseKept limitUnit limitProblem
      }
    }
  }
}
"""

PROMISE_KEPT = """
{ promiseKept {
    asOf projects staleDepartments
    total { key decided kept late rate }
    byDepartment { key label decided kept late rate }
    byKind { key label decided kept late rate }
} }
"""


def clock_days(item: ApprovalItem, end: date) -> int:
    """Working days the clock ran in (start, end], counted one calendar day at a time."""
    start = item.accepted_on or item.submitted_on
    assert start is not None
    used = 0
    day = start
    while day < end:
        day += timedelta(days=1)
        paused = any(lo < day <= (hi or end) for lo, hi in item.paused)
        used += chinese_calendar.is_workday(day) and not paused
    return used


def truth(world: World) -> dict[tuple[str, str], dict[str, Any]]:
    """(project, kind) -> what the clock must say, from the world's dates."""
    out = {}
    for dept, views in world.views.items():
        for code, view in views.items():
            for item in view.items:
                judged = item.status in (Lifecycle.APPROVED, Lifecycle.REJECTED) and item.decided_on
                limit = item.promised_limit_days
                assert limit is not None
                used = clock_days(item, item.decided_on) if judged and item.decided_on else None
                out[(code, item.kind)] = {
                    "department": dept,
                    "decidedLate": bool(used is not None and used > limit),
                    "lateByDays": used - limit if used is not None and used > limit else None,
                    "promiseKept": (used <= limit) if used is not None else None,
                }
    return out


async def all_items(hub: Hub) -> dict[tuple[str, str], dict[str, Any]]:
    got: dict[tuple[str, str], dict[str, Any]] = {}
    after = None
    while True:
        body = await hub.query(ITEMS, {"after": after})
        assert "errors" not in body, body["errors"]
        page = body["data"]["matters"]
        for node in page["nodes"]:
            for item in node["items"]:
                got[(node["projectCode"], item["kind"])] = item
        if not page["pageInfo"]["hasNextPage"]:
            return got
        after = page["pageInfo"]["endCursor"]


async def test_every_item_decided_after_its_due_date_is_flagged_late(hub: Hub, world: World) -> None:
    expected = truth(world)
    got = await all_items(hub)
    assert got.keys() == expected.keys()
    late = 0
    for key, want in expected.items():
        item = got[key]
        assert item["decidedLate"] == want["decidedLate"], key
        assert item["lateByDays"] == want["lateByDays"], key
        assert item["promiseKept"] == want["promiseKept"], key
        assert item["limitUnit"] == "WORKING_DAYS" and item["limitProblem"] is None, key
        if item["decidedLate"]:
            late += 1
            assert not item["overdue"]  # decided: no longer open
            assert date.fromisoformat(item["decidedOn"]) > date.fromisoformat(item["dueOn"]), key
        elif item["promiseKept"]:
            assert date.fromisoformat(item["decidedOn"]) <= date.fromisoformat(item["dueOn"]), key
    assert late >= 30  # the world holds late decisions in numbers (82 in the test world)


async def test_sunshine_schools_planning_verification_is_ten_days_late(hub: Hub) -> None:
    body = await hub.query(
        """query ($code: String!) { matter(projectCode: $code) { items {
             kind workingDaysUsed promisedLimitDays decidedLate lateByDays promiseKept overdue } } }""",
        {"code": SUNSHINE_SCHOOL_CODE},
    )
    items = {i["kind"]: i for i in body["data"]["matter"]["items"]}
    assert items["planning.verification"] == {
        "kind": "planning.verification",
        "workingDaysUsed": 15,
        "promisedLimitDays": 5,
        "decidedLate": True,
        "lateByDays": 10,
        "promiseKept": False,
        "overdue": False,
    }


async def test_the_overdue_filter_leaves_out_items_decided_late(hub: Hub) -> None:
    got = await all_items(hub)
    projects: dict[str, list[dict[str, Any]]] = {}
    for (code, _), item in got.items():
        projects.setdefault(code, []).append(item)
    only_late = {
        code
        for code, items in projects.items()
        if any(i["decidedLate"] for i in items) and not any(i["overdue"] for i in items)
    }
    assert only_late
    body = await hub.query(
        "{ matters(first: 100, filter: {overdue: true}) { totalCount nodes { projectCode } } }"
    )
    listed = {n["projectCode"] for n in body["data"]["matters"]["nodes"]}
    assert body["data"]["matters"]["totalCount"] == len(listed)  # one page holds them all
    assert listed == {code for code, items in projects.items() if any(i["overdue"] for i in items)}
    assert not listed & only_late


async def test_promise_kept_rates_by_department_match_the_worlds_count(hub: Hub, world: World) -> None:
    expected = truth(world)
    decided: Counter[str] = Counter()
    kept: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for (_, kind), want in expected.items():
        if want["promiseKept"] is None:
            continue
        decided[want["department"]] += 1
        kept[want["department"]] += want["promiseKept"]
        kinds[kind] += 1
    index = hub.services.matter_index
    await index.refresh()  # a department slow at startup on a loaded machine must not skew the count
    assert not index.status.stale_departments
    body = await hub.query(PROMISE_KEPT, role=Role.AUDITOR)
    assert "errors" not in body, body["errors"]
    report = body["data"]["promiseKept"]
    assert report["staleDepartments"] == []
    assert report["projects"] == len(world.projects)
    by_department = {row["key"]: row for row in report["byDepartment"]}
    assert by_department.keys() == decided.keys()
    for dept, row in by_department.items():
        assert (row["decided"], row["kept"], row["late"]) == (
            decided[dept],
            kept[dept],
            decided[dept] - kept[dept],
        )
        assert abs(row["rate"] - kept[dept] / decided[dept]) < 1e-12
        assert row["label"] and row["label"] != dept  # the department's own title
    assert {row["key"]: row["decided"] for row in report["byKind"]} == dict(kinds)
    assert report["total"]["decided"] == sum(decided.values())
    assert report["total"]["kept"] == sum(kept.values())


async def test_promise_kept_is_for_the_window_auditors_and_admins(hub: Hub) -> None:
    for role in (Role.WINDOW_STAFF, Role.ADMIN):
        assert "errors" not in await hub.query("{ promiseKept { total { rate } } }", role=role)
    for role in (Role.INTEGRATOR,):  # enterprises and agents are refused the same way (one permission)
        body = await hub.query("{ promiseKept { total { rate } } }", role=role)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
