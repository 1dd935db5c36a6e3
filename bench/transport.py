"""Client CPU per request of the HTTP transports the connectors could use.

``python -m bench.transport``: 32 concurrent GETs against a department system
running in its own process (the fire system's project lookup), measuring this
process's CPU time per request for: httpx with its default transport; httpx's
own request path over the hub's aiohttp transport (``connectors.http.AiohttpTransport``,
the way a traced department request goes); the client connectors get
(``connectors.http.build_client``: its short way from ``get`` to aiohttp); and
aiohttp directly, the floor. CPU time, not wall time, so the figure says what
the client costs whatever else the machine is doing.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

CONCURRENCY = 32
REQUESTS = 3_000


async def _drive(get: Callable[[], Awaitable[int]], requests: int) -> tuple[float, float]:
    """(CPU ms per request, wall seconds) for ``requests`` calls, CONCURRENCY at a time."""
    left = requests

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            status = await get()
            if status != 200:
                raise RuntimeError(f"status {status}")

    for _ in range(200):  # warm the pools
        await get()
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return (time.process_time() - cpu) / requests * 1000, time.perf_counter() - wall


async def measure(url: str, requests: int = REQUESTS) -> dict[str, dict[str, float]]:
    import aiohttp
    import httpx

    from connectors.http import AiohttpTransport, build_client
    from connectors.settings import ConnectorSettings

    limits = httpx.Limits(max_connections=100, max_keepalive_connections=50)
    results: dict[str, dict[str, float]] = {}

    async def with_httpx(name: str, transport: Any) -> None:
        async with httpx.AsyncClient(limits=limits, transport=transport) as client:

            async def get() -> int:
                return (await client.get(url)).status_code

            cpu, wall = await _drive(get, requests)
        results[name] = {"cpu_ms_per_request": round(cpu, 3), "requests_per_s": round(requests / wall, 1)}

    await with_httpx("httpx (default transport)", None)
    await with_httpx("httpx's own path over the hub's AiohttpTransport", AiohttpTransport(limits=limits))

    # What connectors get (connectors/http.py build_client): base URL + path, stamped headers.
    base, _, path = url.partition("/api/")
    async with build_client(ConnectorSettings.model_validate({"base_url": base})) as client:

        async def get_hub() -> int:
            return (await client.get(f"/api/{path}")).status_code

        cpu, wall = await _drive(get_hub, requests)
    results["the hub's department client"] = {
        "cpu_ms_per_request": round(cpu, 3),
        "requests_per_s": round(requests / wall, 1),
    }
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:

        async def get() -> int:
            async with session.get(url) as response:
                await response.read()
                return response.status

        cpu, wall = await _drive(get, requests)
    results["aiohttp (direct)"] = {
        "cpu_ms_per_request": round(cpu, 3),
        "requests_per_s": round(requests / wall, 1),
    }
    return results


def run(url: str, requests: int = REQUESTS) -> dict[str, dict[str, float]]:
    import uvloop

    return uvloop.run(measure(url, requests))


def main() -> int:
    from bench.procs import Departments

    departments = Departments.start(projects=50)
    try:
        code = departments.project_codes(1)[0]
        results = run(f"{departments.urls['fire']}/api/v1/projects/{code}")
    finally:
        departments.stop()
    print(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
