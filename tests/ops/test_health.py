"""/livez and /readyz: readiness follows the registry (the cache only degrades), never a department.

Department health is shown to INTEGRATOR tokens only.
"""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import create_async_engine

from connectors.cache import build_cache
from domain.principal import Role
from gateway.app import create_app
from gateway.config import CacheBackendSettings
from registry.store import Registry
from tests.ops.conftest import closed_port
from tests.schema.conftest import Hub, HubFactory

FIVE = {"planning", "civil_air_defence", "fire", "utilities", "real_estate"}


async def _readyz(hub: Hub, role: Role | None = Role.INTEGRATOR) -> httpx.Response:
    headers = {"Authorization": f"Bearer {hub.token(role)}"} if role is not None else {}
    return await hub.client.get("/readyz", headers=headers)


async def test_livez_answers_without_a_token(make_hub: HubFactory) -> None:
    hub = await make_hub()
    response = await hub.client.get("/livez")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_with_every_department_reported(make_hub: HubFactory) -> None:
    hub = await make_hub()
    response = await _readyz(hub)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"] == {"registry": "ok", "cache": "ok", "index": "ok"}
    assert set(body["departments"]) == FIVE
    for report in body["departments"].values():
        assert report["status"] == "UP"
        assert report["breaker"] == "CLOSED"


async def test_a_department_outage_is_reported_not_fatal(make_hub: HubFactory) -> None:
    hub = await make_hub()
    await hub.fault("fire", maintenance=True)
    await hub.fault("utilities", error_rate=1.0, error_status=500)
    response = await _readyz(hub)
    assert response.status_code == 200, response.text
    departments = response.json()["departments"]
    assert departments["fire"]["status"] == "MAINTENANCE"
    assert departments["utilities"]["status"] in ("DOWN", "UNREACHABLE")
    assert departments["planning"]["status"] == "UP"


async def test_unreachable_registry_makes_the_replica_unready(make_hub: HubFactory) -> None:
    hub = await make_hub()
    port = closed_port()
    registry = hub.services.registry
    hub.services.registry = Registry(
        create_async_engine(f"postgresql+asyncpg://hub:secret@127.0.0.1:{port}/x")
    )
    try:
        response = await hub.client.get("/readyz")
    finally:
        await hub.services.registry.close()
        hub.services.registry = registry
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"] == {"registry": "unreachable", "cache": "ok", "index": "ok"}
    assert "secret" not in response.text and str(port) not in response.text


async def test_unreachable_cache_makes_the_replica_degraded_not_unready(make_hub: HubFactory) -> None:
    hub = await make_hub()
    cache = hub.services.cache
    hub.services.cache = build_cache(
        CacheBackendSettings(backend="redis", redis_url=f"redis://127.0.0.1:{closed_port()}/0")
    )
    try:
        response = await hub.client.get("/readyz")
    finally:
        await hub.services.cache.close()
        hub.services.cache = cache
    # Still in the balancer: the hub answers without the shared cache, and says so.
    # (Memory stands in for Redis meanwhile: test_an_unreachable_redis_degrades_to_memory.)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"] == {"registry": "ok", "cache": "unreachable", "index": "ok"}
    assert body["degraded"] == [
        "the shared cache is unreachable: this replica caches in its own memory until it is back"
    ]


async def test_not_ready_before_the_services_are_built(make_hub: HubFactory) -> None:
    hub = await make_hub()
    app = create_app(hub.settings)  # lifespan never entered: nothing built yet
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as client:
        ready = await client.get("/readyz")
        live = await client.get("/livez")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"services": "starting"}
    assert live.status_code == 200


async def test_department_health_only_for_roles_that_may_see_it(make_hub: HubFactory) -> None:
    hub = await make_hub()
    probes = [await _readyz(hub, role) for role in (None, Role.WINDOW_STAFF, Role.AUDITOR, Role.ADMIN)]
    probes.append(await hub.client.get("/readyz", headers={"Authorization": "Bearer not-a-token"}))
    for response in probes:
        assert response.status_code == 200
        assert response.json() == {
            "status": "ready",
            "checks": {"registry": "ok", "cache": "ok", "index": "ok"},
        }
    assert set((await _readyz(hub)).json()["departments"]) == FIVE
