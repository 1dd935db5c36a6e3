"""Shared pytest fixtures: the fixture world and department systems on loopback ports.

- ``world``: the session's world, ``build_world(seed=2023, projects=200,
  as_of=date(2026, 11, 27))``. Shared by every test: treat it as read-only.
- ``departments``: every available department system on an ephemeral loopback
  port (``.urls[dept]``, ``.apps[dept]`` the fault wrapper), stopped after the test.
- ``launch_departments``: the same with options, ``await
  launch_departments(world, faults={"fire": FaultSettings(...)}, departments=("fire",))``.
- ``serve_on_loopback``: any ASGI app on a loopback port, ``(await
  serve_on_loopback(app)).url``.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from typing import Any

import pytest

from fixtures.generate import build_world
from fixtures.world import World

AS_OF = date(2026, 11, 27)
SEED = 2023
PROJECTS = 200


@pytest.fixture(scope="session")
def world() -> World:
    return build_world(seed=SEED, projects=PROJECTS, as_of=AS_OF)


@pytest.fixture
async def launch_departments() -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    from fixtures.serve import start_departments

    running: list[Any] = []

    async def launch(world: World, **options: Any) -> Any:
        with warnings.catch_warnings():
            # A department whose module is not written yet is skipped with a warning.
            warnings.simplefilter("ignore", UserWarning)
            departments = await start_departments(world, **options)
        running.append(departments)
        return departments

    yield launch
    for departments in running:
        await departments.stop()


@pytest.fixture
async def departments(world: World, launch_departments: Callable[..., Awaitable[Any]]) -> Any:
    return await launch_departments(world)


@pytest.fixture
async def serve_on_loopback() -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    from fixtures.serve import serve_app

    servers: list[Any] = []

    async def serve(app: Any, *, host: str = "127.0.0.1") -> Any:
        server = await serve_app(app, host=host)
        servers.append(server)
        return server

    yield serve
    for server in servers:
        await server.stop()
