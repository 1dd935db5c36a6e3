"""``POST /_admin/advance`` on the simulated departments, over real loopback HTTP.

Each test builds its own world: advancing changes it, and the session's world is shared.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from domain.records import Lifecycle
from domain.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, verify
from fixtures.advance import Notifier
from fixtures.generate import build_world
from fixtures.serve import Script
from fixtures.world import DEPARTMENTS, World
from tests.conftest import AS_OF, PROJECTS, SEED

TIANJIA = "2023-430472-70-03-000928"


@pytest.fixture
def own_world() -> World:
    return build_world(seed=SEED, projects=PROJECTS, as_of=AS_OF)


def planning_status(world: World, code: str, kind: str) -> Lifecycle:
    view = world.view("planning", code)
    assert view is not None
    return next(i.status for i in view.items if i.kind == kind)


async def test_advance_moves_the_first_open_item_and_the_department_answers_it(
    own_world: World, launch_departments: Callable[..., Any]
) -> None:
    departments = await launch_departments(own_world, departments=("planning",))
    base = departments.urls["planning"]
    async with httpx.AsyncClient(base_url=base) as client:
        before = (await client.get(f"/api/projects/{TIANJIA}")).json()
        first_open = next(f for f in before["files"] if f["stepCode"] in (0, 1, 2, 3, 11, 12))
        answer = await client.post("/_admin/advance", json={"projectCode": TIANJIA})
        assert answer.status_code == 200, answer.text
        change = answer.json()
        assert change["department"] == "planning"
        assert change["projectCode"] == TIANJIA
        assert change["name"] == first_open["itemName"]
        assert change["from"]["raw"] == f"{first_open['stepCode']} {first_open['stepName']}"
        assert change["to"]["status"] != change["from"]["status"]
        after = (await client.get(f"/api/projects/{TIANJIA}")).json()
        moved = next(f for f in after["files"] if f["itemName"] == change["name"])
        assert f"{moved['stepCode']} {moved['stepName']}" == change["to"]["raw"]


async def test_a_suspended_item_resumes_and_its_pause_closes(
    own_world: World, launch_departments: Any
) -> None:
    departments = await launch_departments(own_world, departments=("planning",))
    kind = "planning.layout_plan"
    assert planning_status(own_world, TIANJIA, kind) is Lifecycle.SUSPENDED
    async with httpx.AsyncClient(base_url=departments.urls["planning"]) as client:
        answer = await client.post("/_admin/advance", json={"projectCode": TIANJIA, "item": kind})
    assert answer.status_code == 200, answer.text
    assert answer.json()["to"] == {"status": "IN_REVIEW", "raw": "3 审核"}
    view = own_world.view("planning", TIANJIA)
    assert view is not None
    item = next(i for i in view.items if i.kind == kind)
    assert item.paused and item.paused[-1][1] == own_world.as_of  # the clock runs again from today


async def test_a_named_status_and_bad_requests(own_world: World, launch_departments: Any) -> None:
    departments = await launch_departments(own_world, departments=("planning",))
    async with httpx.AsyncClient(base_url=departments.urls["planning"]) as client:
        named = await client.post(
            "/_admin/advance",
            json={"projectCode": TIANJIA, "item": "planning.design_scheme_review", "status": "APPROVED"},
        )
        assert named.status_code == 200, named.text
        assert named.json()["to"]["raw"] == "4 办结 准予"
        view = own_world.view("planning", TIANJIA)
        assert view is not None
        decided = next(i for i in view.items if i.kind == "planning.design_scheme_review")
        assert decided.decided_on == own_world.as_of
        for body, status in (
            ({"projectCode": TIANJIA, "status": "DONE"}, 400),
            ({"projectCode": TIANJIA, "colour": "red"}, 400),
            ({"projectCode": 7}, 400),
            ({"projectCode": "2023-430472-70-03-999999"}, 404),
            ({"projectCode": TIANJIA, "item": "no such item"}, 404),
        ):
            refused = await client.post("/_admin/advance", json=body)
            assert refused.status_code == status, (body, refused.text)
            assert refused.json()["message"]
        assert (await client.get("/_admin/advance")).status_code == 405


async def test_every_department_advances_something(own_world: World, launch_departments: Any) -> None:
    departments = await launch_departments(own_world)
    async with httpx.AsyncClient() as client:
        for department in DEPARTMENTS:
            code = next(
                c
                for c, v in sorted(own_world.views[department].items())
                if any(
                    i.status not in (Lifecycle.APPROVED, Lifecycle.REJECTED, Lifecycle.WITHDRAWN)
                    for i in v.items
                )
            )
            answer = await client.post(
                f"{departments.urls[department]}/_admin/advance", json={"projectCode": code}
            )
            assert answer.status_code == 200, (department, answer.text)
            assert answer.json()["department"] == department


async def test_the_department_pushes_a_signed_notice(
    own_world: World, launch_departments: Any, serve_on_loopback: Any
) -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    async def hook(request: Request) -> Response:
        received.append((dict(request.headers), await request.body()))
        return JSONResponse({"accepted": True}, status_code=202)

    hub = await serve_on_loopback(Starlette(routes=[Route("/webhooks/planning", hook, methods=["POST"])]))
    notifier = Notifier(url=f"{hub.url}/webhooks/planning", secret="s" * 32)
    departments = await launch_departments(
        own_world, departments=("planning",), notify={"planning": notifier}
    )
    async with httpx.AsyncClient(base_url=departments.urls["planning"]) as client:
        answer = await client.post("/_admin/advance", json={"projectCode": TIANJIA})
    assert answer.json()["notified"] is True
    [(headers, body)] = received
    event_id = headers[EVENT_ID_HEADER.lower()]
    problem = verify(
        "s" * 32, headers[SIGNATURE_HEADER.lower()], event_id, body, now=time.time(), tolerance_s=300
    )
    assert problem is None
    notice = json.loads(body)
    assert notice["eventId"] == event_id and notice["projectCode"] == TIANJIA
    assert verify(
        "t" * 32, headers[SIGNATURE_HEADER.lower()], event_id, body, now=time.time(), tolerance_s=300
    )


async def test_the_script_moves_planted_projects(own_world: World, launch_departments: Any) -> None:
    departments = await launch_departments(own_world)
    script = Script(own_world, departments.apps, interval_s=0.01)
    moves = [await script.step() for _ in range(6)]
    assert all(m is not None for m in moves)
    assert len({(m["department"], m["projectCode"]) for m in moves if m}) > 1
    assert any(own_world.projects[m["projectCode"]].case_name for m in moves if m)
