"""Opening the registry database: engine, sessions, migrations.

``await Registry.open(url)`` accepts the URLs people write (``sqlite:///x.db``,
``postgresql://host/db``) and picks the async driver; it upgrades the schema to
the newest Alembic revision unless told not to. Migrations run programmatically
from the packaged ``registry/migrations`` directory: no ``alembic.ini`` needed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool

from domain.errors import InvalidInput
from registry.access_log import close_access_log

MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant works; it keeps two replicas from migrating the same database at once.
_MIGRATION_LOCK = 7_346_012


def async_url(database_url: str | URL) -> URL:
    """Normalise a database URL to an async driver (aiosqlite or asyncpg)."""
    try:
        url = make_url(database_url)
    except ArgumentError as exc:
        raise InvalidInput("the registry database URL cannot be parsed", argument="database_url") from exc
    backend, _, driver = url.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "aiosqlite", "pysqlite"):
        return url.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres") and driver in ("", "asyncpg", "psycopg2", "psycopg"):
        return url.set(drivername="postgresql+asyncpg")
    raise InvalidInput(
        f"unsupported registry database {url.drivername!r}: use sqlite:///FILE or postgresql://HOST/DB",
        argument="database_url",
    )


def alembic_config(url: URL | None = None) -> Config:
    """An Alembic configuration built in code from the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.render_as_string(hide_password=False))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _upgrade(connection: Connection, revision: str, schema: str | None) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        if schema is not None:
            quoted = connection.dialect.identifier_preparer.quote_identifier(schema)
            connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


class Registry:
    """The registry database: an async engine and its sessions.

    Args:
        engine: an async engine (see ``Registry.open``).
        schema: the PostgreSQL schema the engine's ``search_path`` names, if any.
    """

    def __init__(self, engine: AsyncEngine, *, schema: str | None = None) -> None:
        self.engine = engine
        self.schema = schema
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            engine, expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @classmethod
    async def open(
        cls,
        database_url: str | URL,
        *,
        migrate: bool = True,
        schema: str | None = None,
        echo: bool = False,
    ) -> Registry:
        """Connect, and upgrade the schema to the newest revision when ``migrate``.

        Args:
            database_url: ``sqlite:///FILE`` (default driver aiosqlite) or
                ``postgresql://HOST/DB`` (asyncpg); async driver names are accepted too.
            migrate: run pending Alembic migrations (under a PostgreSQL advisory lock).
            schema: PostgreSQL only: the schema to work in (its ``search_path``).
            echo: log SQL.
        """
        registry = cls(_create_engine(async_url(database_url), schema=schema, echo=echo), schema=schema)
        if migrate:
            try:
                await registry.migrate()
            except BaseException:
                await registry.close()
                raise
        return registry

    async def migrate(self, revision: str = "head") -> str | None:
        """Upgrade to ``revision``; returns the revision the database is at afterwards."""
        async with self.engine.begin() as connection:
            await connection.run_sync(_upgrade, revision, self.schema)
        return await self.current_revision()

    async def current_revision(self) -> str | None:
        async with self.engine.connect() as connection:
            return await connection.run_sync(_current)

    async def close(self) -> None:
        await close_access_log(self.sessionmaker)  # its writer thread and connection, if any
        await self.engine.dispose()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session in a write transaction, committed on success, rolled back on error.

        On SQLite the transaction starts with ``BEGIN IMMEDIATE``, so a writer that
        first reads (the idempotency check) cannot deadlock with another writer.
        """
        async with self.sessionmaker() as session, session.begin():
            await session.connection(execution_options={"sqlite_immediate": True})
            yield session

    async def __aenter__(self) -> Registry:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def migrate(database_url: str | URL, *, schema: str | None = None) -> str | None:
    """Upgrade the database at ``database_url`` to head; returns the revision."""
    registry = await Registry.open(database_url, migrate=False, schema=schema)
    try:
        return await registry.migrate()
    finally:
        await registry.close()


def _create_engine(url: URL, *, schema: str | None, echo: bool) -> AsyncEngine:
    kwargs: dict[str, Any] = {"echo": echo}
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):
            # One shared connection, or every session would see its own empty database.
            kwargs["poolclass"] = StaticPool
        else:
            folder = Path(url.database).expanduser().resolve().parent
            if not folder.is_dir():
                raise InvalidInput(
                    f"the registry database folder {folder} does not exist", argument="database_url"
                )
        kwargs["connect_args"] = {"timeout": 30}
        engine = create_async_engine(url, **kwargs)
        _sqlite_transactions(engine)
        return engine
    connect_args: dict[str, Any] = {}
    if schema is not None:
        connect_args["server_settings"] = {"search_path": schema}
    return create_async_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def _sqlite_transactions(engine: AsyncEngine) -> None:
    """Let SQLAlchemy, not the driver, emit BEGIN (the documented aiosqlite recipe).

    This gives transactional DDL for migrations and ``BEGIN IMMEDIATE`` for writes.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA cache_size = -65536")  # 64 MiB: the coverage scan and bulk imports
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
