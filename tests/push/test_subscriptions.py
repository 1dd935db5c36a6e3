"""Subscriptions over graphql-transport-ws and GraphQL over SSE, against a live hub.

A change is made upstream with the planning system's ``/_admin/advance``; the
planning system pushes it to the hub's webhook, which refreshes the project
and announces what moved.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from domain.principal import Role
from schema.matter_index import MatterQuery
from tests.push.conftest import MATTER_UPDATES, TIANJIA, LiveHub, WsSession, sse_updates, ws_updates

ACCESS_LOG = """
query Log($code: String!) {
  accessLog(first: 500, filter: {objectId: $code, kind: "matter"}) {
    entries { principal role kind objectId fields }
  }
}
"""


@asynccontextmanager
async def both_subscribed(live_hub: LiveHub) -> AsyncIterator[tuple[Any, Any]]:
    """A WINDOW_STAFF subscriber to 天嘉 over each transport, both registered with the feed."""
    token = live_hub.token(Role.WINDOW_STAFF)
    variables = {"code": TIANJIA}
    async with (
        ws_updates(live_hub.url, MATTER_UPDATES, variables, token) as ws_next,
        sse_updates(live_hub.url, MATTER_UPDATES, variables, token) as sse_next,
    ):
        await live_hub.subscribers(2)
        yield ws_next, sse_next


def _update(message: dict[str, Any]) -> dict[str, Any]:
    assert message["type"] == "next", message
    payload = message["payload"]
    assert not payload.get("errors"), payload
    update: dict[str, Any] = payload["data"]["matterUpdates"]
    return update


def _sse_update(event: tuple[str, Any]) -> dict[str, Any]:
    name, data = event
    assert name == "next", event
    assert not data.get("errors"), data
    update: dict[str, Any] = data["data"]["matterUpdates"]
    return update


async def test_ws_and_sse_subscribers_each_get_one_update_per_change(live_hub: LiveHub) -> None:
    async with both_subscribed(live_hub) as (ws_next, sse_next):
        first = await live_hub.advance("planning", projectCode=TIANJIA)
        assert first["notified"] is True
        assert first["name"] == "总平面图" and first["to"]["status"] == "IN_REVIEW"

        for update in (_update(await ws_next()), _sse_update(await sse_next())):
            assert update["department"] == "planning"
            assert update["subject"] == "ITEM"
            assert update["kind"] == "planning.layout_plan"
            assert update["item"] == "总平面图"
            assert (update["oldStatus"], update["newStatus"]) == ("SUSPENDED", "IN_REVIEW")
            assert (update["oldStatusLabel"], update["newStatusLabel"]) == ("挂起", "审查中")
            assert update["departmentLabel"] == live_hub.services.connectors["planning"].title
            assert update["subjectLabel"] == "审批事项"
            assert update["rawNewStatus"] == "3 审核"
            assert update["matter"]["projectCode"] == TIANJIA
            items = {i["kind"]: i["status"] for i in update["matter"]["planning"]["items"]}
            assert items["planning.layout_plan"] == "IN_REVIEW"  # the matter as it is now

        # The periodic refresh sees the same transition: it must not be announced again.
        await live_hub.services.matter_index.refresh()
        second = await live_hub.advance("planning", projectCode=TIANJIA)
        assert second["name"] == "总平面图" and second["to"]["status"] == "APPROVED"
        for update in (_update(await ws_next()), _sse_update(await sse_next())):
            # The next update is the second change, not the first one again.
            assert (update["oldStatus"], update["newStatus"]) == ("IN_REVIEW", "APPROVED")

    log = await live_hub.query(ACCESS_LOG, {"code": TIANJIA}, token=live_hub.token(Role.AUDITOR))
    entries = [e for e in log["data"]["accessLog"]["entries"] if e["principal"] == "test-window_staff"]
    assert len(entries) == 4  # two subscribers, two updates each, each written as a read
    assert all(e["role"] == "WINDOW_STAFF" and "matter.planning.items.status" in e["fields"] for e in entries)


async def test_a_duplicate_notice_and_a_bad_signature_change_nothing(live_hub: LiveHub) -> None:
    import json
    import time

    from domain.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, signature
    from tests.push.conftest import SECRET

    body = json.dumps({"projectCode": TIANJIA}).encode()

    def headers(event_id: str, secret: str = SECRET) -> dict[str, str]:
        return {
            EVENT_ID_HEADER: event_id,
            SIGNATURE_HEADER: signature(secret, int(time.time()), event_id, body),
            "Content-Type": "application/json",
        }

    url = f"{live_hub.url}/webhooks/planning"
    accepted = await live_hub.admin.post(url, content=body, headers=headers("evt-1"))
    assert accepted.status_code == 202, accepted.text
    repeat = await live_hub.admin.post(url, content=body, headers=headers("evt-1"))
    assert repeat.status_code == 200 and repeat.json()["duplicate"] is True
    forged = await live_hub.admin.post(url, content=body, headers=headers("evt-2", secret="x" * 40))
    assert forged.status_code == 401 and "does not verify" in forged.json()["message"]
    unknown = await live_hub.admin.post(
        f"{live_hub.url}/webhooks/weather", content=body, headers=headers("e3")
    )
    assert unknown.status_code == 404
    bad = json.dumps({"projectCode": "not a code"}).encode()
    refused = await live_hub.admin.post(
        url,
        content=bad,
        headers={
            EVENT_ID_HEADER: "evt-4",
            SIGNATURE_HEADER: signature(SECRET, int(time.time()), "evt-4", bad),
            "Content-Type": "application/json",
        },
    )
    assert refused.status_code == 400 and "projectCode" in refused.json()["message"]
    for response in (forged, unknown, refused):
        assert SECRET not in response.text and "127.0.0.1" not in response.text


async def test_an_enterprise_follows_only_its_own_projects(live_hub: LiveHub) -> None:
    owner = live_hub.world.projects[TIANJIA].enterprise_code
    other = next(e for e in sorted(live_hub.world.enterprises) if e != owner)
    variables = {"code": TIANJIA}
    stranger = live_hub.token(Role.ENTERPRISE, credit_code=other, subject="stranger")
    unknown = "2023-430472-70-03-999999"
    answers = []
    for code in (TIANJIA, unknown):
        async with sse_updates(live_hub.url, MATTER_UPDATES, {"code": code}, stranger) as sse_next:
            name, data = await sse_next()
            assert name == "next"
            [error] = data["errors"]
            answers.append(json.loads(json.dumps(error, ensure_ascii=False).replace(code, "<code>")))
            assert (await sse_next())[0] == "complete"
    # Another enterprise's project is refused exactly as an unknown code is: no oracle.
    assert answers[0]["extensions"]["code"] == "NOT_FOUND"
    assert answers[0] == answers[1]
    async with ws_updates(live_hub.url, MATTER_UPDATES, variables, stranger) as ws_next:
        message = await ws_next()
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "NOT_FOUND"
    agent = live_hub.token(Role.AGENT, projects=[unknown], subject="someone-elses-butler")
    async with sse_updates(live_hub.url, MATTER_UPDATES, variables, agent) as sse_next:
        _, data = await sse_next()
        assert data["errors"][0]["extensions"]["code"] == "FORBIDDEN"  # not assigned: refused up front

    mine = live_hub.token(Role.ENTERPRISE, credit_code=owner, subject="owner")
    async with ws_updates(live_hub.url, MATTER_UPDATES, variables, mine) as ws_next:
        await live_hub.subscribers(1)
        await live_hub.advance("planning", projectCode=TIANJIA)
        assert _update(await ws_next())["newStatus"] == "IN_REVIEW"


async def test_anonymous_and_bad_tokens_are_refused(live_hub: LiveHub) -> None:
    variables = {"code": TIANJIA}
    async with sse_updates(live_hub.url, MATTER_UPDATES, variables, None) as sse_next:
        name, data = await sse_next()
        assert name == "next" and data["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed
    from websockets.typing import Subprotocol

    ws_url = live_hub.url.replace("http://", "ws://") + "/graphql"
    async with connect(ws_url, subprotocols=[Subprotocol("graphql-transport-ws")]) as socket:
        await socket.send('{"type": "connection_init", "payload": {"Authorization": "Bearer forged"}}')
        try:
            async with asyncio.timeout(30):
                await socket.recv()
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 4403
        else:
            raise AssertionError("a forged token was accepted")


async def test_the_feed_ending_completes_both_streams(live_hub: LiveHub) -> None:
    async with both_subscribed(live_hub) as (ws_next, sse_next):
        await live_hub.services.changes.aclose()  # what shutdown does
        assert (await ws_next())["type"] == "complete"
        assert (await sse_next())[0] == "complete"


async def test_an_expiring_token_ends_the_subscription(live_hub: LiveHub) -> None:
    token = live_hub.token(Role.WINDOW_STAFF, ttl_s=60, now=__import__("time").time() - 59)
    async with sse_updates(live_hub.url, MATTER_UPDATES, {"code": TIANJIA}, token) as sse_next:
        name, data = await sse_next()
        assert name == "next" and data["errors"][0]["extensions"]["code"] == "SUBSCRIPTION_ENDED"
        assert "expired" in data["errors"][0]["message"]
        assert (await sse_next())[0] == "complete"


WINDOW = """
subscription Window($filter: UpdateFilter) {
  windowUpdates(filter: $filter) { projectCode department item newStatus newStatusLabel }
}
"""


def _window(message: dict[str, Any]) -> dict[str, Any]:
    assert message["type"] == "next" and not message["payload"].get("errors"), message
    update: dict[str, Any] = message["payload"]["data"]["windowUpdates"]
    return update


async def test_a_window_screen_follows_what_it_may_read_narrowed_by_department(live_hub: LiveHub) -> None:
    other = next(
        code
        for code, view in sorted(live_hub.world.views["planning"].items())
        if code != TIANJIA
        and any(i.status.value in ("SUBMITTED", "ACCEPTED", "IN_REVIEW") for i in view.items)
    )
    staff = live_hub.token(Role.WINDOW_STAFF)
    agent = live_hub.token(Role.AGENT, projects=[other], subject="butler")
    async with (
        ws_updates(live_hub.url, WINDOW, {"filter": {"department": "planning"}}, staff) as staff_next,
        ws_updates(live_hub.url, WINDOW, {}, agent) as agent_next,
    ):
        await live_hub.subscribers(2)
        await live_hub.advance("planning", projectCode=TIANJIA)  # not the agent's project
        await live_hub.advance("planning", projectCode=other)
        assert _window(await staff_next())["projectCode"] == TIANJIA
        assert _window(await staff_next())["projectCode"] == other
        assert _window(await agent_next())["projectCode"] == other  # the agent never heard of TIANJIA


async def test_bad_window_filters_are_refused_clearly(live_hub: LiveHub) -> None:
    staff = live_hub.token(Role.WINDOW_STAFF)
    async with sse_updates(live_hub.url, WINDOW, {"filter": {"department": "weather"}}, staff) as next_event:
        name, data = await next_event()
        assert name == "next"
        [error] = data["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT" and "department" in error["message"]
    async with sse_updates(live_hub.url, MATTER_UPDATES, {"code": "2023-1"}, staff) as next_event:
        name, data = await next_event()
        assert data["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_subscriptions_are_bounded_per_principal_and_per_connection(
    tmp_path: Any, demo_credentials: None, webhook_secrets: None
) -> None:
    from contextlib import AsyncExitStack

    from tests.push.conftest import start_live_hub

    async with AsyncExitStack() as stack:
        hub = await start_live_hub(
            tmp_path,
            stack,
            push={"max_subscriptions_per_principal": 2, "max_subscriptions_per_connection": 1},
        )
        token = hub.token(Role.WINDOW_STAFF)
        variables = {"code": TIANJIA}
        first = await stack.enter_async_context(sse_updates(hub.url, MATTER_UPDATES, variables, token))
        await stack.enter_async_context(sse_updates(hub.url, MATTER_UPDATES, variables, token))
        await hub.subscribers(2)
        async with sse_updates(hub.url, MATTER_UPDATES, variables, token) as third:
            _, data = await third()
            assert data["errors"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
        other = hub.token(Role.WINDOW_STAFF, subject="another-clerk")
        async with ws_updates(hub.url, MATTER_UPDATES, variables, other) as ws_next:
            await hub.subscribers(3)
            socket_error = await _second_subscription_on(ws_next)
            assert "limit" in socket_error.lower()
        await hub.advance("planning", projectCode=TIANJIA)
        assert (await first())[0] == "next"  # the ones within the limits still hear changes


async def _second_subscription_on(session: WsSession) -> str:
    """Open a second operation on the same socket; its error message."""
    await session.socket.send(
        '{"id": "2", "type": "subscribe", "payload": {"query": "subscription { windowUpdates { id } }"}}'
    )
    message = await session()
    assert message["type"] == "error" and message["id"] == "2", message
    return str(message["payload"][0]["message"])


async def test_the_connection_must_be_initialised_in_time_and_is_pinged(
    tmp_path: Any, demo_credentials: None, webhook_secrets: None
) -> None:
    import json
    from contextlib import AsyncExitStack

    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed
    from websockets.typing import Subprotocol

    from tests.push.conftest import start_live_hub

    async with AsyncExitStack() as stack:
        hub = await start_live_hub(
            tmp_path, stack, push={"connection_init_timeout_s": 0.2, "keepalive_s": 0.2}
        )
        url = hub.url.replace("http://", "ws://") + "/graphql"
        protocols = [Subprotocol("graphql-transport-ws")]
        async with connect(url, subprotocols=protocols) as silent:
            try:
                async with asyncio.timeout(30):
                    await silent.recv()
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 4408
            else:
                raise AssertionError("a connection that never sent connection_init stayed open")
        token = hub.token(Role.WINDOW_STAFF)
        async with connect(url, subprotocols=protocols) as socket:
            await socket.send(
                json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
            )
            async with asyncio.timeout(30):
                assert json.loads(await socket.recv())["type"] == "connection_ack"
                assert json.loads(await socket.recv())["type"] == "ping"  # the hub keeps the line alive


async def test_a_notice_refreshes_past_the_fresh_cache(
    tmp_path: Any, demo_credentials: None, webhook_secrets: None
) -> None:
    from contextlib import AsyncExitStack

    from tests.push.conftest import start_live_hub

    async with AsyncExitStack() as stack:
        hub = await start_live_hub(tmp_path, stack, cache_ttl_s=600, stale_s=600)  # answers stay fresh
        token = hub.token(Role.WINDOW_STAFF)
        first = await hub.query(
            "query M($code: String!) { matter(projectCode: $code) { planning { items { kind status } } } }",
            {"code": TIANJIA},
            token=token,
        )
        before = {i["kind"]: i["status"] for i in first["data"]["matter"]["planning"]["items"]}
        assert before["planning.layout_plan"] == "SUSPENDED"  # now cached for ten minutes
        async with sse_updates(hub.url, MATTER_UPDATES, {"code": TIANJIA}, token) as next_event:
            await hub.subscribers(1)
            await hub.advance("planning", projectCode=TIANJIA)
            name, data = await next_event()
            assert name == "next", data
            update = data["data"]["matterUpdates"]
            assert (update["oldStatus"], update["newStatus"]) == ("SUSPENDED", "IN_REVIEW")
            items = {i["kind"]: i["status"] for i in update["matter"]["planning"]["items"]}
            assert items["planning.layout_plan"] == "IN_REVIEW"  # the cache holds the new answer too


async def test_a_websocket_from_another_origin_is_refused(live_hub: LiveHub) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus
    from websockets.typing import Origin, Subprotocol

    url = live_hub.url.replace("http://", "ws://") + "/graphql"
    protocols = [Subprotocol("graphql-transport-ws")]
    try:
        async with connect(url, subprotocols=protocols, origin=Origin("http://portal.elsewhere.example")):
            raise AssertionError("a page on another origin opened a WebSocket")
    except InvalidStatus as refused:
        assert refused.response.status_code == 403
    async with connect(url, subprotocols=protocols, origin=Origin(live_hub.url)) as same_origin:
        await same_origin.send('{"type": "connection_init"}')
        assert '"connection_ack"' in str(await same_origin.recv())


async def test_a_window_screen_narrowed_by_stage(live_hub: LiveHub) -> None:
    index = live_hub.services.matter_index
    await index.ready()
    tianjia = index.entry(TIANJIA)
    assert tianjia is not None
    elsewhere = next(
        e.project_code
        for e in index.select(MatterQuery())
        if e.stage is not tianjia.stage
        and "planning" in e.departments
        and _has_open_planning_item(live_hub, e)
    )
    staff = live_hub.token(Role.WINDOW_STAFF)
    same_stage = {"filter": {"stage": tianjia.stage.value}}
    async with ws_updates(live_hub.url, WINDOW, same_stage, staff) as window_next:
        await live_hub.subscribers(1)
        await live_hub.advance("planning", projectCode=elsewhere)  # another stage: not for this screen
        await live_hub.advance("planning", projectCode=TIANJIA)
        assert _window(await window_next())["projectCode"] == TIANJIA


def _has_open_planning_item(live_hub: LiveHub, entry: Any) -> bool:
    view = live_hub.world.view("planning", entry.project_code)
    return view is not None and any(i.status.value in ("ACCEPTED", "IN_REVIEW") for i in view.items)
