"""Liveness and readiness for load balancers and orchestrators.

- ``GET /livez``: the process answers (200), nothing else is checked.
- ``GET /readyz``: ``ready`` (200) when this replica can serve: its services
  are built, the matter index behind list queries is built, the registry
  answers ``SELECT 1`` and the cache answers a read. ``degraded`` (still 200)
  when only the shared cache (Redis) is unreachable: the hub still answers,
  each replica caching in its own memory meanwhile
  (``connectors.cache.FallbackCache``), and a balancer must not pull every
  replica for it. ``not ready`` (503) while starting (the matter
  index included) or when the registry is unreachable. Department health never
  makes the replica unready: a department outage is answered with partial
  results, and taking every replica out of the balancer for it would turn one
  department's outage into the whole hub's. It is shown only to callers whose
  bearer token has a role that may see source health (INTEGRATOR); anonymous
  probes get the status and the checks.

Department checks call each system's health endpoint, with a short deadline,
at most once per ``DEPARTMENT_TTL_S`` per process, so a balancer probing
every second does not become load on the departments. Bodies name checks and
states only: no URLs, no exception text.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.principal import Role

log = logging.getLogger("onematter.health")

CHECK_TIMEOUT_S = 2.0
DEPARTMENT_TIMEOUT_S = 2.0
DEPARTMENT_TTL_S = 5.0
_PROBE_KEY = "onematter:readyz-probe"


async def livez(request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


# Roles that may see department health here (as the `sources` query: source health).
HEALTH_READERS = frozenset({Role.INTEGRATOR})


async def readyz(request: Request) -> Response:
    services = getattr(request.app.state, "services", None)
    if services is None:
        return _answer("not ready", {"services": "starting"}, None)
    show_departments = _may_see_departments(request)

    async def no_departments() -> None:
        return None

    registry_ok, cache_ok, departments = await asyncio.gather(
        _check("registry", _registry_answers(services)),
        _check("cache", _cache_answers(services)),
        department_health(request.app.state, services) if show_departments else no_departments(),
    )
    index_ok = services.ready  # the first list query must not walk the directory
    checks = {
        "registry": "ok" if registry_ok else "unreachable",
        "cache": "ok" if cache_ok else "unreachable",
        "index": "ok" if index_ok else "building",
    }
    status = "not ready" if not registry_ok or not index_ok else "ready" if cache_ok else "degraded"
    return _answer(status, checks, departments)


def _may_see_departments(request: Request) -> bool:
    """True for a valid bearer token of a role allowed to read source health (never raises)."""
    from gateway.auth import AuthenticationError, authenticate

    if "authorization" not in request.headers:
        return False
    try:
        principal = authenticate(request, request.app.state.settings)
    except AuthenticationError:
        return False  # a probe with a bad token is answered as an anonymous one
    return principal.role in HEALTH_READERS


def _answer(status: str, checks: dict[str, str], departments: dict[str, Any] | None) -> Response:
    body: dict[str, Any] = {"status": status, "checks": checks}
    if status == "degraded":
        body["degraded"] = [
            "the shared cache is unreachable: this replica caches in its own memory until it is back"
        ]
    if departments is not None:
        body["departments"] = departments
    code = 503 if status == "not ready" else 200
    return JSONResponse(body, status_code=code, headers={"Cache-Control": "no-store"})


async def _check(name: str, probe: Any) -> bool:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await probe
    except Exception as exc:
        # One line per failed probe; a balancer probes every few seconds, so no traceback.
        log.warning("readiness check failed: %s (%s)", name, type(exc).__name__)
        return False
    return True


async def _registry_answers(services: Any) -> None:
    from sqlalchemy import text

    async with services.registry.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def _cache_answers(services: Any) -> None:
    cache = services.cache
    if cache is None:
        raise RuntimeError("no cache")
    # A read through the same client the pipeline uses (aiocache swallows nothing here:
    # a Redis outage raises, which is what readiness needs to see). Past the memory
    # that stands in for Redis while it is down (connectors.cache.FallbackCache).
    await getattr(cache, "primary", cache).get(_PROBE_KEY)


async def department_health(state: Any, services: Any) -> dict[str, Any]:
    """Each department's own health answer and breaker state, cached briefly per process."""
    cached = getattr(state, "_department_health", None)
    now = time.monotonic()
    if cached is not None and now - cached[0] < DEPARTMENT_TTL_S:
        return dict(cached[1])
    names = sorted(services.connectors)
    reports = await asyncio.gather(*(_department(services.connectors[n]) for n in names))
    result = dict(zip(names, reports, strict=True))
    state._department_health = (now, result)
    return result


async def _department(connector: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    try:
        async with asyncio.timeout(DEPARTMENT_TIMEOUT_S):
            report = await connector.health()
        entry["status"] = str(report.status)
        if report.latency_ms is not None:
            entry["latency_ms"] = round(float(report.latency_ms), 1)
    except Exception:
        entry["status"] = "UNREACHABLE"
    stats = getattr(getattr(connector, "pipeline", None), "stats", None)
    if callable(stats):
        breaker = stats().breaker_state
        entry["breaker"] = str(getattr(breaker, "value", breaker))
    return entry
