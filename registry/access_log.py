"""The access log: who read which matter or enterprise, why, and what.

Append-only and hash-chained: each entry stores the previous entry's hash and
its own, ``sha256(prev_hash + canonical JSON of the entry)``, so altering or
deleting an entry breaks the chain at that point (:func:`verify`). Deleting the
newest entries leaves a shorter but consistent chain; keep the head
(:func:`head`, printed by ``onematter audit verify``) somewhere else and pass it
back as ``anchor`` to detect that too.

Appends serialise on the database (``BEGIN IMMEDIATE`` on SQLite, an advisory
lock on PostgreSQL) and a unique ``prev_hash`` refuses a forked chain outright.
Within one process, concurrent requests share one transaction (group commit),
written with one multi-row INSERT on a Core connection.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Index, String, Table, Text, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from registry.models import Base, BigId, UTCDateTime

GENESIS = "0" * 64
_APPEND_LOCK = 6_012_346  # PostgreSQL advisory lock key for appends

access_log = Table(
    "access_log",
    Base.metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("principal", String(200), nullable=False),
    Column("role", String(20), nullable=True),
    Column("purpose", String(128), nullable=True),  # the case number (办件号) from X-Case-Number
    Column("request_id", String(128), nullable=True),
    Column("request_hash", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # "matter" or "enterprise"
    Column("object_id", String(64), nullable=False),  # project code or credit code
    Column("fields", Text, nullable=False),  # JSON array of the field paths read
    Column("prev_hash", String(64), nullable=False, unique=True),
    Column("hash", String(64), nullable=False, unique=True),
    Index("ix_access_log_object", "kind", "object_id"),
    Index("ix_access_log_principal", "principal"),
    Index("ix_access_log_at", "at"),
)


@dataclass(frozen=True, slots=True)
class Read:
    """One read to log (the chain fields are added on append)."""

    principal: str
    role: str | None
    purpose: str | None
    request_id: str | None
    request_hash: str
    kind: str
    object_id: str
    fields: tuple[str, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class BadEntry:
    """The first entry at which the chain breaks, and why."""

    id: int
    reason: str


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(prev_hash: str, row: Any) -> str:
    """The hash of an entry (a :class:`Read` or a row with the same attributes)."""
    fields = row.fields if isinstance(row.fields, str) else encode_fields(row.fields)
    payload = json.dumps(
        [
            _stamp(row.at),
            row.principal,
            row.role,
            row.purpose,
            row.request_id,
            row.request_hash,
            row.kind,
            row.object_id,
            fields,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256((prev_hash + payload).encode()).hexdigest()


def encode_fields(fields: Sequence[str]) -> str:
    return json.dumps(sorted(set(fields)), ensure_ascii=False, separators=(",", ":"))


def request_hash(query: str | None, variables: Any, operation_name: str | None) -> str:
    """A stable hash of what was asked (document, variables, operation name)."""
    payload = json.dumps(
        [query or "", variables or {}, operation_name or ""], sort_keys=True, ensure_ascii=False, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()


_INSERT = access_log.insert()
_INSERT_RETURNING = _INSERT.returning(access_log.c.id, access_log.c.hash)
_HEAD = select(access_log.c.hash).order_by(access_log.c.id.desc()).limit(1)


def _engine(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    bind = sessionmaker.kw.get("bind")
    if not isinstance(bind, AsyncEngine):
        raise TypeError("the access log needs a sessionmaker bound to an AsyncEngine")
    return bind


@asynccontextmanager
async def _append_transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncConnection]:
    # Core on a plain connection: no ORM session, identity map or unit of work to pay for.
    async with _engine(sessionmaker).connect() as connection:
        await connection.execution_options(sqlite_immediate=True)  # BEGIN IMMEDIATE on SQLite
        async with connection.begin():
            if connection.dialect.name == "postgresql":
                await connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _APPEND_LOCK})
            yield connection


def _row(prev: str, read: Read) -> dict[str, Any]:
    return {
        "at": read.at,
        "principal": read.principal[:200],
        "role": read.role,
        "purpose": read.purpose,
        "request_id": read.request_id,
        "request_hash": read.request_hash,
        "kind": read.kind,
        "object_id": read.object_id[:64],
        "fields": encode_fields(read.fields),
        "prev_hash": prev,
        "hash": entry_hash(prev, read),
    }


class _OutOfOrder(Exception):
    """A multi-row INSERT gave ids out of chain order (its transaction was rolled back)."""


async def append(sessionmaker: async_sessionmaker[AsyncSession], reads: Sequence[Read]) -> list[str]:
    """Append ``reads`` to the chain in one transaction; returns their hashes."""
    if not reads:
        return []
    try:
        return await _append(sessionmaker, reads, row_by_row=False)
    except _OutOfOrder:
        return await _append(sessionmaker, reads, row_by_row=True)


async def _append(
    sessionmaker: async_sessionmaker[AsyncSession], reads: Sequence[Read], *, row_by_row: bool
) -> list[str]:
    async with _append_transaction(sessionmaker) as connection:
        prev = (await connection.execute(_HEAD)).scalar_one_or_none() or GENESIS
        rows: list[dict[str, Any]] = []
        for read in reads:
            rows.append(_row(prev, read))
            prev = rows[-1]["hash"]
        if len(rows) == 1 or row_by_row:
            for row in rows:  # one statement per row: ids in chain order on every backend
                await connection.execute(_INSERT, row)
        else:
            # One multi-row INSERT (SQLAlchemy's "insertmanyvalues"; on aiosqlite one
            # thread hop instead of one per row). The backends assign ids in VALUES
            # order, and RETURNING lets us check that rather than trust it.
            written = (await connection.execute(_INSERT_RETURNING, rows)).all()
            if [h for _, h in sorted(written)] != [r["hash"] for r in rows]:
                raise _OutOfOrder
    return [r["hash"] for r in rows]


class AccessLog:
    """Group commit for one database: concurrent requests share one append transaction."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        # A weak reference: the registry of AccessLogs is keyed weakly by the sessionmaker.
        self._sessionmaker = weakref.ref(sessionmaker)
        self._pending: list[tuple[Sequence[Read], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def append(self, reads: Sequence[Read]) -> None:
        """Return once ``reads`` are committed; raise if they could not be."""
        if not reads:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((reads, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await asyncio.shield(future)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                sessionmaker = self._sessionmaker()
                if sessionmaker is None:
                    raise RuntimeError("the registry is closed")
                await append(sessionmaker, [read for reads, _ in batch for read in reads])
            except Exception as exc:  # every waiter learns that its reads were not logged
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)


_LOGS: weakref.WeakKeyDictionary[Any, AccessLog] = weakref.WeakKeyDictionary()


def access_log_for(sessionmaker: async_sessionmaker[AsyncSession]) -> AccessLog:
    """The process's :class:`AccessLog` for a database's sessionmaker."""
    log = _LOGS.get(sessionmaker)
    if log is None:
        log = _LOGS[sessionmaker] = AccessLog(sessionmaker)
    return log


# -- verification -----------------------------------------------------------------------


async def verify(session: AsyncSession, *, anchor: tuple[int, str] | None = None) -> BadEntry | None:
    """The first entry where the chain breaks, or None when the log is intact.

    Args:
        anchor: ``(id, hash)`` of an entry recorded earlier (:func:`head`); the
            log must still hold it, unchanged, which detects a cut-off tail.
    """
    expected_prev = GENESIS
    anchor_seen = anchor is None
    result = await session.stream(select(access_log).order_by(access_log.c.id))
    async for row in result:
        if row.prev_hash != expected_prev:
            return BadEntry(
                row.id, "its prev_hash does not match the entry before it: an entry was altered or removed"
            )
        if entry_hash(row.prev_hash, row) != row.hash:
            return BadEntry(row.id, "its content does not match its hash: the entry was altered")
        if anchor is not None and row.id == anchor[0]:
            if row.hash != anchor[1]:
                return BadEntry(row.id, "its hash differs from the recorded anchor")
            anchor_seen = True
        expected_prev = row.hash
    if not anchor_seen:
        assert anchor is not None
        return BadEntry(anchor[0], "the anchored entry is missing: the log was cut short")
    return None


async def head(session: AsyncSession) -> tuple[int, int | None, str | None]:
    """(number of entries, newest id, newest hash)."""
    count = (await session.execute(select(func.count()).select_from(access_log))).scalar_one()
    last = (
        await session.execute(
            select(access_log.c.id, access_log.c.hash).order_by(access_log.c.id.desc()).limit(1)
        )
    ).first()
    return int(count), (int(last.id) if last else None), (last.hash if last else None)


# -- reading, for auditors -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogFilter:
    principal: str | None = None
    role: str | None = None
    purpose: str | None = None
    kind: str | None = None
    object_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def page(
    session: AsyncSession, *, first: int, after_id: int | None = None, where: LogFilter | None = None
) -> tuple[list[Any], bool]:
    """Entries oldest first, ``first`` of them after ``after_id``; and whether more follow."""
    query = select(access_log).order_by(access_log.c.id).limit(first + 1)
    if after_id is not None:
        query = query.where(access_log.c.id > after_id)
    f = where or LogFilter()
    for column, value in (
        (access_log.c.principal, f.principal),
        (access_log.c.role, f.role),
        (access_log.c.purpose, f.purpose),
        (access_log.c.kind, f.kind),
        (access_log.c.object_id, f.object_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if f.since is not None:
        query = query.where(access_log.c.at >= f.since)
    if f.until is not None:
        query = query.where(access_log.c.at < f.until)
    rows = list((await session.execute(query)).all())
    return rows[:first], len(rows) > first
