"""The cold scenario's yardstick sends the departments what the hub sends them for one matter.

``bench/fanout.py`` times the five department requests of one matter sent at once by
a bare client, beside the hub. These tests pin, through each department's
``/_admin/requests``, that it sends each department the same requests (method and
path, and the recorded headers) as the hub's connectors do for the portal's
one-matter screen, so the yardstick cannot drift from the connectors unnoticed.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench import fanout, scenarios
from fixtures.serve import RunningDepartments
from fixtures.world import DEPARTMENTS, World
from tests.ops.conftest import complete_project
from tests.schema.conftest import NOT_LOOKUPS, Hub, HubFactory


async def received(hub: Hub) -> dict[str, list[dict[str, Any]]]:
    """What each department received since its last reset, health checks and descriptions left out."""
    found = {}
    for name in hub.departments.urls:
        requests = await hub.admin(name, "GET", "requests")
        found[name] = [r for r in requests if not any(w in r["path"] for w in NOT_LOOKUPS)]
    return found


def sent(requests: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in requests]


def evidence(request: dict[str, Any]) -> dict[str, str]:
    """The recorded headers but the request id, which is new for every matter."""
    return {k: v for k, v in request["headers"].items() if k != "x-request-id"}


async def test_the_fan_out_sends_each_department_what_the_hub_sends_for_one_matter(
    make_hub: HubFactory, departments: RunningDepartments, world: World
) -> None:
    hub = await make_hub()
    code = complete_project(world)
    other = next(c for c in sorted(world.projects) if c != code)
    # A first matter fetches real estate's token; the fan-out fetches its own when it opens.
    assert "errors" not in await hub.query(scenarios.MATTER, {"code": other})
    fan = await fanout.FanOut.open(departments.urls, fanout.demo_credentials())
    try:
        await hub.reset_stats()
        body = await hub.query(scenarios.MATTER, {"code": code})
        assert "errors" not in body and body["data"]["matter"]["projectCode"] == code
        by_hub = await received(hub)

        await hub.reset_stats()
        answer = await fan.send(fan.requests(code))
        by_fan = await received(hub)
    finally:
        await fan.aclose()

    assert set(by_hub) == set(DEPARTMENTS)
    for name in DEPARTMENTS:
        assert len(by_hub[name]) == 1, f"the hub sent {name} {sent(by_hub[name])} for one matter"
        assert sent(by_fan[name]) == sent(by_hub[name]), name
        assert evidence(by_fan[name][0]) == evidence(by_hub[name][0]), name
        assert "x-request-id" in by_fan[name][0]["headers"], name
    # Every department answered, and about this project (the query string and bodies asked for it).
    assert answer.complete, {name: status for name, (status, _, _) in answer.each.items()}
    for name, (_, _, content) in answer.each.items():
        assert code.encode() in content, name


async def test_the_fan_out_refuses_a_department_beyond_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        await fanout.FanOut.open({"fire": "http://example.org"}, fanout.demo_credentials())
