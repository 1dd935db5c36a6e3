"""The access log: who read which matter or enterprise, why, and what.

Append-only and hash-chained: each entry stores the previous entry's hash and
its own, ``sha256(prev_hash + canonical JSON of the entry)``, so altering or
deleting an entry breaks the chain at that point (:func:`verify`). Deleting the
newest entries leaves a shorter but consistent chain; keep the head
(:func:`head`, printed by ``onematter audit verify``) somewhere else and pass it
back as ``anchor`` to detect that too.

A unique ``prev_hash`` refuses a forked chain outright. Within one process,
concurrent requests share one transaction (group commit), and a group costs one
hop: on a SQLite file the whole transaction (``BEGIN IMMEDIATE``, the head read,
the INSERTs, the commit) runs as one function in a writer thread with its own
connection; on PostgreSQL it is one autocommitted statement that inserts the
group only if the log's head is still the one the process chained it to (else
the process reads the head again; after a few tries it takes the general path:
an advisory lock, the head read and the INSERT in one transaction, which other
databases, such as an in-memory SQLite, always use).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import weakref
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Index, String, Table, Text, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from registry.models import Base, BigId, UTCDateTime, bounded_actor

GENESIS = "0" * 64
PRINCIPAL_MAX = 200  # the principal column; a longer id is stored as its head and its SHA-256
_APPEND_LOCK = 6_012_346  # PostgreSQL advisory lock key for appends

access_log = Table(
    "access_log",
    Base.metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("principal", String(PRINCIPAL_MAX), nullable=False),  # stored_principal(): never cut
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


def stored_principal(principal: str) -> str:
    """``principal`` as the log stores it: itself up to 200 characters, else its head and SHA-256.

    The same form as the registry's history (``registry.models.bounded_actor``): one
    value per principal, never cut into another's; the entry's hash covers this form,
    so ``verify()`` recomputes it from the row, and a reader relates a full id to its
    entries by passing it through this function (``LogFilter.principal`` does).
    """
    return bounded_actor(principal, PRINCIPAL_MAX)


def _row(prev: str, read: Read) -> dict[str, Any]:
    principal = stored_principal(read.principal)
    if principal != read.principal:
        read = replace(read, principal=principal)
    return {
        "at": read.at,
        "principal": principal,
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


def _chain(prev: str, reads: Sequence[Read]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for read in reads:
        rows.append(_row(prev, read))
        prev = rows[-1]["hash"]
    return rows


async def append(sessionmaker: async_sessionmaker[AsyncSession], reads: Sequence[Read]) -> list[str]:
    """Append ``reads`` to the chain in one transaction; returns their hashes."""
    return await access_log_for(sessionmaker).write(reads)


async def _append_locked(
    sessionmaker: async_sessionmaker[AsyncSession], reads: Sequence[Read], *, row_by_row: bool = False
) -> list[str]:
    """The general path, any backend: lock, read the head, insert, commit (several round trips)."""
    try:
        return await _append(sessionmaker, reads, row_by_row=row_by_row)
    except _OutOfOrder:
        return await _append(sessionmaker, reads, row_by_row=True)


async def _append(
    sessionmaker: async_sessionmaker[AsyncSession], reads: Sequence[Read], *, row_by_row: bool
) -> list[str]:
    async with _append_transaction(sessionmaker) as connection:
        prev = (await connection.execute(_HEAD)).scalar_one_or_none() or GENESIS
        rows = _chain(prev, reads)
        if len(rows) == 1 or row_by_row:
            for row in rows:  # one statement per row: ids in chain order on every backend
                await connection.execute(_INSERT, row)
        else:
            # One multi-row INSERT (SQLAlchemy's "insertmanyvalues"). The backends assign ids
            # in VALUES order, and RETURNING lets us check that rather than trust it.
            written = (await connection.execute(_INSERT_RETURNING, rows)).all()
            if [h for _, h in sorted(written)] != [r["hash"] for r in rows]:
                raise _OutOfOrder
    return [r["hash"] for r in rows]


# -- one hop per group: a writer thread on SQLite, one statement on PostgreSQL ------------

_COLUMNS = (
    "at",
    "principal",
    "role",
    "purpose",
    "request_id",
    "request_hash",
    "kind",
    "object_id",
    "fields",
    "prev_hash",
    "hash",
)
_SQLITE_INSERT = f"INSERT INTO access_log ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
_SQLITE_HEAD = "SELECT hash FROM access_log ORDER BY id DESC LIMIT 1"


class _SqliteWriter:
    """Appends on a file database from one thread with its own sqlite3 connection.

    A group's whole transaction (``BEGIN IMMEDIATE``, the head read, the INSERTs, the
    commit) runs as one function in that thread: one hop from the event loop and back,
    where the same transaction through aiosqlite took about twelve. The values are
    converted with the column types' own bind processors, so a row reads back (and
    hashes) exactly as one written through SQLAlchemy.
    """

    def __init__(self, path: str, dialect: Any) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onematter-access-log")
        self._connection: sqlite3.Connection | None = None
        self._processors = [
            access_log.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in _COLUMNS
        ]

    async def write(self, reads: Sequence[Read]) -> list[str]:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._write, reads)

    def _connect(self) -> sqlite3.Connection:
        # The registry's own settings (registry/store.py): WAL, NORMAL sync, foreign keys.
        connection = sqlite3.connect(self._path, timeout=30, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        return connection

    def _write(self, reads: Sequence[Read]) -> list[str]:
        if self._connection is None:
            self._connection = self._connect()
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            head = connection.execute(_SQLITE_HEAD).fetchone()
            rows = _chain(head[0] if head else GENESIS, reads)
            # Ids are rowids, assigned in statement order under the write lock: chain order.
            connection.executemany(_SQLITE_INSERT, [self._values(row) for row in rows])
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return [r["hash"] for r in rows]

    def _values(self, row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(
            value if process is None else process(value)
            for value, process in zip((row[name] for name in _COLUMNS), self._processors, strict=True)
        )

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=False)


# One statement, sent in autocommit: it inserts the group only if the log's head is still
# the one its hashes were chained to, and the unique prev_hash refuses a second writer
# that chained to the same head (it waits for the first to commit, then fails). It takes
# the append lock in shared mode, without waiting: a writer on the general path holds it
# exclusively (``_append_locked``), and while it does, this statement inserts nothing.
_PG_APPEND = text(
    f"""WITH gate AS MATERIALIZED (
    SELECT pg_try_advisory_xact_lock_shared(:lock) AS open,
           COALESCE((SELECT hash FROM access_log ORDER BY id DESC LIMIT 1), :genesis) AS head
)
INSERT INTO access_log ({", ".join(_COLUMNS)})
SELECT {", ".join(f"r.{c}" for c in _COLUMNS)}
FROM unnest(
    CAST(:at AS timestamptz[]), CAST(:principal AS text[]), CAST(:role AS text[]),
    CAST(:purpose AS text[]), CAST(:request_id AS text[]), CAST(:request_hash AS text[]),
    CAST(:kind AS text[]), CAST(:object_id AS text[]), CAST(:fields AS text[]),
    CAST(:prev_hash AS text[]), CAST(:hash AS text[])
) WITH ORDINALITY AS r({", ".join(_COLUMNS)}, n)
WHERE (SELECT open AND head = :head FROM gate)
ORDER BY r.n
RETURNING id, hash"""
)
_PG_ATTEMPTS = 3  # then the general path: other processes keep moving the head


class _PostgresWriter:
    """Appends on PostgreSQL in one statement, chained to the head this process last saw."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._head: str | None = None  # the newest hash this process knows of
        self._lock = asyncio.Lock()  # this process's writes take turns: no conflicts among them

    async def write(self, reads: Sequence[Read]) -> list[str]:
        async with self._lock:
            return await self._write(reads)

    async def _write(self, reads: Sequence[Read]) -> list[str]:
        engine = _engine(self._sessionmaker)
        for _ in range(_PG_ATTEMPTS):
            async with engine.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                head = self._head
                if head is None:
                    head = (await connection.execute(_HEAD)).scalar_one_or_none() or GENESIS
                rows = _chain(head, reads)
                params: dict[str, Any] = {name: [r[name] for r in rows] for name in _COLUMNS}
                try:
                    written = (
                        await connection.execute(
                            _PG_APPEND, {**params, "lock": _APPEND_LOCK, "genesis": GENESIS, "head": head}
                        )
                    ).all()
                except IntegrityError:  # another process appended to the same head first
                    written = []
                # Nothing written: the head moved (or a locked writer holds it); read it again.
            if written:
                if [h for _, h in sorted(written)] != [r["hash"] for r in rows]:
                    # Not in chain order: never seen, but an autocommitted row cannot be
                    # taken back, so the log says so at once rather than at verify().
                    raise RuntimeError("the access log's ids came out of chain order")
                self._head = rows[-1]["hash"]
                return [r["hash"] for r in rows]
            self._head = None
        hashes = await _append_locked(self._sessionmaker, reads)
        self._head = hashes[-1]
        return hashes

    async def close(self) -> None:
        return None


class _LockedWriter:
    """Any other database (an in-memory SQLite): the general, locked transaction."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def write(self, reads: Sequence[Read]) -> list[str]:
        return await _append_locked(self._sessionmaker, reads)

    async def close(self) -> None:
        return None


def _writer_for(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> _SqliteWriter | _PostgresWriter | _LockedWriter:
    engine = _engine(sessionmaker)
    url = engine.url
    if engine.dialect.name == "postgresql":
        return _PostgresWriter(sessionmaker)
    if engine.dialect.name == "sqlite" and url.database not in (None, "", ":memory:") and not url.query:
        return _SqliteWriter(url.database, engine.dialect)
    return _LockedWriter(sessionmaker)


class AccessLog:
    """Group commit for one database: concurrent requests share one append transaction."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        # A weak reference: the registry of AccessLogs is keyed weakly by the sessionmaker,
        # and the writer holds the sessionmaker only while this log is alive.
        self._sessionmaker = weakref.ref(sessionmaker)
        self._writer: _SqliteWriter | _PostgresWriter | _LockedWriter | None = None
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

    async def write(self, reads: Sequence[Read]) -> list[str]:
        """Append ``reads`` in one transaction now (no grouping); returns their hashes."""
        if not reads:
            return []
        if self._writer is None:
            sessionmaker = self._sessionmaker()
            if sessionmaker is None:
                raise RuntimeError("the registry is closed")
            self._writer = _writer_for(sessionmaker)
        return await self._writer.write(reads)

    async def close(self) -> None:
        """Release the writer's thread and connection (the registry closes)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            await writer.close()

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self.write([read for reads, _ in batch for read in reads])
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


async def close_access_log(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Close the process's access-log writer for this database, if one was opened."""
    log = _LOGS.pop(sessionmaker, None)
    if log is not None:
        await log.close()


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
    principal: str | None = None  # the full id or its stored form (stored_principal)
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
        (access_log.c.principal, None if f.principal is None else stored_principal(f.principal)),
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
