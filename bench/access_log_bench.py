"""Access-log benchmark: the cost of one append, alone and under concurrency.

Not a test: it prints figures for docs/performance.md. Run from the repository root:

    .venv/bin/python bench/access_log_bench.py                     # SQLite only
    ONEMATTER_TEST_DATABASE_URL=postgresql://127.0.0.1:5432/test \\
        .venv/bin/python bench/access_log_bench.py                 # SQLite and PostgreSQL

Each append goes through the path a request takes (``access_log_for(...).append``
with one read, group commit included). "sequential" times N appends one after
the other; "concurrent" runs M tasks at once, each appending one read K times,
and reports the per-append latency and the appends per second. Then P processes
append to the same database at once and the chain is verified, which checks
that the serialisation across processes still holds. SQLite is a temporary file
(WAL); PostgreSQL gets its own schema, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select, text

from registry import access_log as log
from registry.store import Registry


def _read(i: int, who: str = "bench") -> log.Read:
    return log.Read(
        principal=who,
        role="WINDOW_STAFF",
        purpose="HY-2026-110-000123",
        request_id=f"r{i}",
        request_hash="a" * 64,
        kind="matter",
        object_id="P-2023-0001",
        fields=("name", "stages.items.status", "stages.items.certificate"),
        at=datetime.now(UTC),
    )


async def _sequential(registry: Registry, n: int) -> list[float]:
    appender = log.access_log_for(registry.sessionmaker)
    times = []
    for i in range(n):
        start = time.perf_counter()
        await appender.append([_read(i)])
        times.append((time.perf_counter() - start) * 1000)
    return times


async def _concurrent(registry: Registry, m: int, k: int) -> tuple[list[float], float]:
    appender = log.access_log_for(registry.sessionmaker)
    times: list[float] = []

    async def client(c: int) -> None:
        for i in range(k):
            start = time.perf_counter()
            await appender.append([_read(i, f"c{c}")])
            times.append((time.perf_counter() - start) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(m)))
    return times, m * k / (time.perf_counter() - start)


def _child(url: str, schema: str | None, n: int, who: str) -> None:
    async def run() -> None:
        registry = await Registry.open(url, schema=schema, migrate=False)
        try:
            appender = log.access_log_for(registry.sessionmaker)
            await asyncio.gather(*(appender.append([_read(i, who)]) for i in range(n)))
        finally:
            await registry.close()

    asyncio.run(run())


async def _processes(registry: Registry, url: str, schema: str | None, p: int, n: int) -> str:
    async with registry.sessionmaker() as session:
        before = (await session.execute(select(func.count()).select_from(log.access_log))).scalar_one()
    context = multiprocessing.get_context("spawn")
    children = [context.Process(target=_child, args=(url, schema, n, f"p{i}")) for i in range(p)]
    for child in children:
        child.start()

    def join() -> None:
        for child in children:
            child.join()

    await asyncio.to_thread(join)
    if any(child.exitcode for child in children):
        return "a child process failed"
    async with registry.sessionmaker() as session:
        after = (await session.execute(select(func.count()).select_from(log.access_log))).scalar_one()
        bad = await log.verify(session)
        ids = (
            (await session.execute(select(log.access_log.c.id).order_by(log.access_log.c.id))).scalars().all()
        )
    gaps = [b for a, b in itertools.pairwise(ids) if b != a + 1]
    if after - before != p * n:
        return f"expected {p * n} new entries, found {after - before}"
    return (
        f"{p}×{n} appends from {p} processes: chain {'intact' if bad is None else bad}, id gaps {len(gaps)}"
    )


async def bench(url: str, schema: str | None, args: argparse.Namespace) -> None:
    registry = await Registry.open(url, schema=schema)
    try:
        await _sequential(registry, 20)  # warm-up: connections, statement caches
        seq = []
        for _ in range(args.rounds):
            seq.append(statistics.median(await _sequential(registry, args.n)))
        print(
            f"  sequential, 1 read          median of {args.rounds} rounds: {statistics.median(seq):.2f} ms"
            f"  (rounds: {', '.join(f'{s:.2f}' for s in seq)})"
        )
        rates, lats = [], []
        for _ in range(args.rounds):
            times, rate = await _concurrent(registry, args.m, args.k)
            rates.append(rate)
            lats.append(statistics.median(times))
        print(
            f"  concurrent, {args.m} tasks        median {statistics.median(lats):.2f} ms per append,"
            f" {statistics.median(rates):.0f} appends/s  (rounds: {', '.join(f'{r:.0f}' for r in rates)})"
        )
        print("  " + await _processes(registry, url, schema, args.processes, args.per_process))
        async with registry.sessionmaker() as session:
            assert await log.verify(session) is None, "the chain does not verify"
    finally:
        if schema is not None:
            async with registry.engine.begin() as connection:
                await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await registry.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--n", type=int, default=300, help="sequential appends per round")
    parser.add_argument("--m", type=int, default=50, help="concurrent tasks")
    parser.add_argument("--k", type=int, default=20, help="appends per concurrent task")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--per-process", type=int, default=200)
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()},"
        f" load average {os.getloadavg()[0]:.1f}"
    )
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as folder:
            print("SQLite (file, WAL)")
            asyncio.run(bench(f"sqlite+aiosqlite:///{folder}/log.db", None, args))
    pg = os.environ.get("ONEMATTER_TEST_DATABASE_URL")
    if args.only in (None, "postgresql"):
        if not pg:
            print("PostgreSQL: skipped (ONEMATTER_TEST_DATABASE_URL is not set)")
        else:
            print("PostgreSQL (asyncpg)")
            asyncio.run(bench(pg, f"bench_log_{uuid.uuid4().hex[:10]}", args))
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
