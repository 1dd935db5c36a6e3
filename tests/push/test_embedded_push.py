"""The embedded demo as ``make run`` starts it: a real ``onematter serve`` process.

Its simulated departments push their advances to the hub's webhook, so a
subscriber hears a change made with ``/_admin/advance``; on SIGINT the hub
ends its subscriptions cleanly before it stops.
"""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

import httpx

from tests.gateway.hub import RunningHub, token
from tests.push.conftest import MATTER_UPDATES, TIANJIA, WAIT_S, sse_updates


def _department_url(hub: RunningHub, name: str) -> str:
    for line in hub.lines:
        match = re.match(rf"\s+{name}\s+(http://\S+)", line)
        if match:
            return match.group(1)
    raise AssertionError(f"{name} is not in the banner:\n{hub.banner}")


async def test_the_embedded_demo_pushes_an_advance_to_subscribers_and_ends_cleanly(tmp_path: Path) -> None:
    # Pings every 0.2 s: the first one says the stream is running (the subscription is registered
    # as soon as the stream runs and the index is built).
    with RunningHub.start(tmp_path, extra_env={"ONEMATTER__PUSH__KEEPALIVE_S": "0.2"}) as hub:
        planning = _department_url(hub, "planning")
        # A list query waits for the matter index: changes are found against it.
        hub.query("{ matters(first: 1) { totalCount } }")
        async with (
            sse_updates(hub.url, MATTER_UPDATES, {"code": TIANJIA}, token("WINDOW_STAFF")) as next_event,
            httpx.AsyncClient(timeout=WAIT_S) as client,
        ):
            assert (await next_event(pings=True))[0] == "ping"
            answer = (await client.post(f"{planning}/_admin/advance", json={"projectCode": TIANJIA})).json()
            assert answer["notified"] is True, answer  # the department pushed it to the hub's webhook
            name, data = await next_event()
            assert name == "next" and not data.get("errors"), data
            update = data["data"]["matterUpdates"]
            assert (update["item"], update["newStatus"]) == (answer["name"], answer["to"]["status"])

            hub.process.send_signal(signal.SIGINT)
            assert (await next_event())[0] == "complete"  # ended cleanly, not cut off
        await asyncio.to_thread(hub.process.wait, WAIT_S)


WINDOW = "subscription { windowUpdates { projectCode department item newStatus } }"


async def test_the_demo_script_moves_planted_projects_and_a_window_screen_sees_them(tmp_path: Path) -> None:
    env = {"ONEMATTER__PUSH__DEMO_SCRIPT_S": "0.5"}
    with RunningHub.start(tmp_path, extra_env=env) as hub:
        async with sse_updates(hub.url, WINDOW, {}, token("WINDOW_STAFF")) as next_event:
            name, data = await next_event()  # the script moves something every half second
            assert name == "next" and not data.get("errors"), data
            update = data["data"]["windowUpdates"]
            assert update["department"] and update["item"] and update["newStatus"]
