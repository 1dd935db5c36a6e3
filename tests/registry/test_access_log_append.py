"""The access-log append across processes: one chain, whatever the writers interleave.

Each process has its own writer (SQLite: a thread with its own connection; PostgreSQL:
one statement chained to the head the process last saw), so these tests start real
processes on one database, on both backends, and verify the chain afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from registry import access_log as log
from registry.store import Registry

PER_PROCESS_GROUPS = 60  # single reads through group commit, and as many direct writes of 3
LOCKED_WRITES = 5  # and a few through the general, locked transaction, alongside


def _reads(n: int, who: str) -> list[log.Read]:
    return [
        log.Read(
            principal=who,
            role="WINDOW_STAFF",
            purpose="HY-2026-110-000123",
            request_id=f"{who}-{i}",
            request_hash="b" * 64,
            kind="matter",
            object_id="P-2023-0001",
            fields=("name", "items.status"),
            at=datetime.now(UTC),
        )
        for i in range(n)
    ]


async def _append_mixed(registry: Registry, who: str) -> None:
    appender = log.access_log_for(registry.sessionmaker)
    await asyncio.gather(
        *(appender.append(_reads(1, f"{who}-g{i}")) for i in range(PER_PROCESS_GROUPS)),
        *(log.append(registry.sessionmaker, _reads(3, f"{who}-w{i}")) for i in range(PER_PROCESS_GROUPS)),
        *(log._append_locked(registry.sessionmaker, _reads(2, f"{who}-l{i}")) for i in range(LOCKED_WRITES)),
    )


def _child(url: str, schema: str | None, who: str, start: Any) -> None:
    async def run() -> None:
        registry = await Registry.open(url, schema=schema, migrate=False)
        try:
            start.wait(60)
            await _append_mixed(registry, who)
        finally:
            await registry.close()

    asyncio.run(run())


async def _count(registry: Registry) -> int:
    async with registry.sessionmaker() as session:
        return int((await session.execute(select(func.count()).select_from(log.access_log))).scalar_one())


async def _verify(registry: Registry) -> log.BadEntry | None:
    async with registry.sessionmaker() as session:
        return await log.verify(session)


def _url_and_schema(registry: Registry) -> tuple[str, str | None]:
    return registry.engine.url.render_as_string(hide_password=False), registry.schema


async def test_the_chain_verifies_after_two_processes_append_at_once(registry: Registry) -> None:
    url, schema = _url_and_schema(registry)
    await log.append(registry.sessionmaker, _reads(2, "parent"))  # the children chain onto this
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    children = [context.Process(target=_child, args=(url, schema, f"p{i}", start)) for i in range(2)]
    for child in children:
        child.start()
    try:
        start.set()
        await _append_mixed(registry, "parent")  # and this process at the same time
    finally:
        for child in children:
            await asyncio.to_thread(child.join, 120)
    assert [child.exitcode for child in children] == [0, 0]
    assert await _count(registry) == 2 + 3 * (PER_PROCESS_GROUPS * 4 + LOCKED_WRITES * 2)
    assert await _verify(registry) is None


async def test_a_writer_whose_head_moved_chains_onto_the_new_head(registry: Registry) -> None:
    # Two registries on one database stand for two processes: each writer knows only
    # the head it wrote last.
    url, schema = _url_and_schema(registry)
    other = await Registry.open(url, schema=schema, migrate=False)
    try:
        first = await log.append(registry.sessionmaker, _reads(2, "a"))
        second = await log.append(other.sessionmaker, _reads(3, "b"))
        third = await log.append(registry.sessionmaker, _reads(1, "a"))  # its head moved meanwhile
        await log.access_log_for(other.sessionmaker).append(_reads(1, "b"))
    finally:
        await other.close()
    assert len({*first, *second, *third}) == 6
    async with registry.sessionmaker() as session:
        rows = (await session.execute(select(log.access_log).order_by(log.access_log.c.id))).all()
    assert [r.hash for r in rows[:6]] == [*first, *second, *third]
    assert rows[2].prev_hash == first[-1] and rows[5].prev_hash == second[-1]
    assert await _verify(registry) is None


async def test_rows_read_back_as_written_whichever_path_wrote_them(registry: Registry) -> None:
    """The one-hop writer and the general locked transaction write the same values."""
    written = await log.append(registry.sessionmaker, _reads(2, "fast"))
    written += await log._append_locked(registry.sessionmaker, _reads(2, "locked"))
    written += await log.append(registry.sessionmaker, _reads(1, "fast"))
    async with registry.sessionmaker() as session:
        rows = (await session.execute(select(log.access_log).order_by(log.access_log.c.id))).all()
    assert [r.hash for r in rows] == written
    assert all(r.at.tzinfo is not None and r.fields == '["items.status","name"]' for r in rows)
    assert await _verify(registry) is None


async def test_after_close_a_new_registry_appends_where_the_old_one_stopped(registry: Registry) -> None:
    url, schema = _url_and_schema(registry)
    other = await Registry.open(url, schema=schema, migrate=False)
    await log.access_log_for(other.sessionmaker).append(_reads(2, "closed"))
    await other.close()  # releases its writer (thread and connection on SQLite)
    await log.append(registry.sessionmaker, _reads(1, "open"))
    assert await _count(registry) == 3
    assert await _verify(registry) is None


async def test_a_principal_longer_than_its_column_is_recorded_faithfully(registry: Registry) -> None:
    """Over 200 characters: stored as its head and SHA-256 on every write path; the chain verifies."""
    from registry.models import bounded_actor

    long_a, long_b = "a" * 300, "a" * 299 + "b"  # the same first 200 characters

    def read(who: str) -> list[log.Read]:
        return [replace(r, request_id="long-principal") for r in _reads(1, who)]

    await log.append(registry.sessionmaker, read(long_a))
    await log._append_locked(registry.sessionmaker, read(long_b))
    await log.access_log_for(registry.sessionmaker).append(read("short"))
    assert await _verify(registry) is None
    async with registry.sessionmaker() as session:
        rows = (await session.execute(select(log.access_log).order_by(log.access_log.c.id))).all()
        assert [r.principal for r in rows] == [
            bounded_actor(long_a, 200),
            bounded_actor(long_b, 200),
            "short",
        ]
        assert rows[0].principal != rows[1].principal and all(len(r.principal) <= 200 for r in rows)
        assert rows[0].principal.endswith(hashlib.sha256(long_a.encode()).hexdigest())
        for who, stored in ((long_a, rows[0]), (long_b, rows[1])):  # the full id finds its entry
            for asked in (who, stored.principal):
                found, _ = await log.page(session, first=5, where=log.LogFilter(principal=asked))
                assert [r.id for r in found] == [stored.id]
