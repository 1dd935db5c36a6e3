"""Profile the hub's request handling in-process: the app's own cost per request.

    .venv/bin/python -m bench.profile warm          # a repeated document, result cache warm
    .venv/bin/python -m bench.profile cold          # department and result caches off
    .venv/bin/python -m bench.profile warm --concurrency 50 --requests 4000 --top 40
    .venv/bin/python -m bench.profile cold --departments all   # the portal's screen, five departments

Starts the five department systems in their own processes, builds the hub's app
over the three JSON ones (``--departments all``: over all five) from the
configuration ``make bench`` uses (``create_app``, its lifespan
opening the services: SQLite registry with the access log, connectors over real
loopback HTTP), and calls the ASGI app directly, without a server or client in the
way: ``--concurrency`` requests at a time until ``--requests`` were answered. It
prints the process CPU per request without a profiler, then runs the same load
under cProfile and prints the functions with the most time of their own and the
most time under them. cProfile makes every Python call dearer: read the shares,
not the absolute times. uvicorn's and httptools' own cost (about 0.1 ms per
request here) is not in these figures; ``make bench`` measures the whole server.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import logging
import os
import pstats
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from bench import procs, scenarios


async def _drive(app: Any, bodies: list[bytes], headers: list[tuple[bytes, bytes]], n: int, k: int) -> int:
    failures = 0
    counter = iter(range(n))

    async def one(body: bytes) -> None:
        nonlocal failures
        sent: list[dict[str, Any]] = []
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                await asyncio.Event().wait()  # the body was read: nothing else comes
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        await app(scope, receive, send)
        status = next(m["status"] for m in sent if m["type"] == "http.response.start")
        answer = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        if status != 200 or b'"errors"' in answer:
            failures += 1

    async def client() -> None:
        for i in counter:
            await one(bodies[i % len(bodies)])

    await asyncio.gather(*(client() for _ in range(k)))
    return failures


async def _run(args: argparse.Namespace, departments: procs.Departments, folder: Any) -> None:
    from gateway.app import create_app
    from gateway.config import load_settings
    from gateway.tuning import settle_gc

    warm = args.scenario == "warm"
    five = args.departments == "all"
    config = procs.hub_config(
        departments, folder, only=None if five else procs.JSON_DEPARTMENTS, cache_ttl_s=3600 if warm else 0
    )
    settings = load_settings(config)
    app = create_app(settings)
    codes = departments.project_codes(200)[: 20 if warm else 200]
    query = scenarios.MATTER if five else scenarios.MATTER_JSON
    bodies = [orjson.dumps({"query": query, "variables": {"code": c}}) for c in codes]
    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {_token()}".encode()),
    ]
    async with app.router.lifespan_context(app):
        settle_gc()
        await _drive(app, bodies, headers, len(bodies) * 2, 1)  # warm-up: connections, caches
        start_cpu, start = time.process_time(), time.perf_counter()
        failures = await _drive(app, bodies, headers, args.requests, args.concurrency)
        cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start
        print(
            f"{args.scenario}, concurrency {args.concurrency}, {args.requests} requests in-process: "
            f"{cpu * 1000 / args.requests:.3f} ms CPU/req, {args.requests / wall:.0f} req/s, "
            f"{failures} not complete"
        )
        profiler = cProfile.Profile()
        profiler.enable()
        await _drive(app, bodies, headers, args.requests, args.concurrency)
        profiler.disable()
    if args.save:
        profiler.dump_stats(args.save)
    print(components(profiler, args.requests))
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer)
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)
    print(buffer.getvalue())


# Where a function's own time is booked: the first of these found in its file's path.
COMPONENTS = (
    ("httpx", "/httpx/"),
    ("aiohttp", "/aiohttp/"),
    ("graphql-core", "/graphql/"),
    ("strawberry", "/strawberry/"),
    ("starlette", "/starlette/"),
    ("aiocache", "/aiocache/"),
    ("sqlalchemy", "/sqlalchemy/"),
    ("hub: connectors/", "/connectors/"),
    ("hub: schema/", "/schema/"),
    ("hub: gateway/", "/gateway/"),
    ("hub: registry/", "/registry/"),
    ("hub: domain/", "/domain/"),
    ("asyncio", "/asyncio/"),
    ("json", "/json/"),
)


def components(profiler: cProfile.Profile, requests: int) -> str:
    """Own time per component (library or hub package), per request, largest first."""
    stats = pstats.Stats(profiler)
    totals: dict[str, float] = {}
    for (filename, _line, _name), row in stats.stats.items():  # type: ignore[attr-defined]
        own = row[2]
        label = next((c for c, marker in COMPONENTS if marker in filename), None)
        if label is None:
            label = "builtins (C)" if filename == "~" else "other Python"
        totals[label] = totals.get(label, 0.0) + own
    whole = sum(totals.values()) or 1.0
    lines = ["own time by component, under cProfile (ms per request, share):"]
    for label, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {label:<20} {seconds * 1000 / requests:7.3f} ms  {seconds / whole:6.1%}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=("warm", "cold"))
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--departments",
        choices=("json", "all"),
        default="json",
        help="the three JSON systems and the peer's query (default), or all five and the portal's screen",
    )
    parser.add_argument("--save", help="also write the profile to this file (python -m pstats FILE)")
    return in_process(_run, parser.parse_args(argv))


def in_process(
    run: Callable[[argparse.Namespace, procs.Departments, Path], Awaitable[None]], args: argparse.Namespace
) -> int:
    """Start the five departments, ``run`` the hub's app in this process on uvloop, stop them."""
    os.environ.update(procs.DEMO_CREDENTIALS)  # the connectors' credentials, as bench/procs.py sets them
    logging.disable(logging.WARNING)  # the app's JSON lines would drown the figures
    folder = procs.workdir()
    departments = procs.Departments.start(projects=200)
    try:
        import uvloop

        uvloop.run(run(args, departments, folder))
    finally:
        departments.stop()
        procs.remove(folder)
    return 0


def _token() -> str:
    from domain.principal import Role
    from gateway.auth import authenticator_for
    from gateway.config import Settings as HubSettings

    return authenticator_for(HubSettings()).mint(subject="bench", role=Role.WINDOW_STAFF, ttl_s=3600)


if __name__ == "__main__":
    sys.exit(main())
