"""Whole-result cache: shared only within the caller's scope, never skipping the access log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from domain.principal import Principal, Role
from fixtures.serve import RunningDepartments
from fixtures.world import World
from gateway.app import create_app
from gateway.auth import authenticator_for
from gateway.config import Settings
from gateway.response_cache import ResultCache, effective_ttl, scope_of
from gateway.services import Services
from registry.access_log import access_log
from tests.ops.conftest import MATTER, complete_project
from tests.schema.conftest import hub_settings

Hub = tuple[httpx.AsyncClient, Services, Settings]


@pytest.fixture
async def make(
    world: World,
    departments: RunningDepartments,
    tmp_path: Path,
    demo_credentials: None,
    domain_modules: None,
) -> AsyncIterator[Callable[..., Awaitable[Hub]]]:
    stack = AsyncExitStack()

    async def build(ttl_s: float = 600.0, cache_ttl_s: float = 600.0) -> Hub:
        settings = hub_settings(departments.urls, tmp_path, world, cache_ttl_s=cache_ttl_s)
        settings = settings.model_copy(update={"ops": {"response_cache_ttl_s": ttl_s}})
        services = await Services.open(settings)
        stack.push_async_callback(services.aclose)
        app = create_app(settings, services=services)
        await stack.enter_async_context(app.router.lifespan_context(app))
        await services.matter_index.ready()  # what /readyz waits for: its calls are not the test's
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub")
        stack.push_async_callback(client.aclose)
        return client, services, settings

    async with stack:
        yield build


def bearer(settings: Settings, role: Role, subject: str, **claims: Any) -> dict[str, str]:
    token = authenticator_for(settings).mint(subject=subject, role=role, **claims)
    return {"Authorization": f"Bearer {token}"}


def pipeline_calls(services: Services) -> int:
    return sum(c.pipeline.stats().calls for c in services.connectors.values())  # type: ignore[attr-defined]


async def logged(services: Services) -> list[tuple[str, str, str]]:
    async with services.registry.sessionmaker() as session:
        rows = await session.execute(
            select(access_log.c.principal, access_log.c.request_id, access_log.c.kind)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def ask(
    client: httpx.AsyncClient, code: str, headers: dict[str, str], request_id: str
) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={"query": MATTER, "variables": {"code": code}},
        headers={**headers, "X-Request-Id": request_id},
    )
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_window_staff_share_results_and_every_read_is_logged(make: Any, world: World) -> None:
    client, services, settings = await make()
    code = complete_project(world)
    first = await ask(client, code, bearer(settings, Role.WINDOW_STAFF, "staff-1"), "req-1")
    calls = pipeline_calls(services)
    second = await ask(client, code, bearer(settings, Role.WINDOW_STAFF, "staff-2"), "req-2")
    assert "errors" not in first and second == first
    assert pipeline_calls(services) == calls  # nothing executed: not even a cache lookup
    rows = await logged(services)
    assert ("staff-1", "req-1", "matter") in rows
    assert ("staff-2", "req-2", "matter") in rows  # the cached read is evidence too


async def test_enterprises_never_share_and_auditors_are_never_cached(make: Any, world: World) -> None:
    client, services, settings = await make()
    project = world.projects[complete_project(world)]
    owner = bearer(settings, Role.ENTERPRISE, "owner", credit_code=project.enterprise_code)
    await ask(client, project.code, owner, "e-1")
    calls = pipeline_calls(services)
    await ask(client, project.code, owner, "e-2")
    assert pipeline_calls(services) == calls  # the same principal: served from its own entry
    other = next(e for e in world.enterprises if e != project.enterprise_code)
    refused = await ask(
        client, project.code, bearer(settings, Role.ENTERPRISE, "other", credit_code=other), "e-3"
    )
    assert refused == {"data": {"matter": None}}  # as for an unknown code, not the owner's cached answer
    assert scope_of(Principal(subject="a", role=Role.AUDITOR)) is None
    assert scope_of(Principal(subject="a", role=Role.INTEGRATOR)) is None
    assert scope_of(Principal(subject="anonymous", role=None)) is None


async def test_partial_results_are_not_cached(
    make: Any, world: World, departments: RunningDepartments
) -> None:
    client, services, settings = await make()
    # The matter index, built at startup, warmed the department cache: start from a cold one.
    await services.cache.clear(namespace=settings.cache.namespace)
    code = complete_project(world)
    headers = bearer(settings, Role.WINDOW_STAFF, "staff")
    admin = httpx.AsyncClient()
    try:
        await admin.put(f"{departments.urls['fire']}/_admin/faults", json={"error_rate": 1.0})
        broken = await ask(client, code, headers, "p-1")
        fire = next(s for s in broken["data"]["matter"]["sources"] if s["department"] == "fire")
        assert fire["status"] == "UNAVAILABLE"  # no GraphQL error for this document, yet partial
        calls = pipeline_calls(services)
        await ask(client, code, headers, "p-2")
        assert pipeline_calls(services) > calls  # executed again, not served the partial answer
    finally:
        await admin.aclose()


async def test_off_when_any_department_cache_is_off(make: Any, world: World) -> None:
    client, services, settings = await make(cache_ttl_s=0.0)
    assert effective_ttl(settings, 600.0) == 0.0
    code = complete_project(world)
    headers = bearer(settings, Role.WINDOW_STAFF, "staff")
    await ask(client, code, headers, "o-1")
    calls = pipeline_calls(services)
    await ask(client, code, headers, "o-2")
    assert pipeline_calls(services) > calls


def test_entries_expire_and_the_cache_is_bounded() -> None:
    now = [0.0]
    cache = ResultCache(2.0, max_entries=2, clock=lambda: now[0])
    cache.put(b"a", {"x": 1}, {})
    found = cache.get(b"a")
    assert found is not None and found.data == {"x": 1} and found.body == b'{"data":{"x":1}}'
    now[0] = 2.5
    assert cache.get(b"a") is None
    cache.put(b"b", 1, {})
    cache.put(b"c", 2, {})
    cache.put(b"d", 3, {})
    last = cache.get(b"d")
    assert cache.get(b"b") is None and last is not None and last.data == 3
