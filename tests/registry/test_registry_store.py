"""The store: URLs, migrations, the schema the migrations make, append-only history."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from domain.errors import InvalidInput
from registry.models import Base, HistoryEntry
from registry.store import Registry, async_url, head_revision


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///onematter.db", "sqlite+aiosqlite:///onematter.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://127.0.0.1:5432/test", "postgresql+asyncpg://127.0.0.1:5432/test"),
        ("postgres://u@db/hub", "postgresql+asyncpg://u@db/hub"),
        ("postgresql+asyncpg://db/hub", "postgresql+asyncpg://db/hub"),
    ],
)
def test_urls_get_the_async_driver(given: str, expected: str) -> None:
    assert async_url(given).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize("bad", ["mysql://db/hub", "not a url", "oracle+cx://x"])
def test_unsupported_urls_are_refused_clearly(bad: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        async_url(bad)
    assert caught.value.argument == "database_url"


async def test_a_missing_sqlite_folder_is_reported(tmp_path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        await Registry.open(f"sqlite:///{tmp_path}/nowhere/registry.db")


async def test_open_migrates_to_head_and_again_is_a_no_op(registry: Registry) -> None:
    assert await registry.current_revision() == head_revision()
    assert await registry.migrate() == head_revision()


LEDGER_TABLES = {
    "department",
    "bureau",
    "business_system",
    "delegated_item",
    "account",
    "history",
    "idempotency_key",
    "item_tally",
    "service_item",
    "service_material",
    "service_item_kind",
    "service_history",
}


def _table_of(op: object) -> str | None:
    if isinstance(op, list):  # modify_* ops come as lists of tuples naming the table third
        return str(op[0][2])
    assert isinstance(op, tuple)
    if op[0] in ("add_column", "remove_column"):
        return str(op[2])
    target = op[1]
    return getattr(target, "name", None) if op[0].endswith("_table") else getattr(target.table, "name", None)


def _ledger_diff(connection) -> list[object]:  # type: ignore[no-untyped-def]
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    # Other tables (the access log) belong to their own migrations and tests.
    return [op for op in compare_metadata(context, Base.metadata) if _table_of(op) in LEDGER_TABLES]


async def test_the_migration_makes_exactly_the_models(registry: Registry) -> None:
    async with registry.engine.connect() as connection:
        diff = await connection.run_sync(_ledger_diff)
    assert diff == []


async def test_history_is_append_only(registry: Registry) -> None:
    async with registry.write() as session:
        session.add(
            HistoryEntry(
                at=datetime.now(UTC),
                actor="t",
                entity="item",
                entity_key="X",
                field="note",
                old_value=None,
                new_value="v",
            )
        )
    for statement in ("UPDATE history SET actor = 'someone else'", "DELETE FROM history"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with registry.engine.begin() as connection:
                await connection.execute(text(statement))
    async with registry.engine.connect() as connection:
        assert (await connection.execute(text("SELECT actor FROM history"))).scalar_one() == "t"


async def test_status_history_takes_lifecycle_values_only(registry: Registry) -> None:
    with pytest.raises(IntegrityError):
        async with registry.write() as session:
            session.add(
                HistoryEntry(
                    at=datetime.now(UTC),
                    actor="t",
                    entity="item",
                    entity_key="X",
                    field="status",
                    old_value="DELEGATED",
                    new_value="DONE",
                )
            )
