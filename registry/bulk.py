"""Bulk inserts for imports, the seed and benchmarks, inside the caller's transaction.

SQLAlchemy's executemany spends most of a 100,000-row import converting parameters
in Python; these paths hand plain tuples to the driver instead: ``executemany`` on
SQLite, ``COPY`` on PostgreSQL. Values are converted here the way the column types
would (UTC timestamps, ISO dates, enum values).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from enum import Enum
from operator import itemgetter
from typing import Any

from sqlalchemy import Date, DateTime, Table, TypeDecorator, insert
from sqlalchemy.ext.asyncio import AsyncSession

CHUNK = 5000
Progress = Callable[[int], None]


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):  # stored naive UTC, as models.UTCDateTime writes it
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _pg_value(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _tuples(
    table: Table, rows: Sequence[dict[str, Any]], columns: list[str], convert: Callable[[Any], Any]
) -> Callable[[int, int], list[tuple[Any, ...]]]:
    """Rows as driver tuples; only date, time and enum columns pay for converting."""
    get = itemgetter(*columns) if len(columns) > 1 else (lambda r: (r[columns[0]],))
    touched = [
        i for i, c in enumerate(columns) if isinstance(table.c[c].type, Date | DateTime | TypeDecorator)
    ]

    def chunk(start: int, end: int) -> list[tuple[Any, ...]]:
        if not touched:
            return [get(r) for r in rows[start:end]]
        out = []
        for r in rows[start:end]:
            values = list(get(r))
            for i in touched:
                values[i] = convert(values[i])
            out.append(tuple(values))
        return out

    return chunk


def _memoised(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Convert each distinct value once: an import repeats one timestamp and a few enums."""
    cache: dict[Any, Any] = {}
    plain = (str, int, float, type(None))

    def converted(value: Any) -> Any:
        if type(value) in plain:
            return value
        try:
            return cache[value]
        except KeyError:
            cache[value] = result = convert(value)
            return result

    return converted


async def bulk_insert(
    session: AsyncSession,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    progress: Progress | None = None,
) -> None:
    """Insert ``rows`` (dicts keyed by column name, all with the same keys) into ``table``."""
    if not rows:
        return
    columns = list(rows[0])
    connection = await session.connection()
    dialect = connection.dialect.name
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if dialect in ("sqlite", "postgresql"):
        tuples = _tuples(table, rows, columns, _memoised(_sqlite_value if dialect == "sqlite" else _pg_value))
        for start in range(0, len(rows), CHUNK):
            chunk = tuples(start, start + CHUNK)
            if dialect == "sqlite":
                marks = ", ".join("?" for _ in columns)
                sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"
                await driver.executemany(sql, chunk)  # type: ignore[union-attr]
            else:
                await driver.copy_records_to_table(table.name, records=chunk, columns=columns)  # type: ignore[union-attr]
            if progress:
                progress(len(chunk))
    else:  # pragma: no cover - only the two supported backends reach here
        for start in range(0, len(rows), CHUNK):
            dicts = list(rows[start : start + CHUNK])
            await session.execute(insert(table), dicts)
            if progress:
                progress(len(dicts))
