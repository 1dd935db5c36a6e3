"""What every connector test needs: its fixture system served on loopback, and the
round-trip and batch checks against the world's truth, parametrised by department."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
import pytest
from aiocache import SimpleMemoryCache

from connectors.settings import ConnectorSettings, RetrySettings
from connectors.testing import FakeClock
from fixtures.serve import serve_app
from fixtures.world import World
from tests.fixtures.test_planning_app import tiny_world

UNKNOWN = "2024-430472-47-03-999999"


def settings(
    url: str, *, credentials: Mapping[str, str] | None = None, **options: object
) -> ConnectorSettings:
    """Quick tests: a 5 s deadline, three attempts and no backoff."""
    return ConnectorSettings(
        base_url=url,
        deadline_s=5,
        retry=RetrySettings(attempts=3, backoff_s=0, jitter_s=0),
        credentials=dict(credentials or {}),
        options=options,
    )


@dataclass
class Running:
    connector: Any
    app: Any
    admin: httpx.AsyncClient
    clock: FakeClock | None = None
    path: str | None = None  # the path ``calls()`` counts when given none

    async def calls(self, path: str | None = None) -> int:
        """Requests the fixture system has served on ``path``."""
        stats = (await self.admin.get("/_admin/stats")).json()["paths"]
        return int(stats.get(path or self.path, 0))


@dataclass
class Served:
    """Starts fixture systems and their connectors; ``aclose`` stops them all."""

    connector_class: Any
    credentials: Mapping[str, str] | None = None
    fake_clock: bool = False  # install a FakeClock in the connector's pipeline
    path: str | None = None
    _stack: list[tuple[Any, httpx.AsyncClient, httpx.AsyncClient]] = field(default_factory=list)

    async def start(self, app: Any, **options: object) -> Running:
        server = await serve_app(app)
        client = httpx.AsyncClient(base_url=server.url, timeout=5)
        admin = httpx.AsyncClient(base_url=server.url, timeout=5)
        self._stack.append((server, client, admin))
        connector = self.connector_class(
            settings=settings(server.url, credentials=self.credentials, **options),
            client=client,
            cache=SimpleMemoryCache(),
        )
        clock = None
        if self.fake_clock:
            clock = FakeClock()
            clock.install(connector.pipeline)
        return Running(connector, app, admin, clock, self.path)

    async def aclose(self) -> None:
        for server, client, admin in self._stack:
            await client.aclose()
            await admin.aclose()
            await server.stop()


@functools.cache
def generated_world() -> World:
    from fixtures.generate import build_world

    return build_world(seed=2023, projects=200, as_of=date(2024, 6, 28))


WORLDS = pytest.mark.parametrize("make_world", [tiny_world, generated_world], ids=["handmade", "generated"])


async def check_round_trip(running: Running, world: World, department: str) -> None:
    """Every project, looked up alone, is the world's truth, fresh from the department."""
    truth = world.views.get(department, {})
    assert truth
    for code in world.projects:
        view = await running.connector.fetch_project(code)
        assert view == truth.get(code), code
        if view is not None:
            assert view.source is not None and not view.source.stale


async def check_batch(
    running: Running, world: World, department: str, *, path: str, per_call: int, unknown: str = UNKNOWN
) -> list[str]:
    """All projects (and an unknown one) in ``per_call``-sized batch calls, then from the cache."""
    codes = [*world.projects, unknown]
    found = await running.connector.fetch_projects(codes)
    assert found == world.views.get(department, {})
    assert await running.calls(path) == math.ceil(len(codes) / per_call)
    assert await running.connector.fetch_projects(codes) == found  # from the cache
    assert await running.calls(path) == math.ceil(len(codes) / per_call)
    return codes
