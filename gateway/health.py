"""Liveness and readiness for load balancers and orchestrators.

- ``GET /livez``: the process answers (200), nothing else is checked.
- ``GET /readyz``: 200 when this replica can serve: its services are built,
  the registry answers ``SELECT 1`` and the cache answers a read. Otherwise
  503. Department health is reported beside it but never makes the replica
  unready: a department outage is answered with partial results (DESIGN rule 2),
  and taking every replica out of the balancer for it would turn one
  department's outage into the whole hub's.

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

log = logging.getLogger("onematter.health")

CHECK_TIMEOUT_S = 2.0
DEPARTMENT_TIMEOUT_S = 2.0
DEPARTMENT_TTL_S = 5.0
_PROBE_KEY = "onematter:readyz-probe"


async def livez(request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


async def readyz(request: Request) -> Response:
    services = getattr(request.app.state, "services", None)
    if services is None:
        return _answer(False, {"services": "starting"}, {})
    registry_ok, cache_ok, departments = await asyncio.gather(
        _check("registry", _registry_answers(services)),
        _check("cache", _cache_answers(services)),
        department_health(request.app.state, services),
    )
    checks = {
        "registry": "ok" if registry_ok else "unreachable",
        "cache": "ok" if cache_ok else "unreachable",
    }
    return _answer(registry_ok and cache_ok, checks, departments)


def _answer(ready: bool, checks: dict[str, str], departments: dict[str, Any]) -> Response:
    body = {"status": "ready" if ready else "not ready", "checks": checks, "departments": departments}
    return JSONResponse(body, status_code=200 if ready else 503, headers={"Cache-Control": "no-store"})


async def _check(name: str, probe: Any) -> bool:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await probe
    except Exception:
        log.warning("readiness check failed: %s", name, exc_info=True)
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
    # a Redis outage raises, which is what readiness needs to see).
    await cache.get(_PROBE_KEY)


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
