"""A live hub for the push tests: real departments, a real app on a loopback port, real clients.

``live_hub`` builds a world of its own (advancing changes it), starts the five
department systems on loopback ports, serves ``gateway.app.create_app`` on a
loopback port with WebSockets on, and points each department's notifier at the
hub's webhook. Clients: :func:`sse_updates` (GraphQL over SSE with httpx) and
:func:`ws_updates` (graphql-transport-ws with the ``websockets`` client).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.principal import Role
from fixtures.advance import Notifier
from fixtures.generate import build_world
from fixtures.serve import RunningDepartments, serve_app, start_departments
from fixtures.world import DEPARTMENTS, World
from gateway.app import create_app
from gateway.auth import authenticator_for
from gateway.config import CacheBackendSettings, Settings
from gateway.services import Services
from tests.conftest import AS_OF, PROJECTS, SEED
from tests.schema.conftest import hub_settings

TIANJIA = "2023-430472-70-03-000928"  # 天嘉·上河九章
SECRET = "push-test-webhook-secret-0123456789abcdef"
WAIT_S = 30.0  # a guard against hangs, not a timing assertion

UPDATE_FIELDS = """
    id department departmentLabel subject subjectLabel kind item number
    oldStatus newStatus oldStatusLabel newStatusLabel rawNewStatus detectedAt
    matter { projectCode planning { items { kind status } } }
"""
MATTER_UPDATES = f"""
subscription Follow($code: String!) {{
  matterUpdates(projectCode: $code) {{ {UPDATE_FIELDS} }}
}}
"""


@dataclass
class LiveHub:
    url: str
    world: World
    departments: RunningDepartments
    services: Services
    settings: Settings
    app: Any
    admin: httpx.AsyncClient
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, role: Role = Role.WINDOW_STAFF, **claims: Any) -> str:
        subject = claims.pop("subject", f"test-{role.value.lower()}")
        return authenticator_for(self.settings).mint(subject=subject, role=role, **claims)

    async def advance(self, department: str, **body: Any) -> dict[str, Any]:
        response = await self.admin.post(f"{self.departments.urls[department]}/_admin/advance", json=body)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        await self.app.state.webhooks.settle()  # the refresh the notice started has run
        return answer

    async def subscribers(self, count: int) -> None:
        """Wait until ``count`` subscriptions are registered with the feed."""
        async with asyncio.timeout(WAIT_S):
            await self.services.changes.until_held(count)

    async def query(self, query: str, variables: dict[str, Any] | None = None, *, token: str) -> Any:
        response = await self.admin.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        return response.json()


async def start_live_hub(
    tmp_path: Path,
    stack: AsyncExitStack,
    *,
    world: World | None = None,
    departments: RunningDepartments | None = None,
    cache: CacheBackendSettings | None = None,
    production: bool = False,
    trusted_documents: Path | None = None,
    push: dict[str, Any] | None = None,
    **settings: Any,
) -> LiveHub:
    """A hub on a loopback port; ``departments`` (and their world) shared with another hub if given."""
    if departments is None:
        world = world or build_world(seed=SEED, projects=PROJECTS, as_of=AS_OF)
        departments = await start_departments(world)
        stack.push_async_callback(departments.stop)
    assert world is not None
    # A generous department deadline: a busy CI machine must not turn a refresh into an outage.
    settings.setdefault("deadline_s", 10.0)
    config = hub_settings(departments.urls, tmp_path, world, **settings)
    if cache is not None:
        config = config.model_copy(update={"cache": cache})
    if production:
        config = config.model_copy(update={"hub": config.hub.model_copy(update={"mode": "production"})})
    if push is not None:
        config = config.model_copy(update={"push": push})
    if trusted_documents is not None:
        config = config.model_copy(
            update={"limits": {**config.limits, "trusted_documents": str(trusted_documents)}}
        )
    services = await Services.open(config)
    stack.push_async_callback(services.aclose)
    app = create_app(config, services=services)
    await stack.enter_async_context(app.router.lifespan_context(app))
    server = await serve_app(app, ws="websockets-sansio")
    stack.push_async_callback(server.stop)
    for name in DEPARTMENTS:
        departments.apps[name].notify = Notifier(f"{server.url}/webhooks/{name}", SECRET)
    admin = httpx.AsyncClient(timeout=WAIT_S)
    stack.push_async_callback(admin.aclose)
    return LiveHub(server.url, world, departments, services, config, app, admin)


@pytest.fixture
def webhook_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in DEPARTMENTS:
        monkeypatch.setenv(f"ONEMATTER_WEBHOOK_SECRET_{name.upper()}", SECRET)


@pytest.fixture
async def live_hub(tmp_path: Path, demo_credentials: None, webhook_secrets: None) -> AsyncIterator[LiveHub]:
    async with AsyncExitStack() as stack:
        yield await start_live_hub(tmp_path, stack)


@pytest.fixture
def demo_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.embedded import DEMO_CREDENTIALS

    for values in DEMO_CREDENTIALS.values():
        for var, value in values.values():
            monkeypatch.setenv(var, value)


# -- clients -----------------------------------------------------------------------


@asynccontextmanager
async def sse_updates(
    url: str, query: str, variables: dict[str, Any], token: str | None
) -> AsyncIterator[Callable[..., Awaitable[tuple[str, Any]]]]:
    """GraphQL over SSE; yields ``next_event()`` -> (event name, decoded data or None)."""
    headers = {"Accept": "text/event-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(WAIT_S, read=None)) as client,
        client.stream(
            "POST", f"{url}/graphql", json={"query": query, "variables": variables}, headers=headers
        ) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()

        async def next_event(*, pings: bool = False) -> tuple[str, Any]:
            """The next event; with ``pings``, a keep-alive comment counts as ("ping", None)."""
            async with asyncio.timeout(WAIT_S):
                event, data = None, None
                async for line in lines:
                    if line.startswith(":"):
                        if pings:
                            return "ping", None
                        continue  # a keep-alive comment
                    if line.startswith("event:"):
                        event = line.split(":", 1)[1].strip()
                    elif line.startswith("data:"):
                        raw = line.split(":", 1)[1].strip()
                        data = json.loads(raw) if raw else None
                    elif line == "" and event is not None:
                        return event, data
            raise AssertionError("the stream ended")

        yield next_event


@asynccontextmanager
async def ws_updates(
    url: str,
    query: str,
    variables: dict[str, Any],
    token: str | None,
    *,
    in_payload: bool = True,
) -> AsyncIterator[WsSession]:
    """graphql-transport-ws; yields a :class:`WsSession` (pings answered and skipped)."""
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    ws_url = url.replace("http://", "ws://") + "/graphql"
    headers = {"Authorization": f"Bearer {token}"} if token and not in_payload else None
    async with connect(
        ws_url, subprotocols=[Subprotocol("graphql-transport-ws")], additional_headers=headers
    ) as socket:
        payload = {"Authorization": f"Bearer {token}"} if token and in_payload else {}
        await socket.send(json.dumps({"type": "connection_init", "payload": payload}))

        async def receive() -> dict[str, Any]:
            async with asyncio.timeout(WAIT_S):
                while True:
                    message: dict[str, Any] = json.loads(await socket.recv())
                    if message["type"] == "ping":
                        await socket.send(json.dumps({"type": "pong"}))
                        continue
                    return message

        ack = await receive()
        assert ack["type"] == "connection_ack", ack
        await socket.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}})
        )
        yield WsSession(receive, socket)


@dataclass
class WsSession:
    """``await session()`` is the next message (pings answered); ``session.socket`` the socket."""

    receive: Callable[[], Awaitable[dict[str, Any]]]
    socket: Any

    async def __call__(self) -> dict[str, Any]:
        return await self.receive()
