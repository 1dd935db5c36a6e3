"""Registry fixtures: every test runs on a SQLite file and on PostgreSQL.

PostgreSQL comes from ONEMATTER_TEST_DATABASE_URL (``.ci/run`` sets it); each test
session works under its own schema prefix, each test in its own schema, and
every schema is dropped afterwards.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import pytest

from domain.principal import ANONYMOUS, Principal
from registry.seed import seed
from registry.service import Ledger
from registry.store import Registry, async_url


@dataclass
class LedgerContext:
    """The part of the schema's ``HubContext`` the registry's resolvers read."""

    registry: Registry
    principal: Principal = ANONYMOUS


PG_ENV = "ONEMATTER_TEST_DATABASE_URL"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


async def _drop_schemas(url: str, prefix: str) -> None:
    import asyncpg

    dsn = async_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        names = await connection.fetch(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE $1", prefix.replace("_", r"\_") + "%"
        )
        for (name,) in names:
            await connection.execute(f'DROP SCHEMA "{name}" CASCADE')
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def pg_schema_prefix() -> Iterator[str]:
    """A schema prefix unique to this test session; its schemas are dropped at the end."""
    prefix = f"registry_test_{uuid.uuid4().hex[:8]}_"
    yield prefix
    url = os.environ.get(PG_ENV)
    if url:
        asyncio.run(_drop_schemas(url, prefix))


_schema_numbers = count(1)


def database(backend: str, tmp_path: Path, prefix: str) -> tuple[str, str | None]:
    """(database URL, PostgreSQL schema or None) for a backend; skips without PostgreSQL."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}", None
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} is not set: the PostgreSQL run of the registry suite is skipped")
    return url, f"{prefix}{next(_schema_numbers)}"


@pytest.fixture(params=BACKENDS)
async def registry(
    request: pytest.FixtureRequest, tmp_path: Path, pg_schema_prefix: str
) -> AsyncIterator[Registry]:
    """A freshly migrated, empty registry on each backend."""
    url, schema = database(request.param, tmp_path, pg_schema_prefix)
    opened = await Registry.open(url, schema=schema)
    try:
        yield opened
    finally:
        if schema is not None:
            async with opened.engine.begin() as connection:
                await connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        await opened.close()


@pytest.fixture
async def seeded(registry: Registry) -> Registry:
    await seed(registry)
    return registry


@pytest.fixture
async def reference(registry: Registry) -> Registry:
    """A registry holding the departments, bureaus and systems, and no items."""
    await seed(registry, reference_only=True)
    return registry


@pytest.fixture
def ledger(registry: Registry) -> Ledger:
    return Ledger(registry)
