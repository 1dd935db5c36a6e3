"""The access log: every read recorded, chain verified, tampering named, auditors can query it."""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select, text

from domain.principal import Role
from gateway.commands import audit_verify
from registry import access_log as log
from registry.store import Registry
from tests.security.conftest import ACME, P1, P3, SecureHub

CASE = "HY-2026-110-000123"


def reads(n: int, *, who: str = "u1") -> list[log.Read]:
    return [
        log.Read(
            principal=who,
            role="WINDOW_STAFF",
            purpose=CASE,
            request_id=f"r{i}",
            request_hash="a" * 64,
            kind="matter",
            object_id=P1,
            fields=("name", "stages.items.status"),
            at=datetime.now(UTC),
        )
        for i in range(n)
    ]


async def entries(registry: Registry) -> list[Any]:
    async with registry.sessionmaker() as session:
        return list((await session.execute(select(log.access_log).order_by(log.access_log.c.id))).all())


async def verify(registry: Registry, **kw: Any) -> log.BadEntry | None:
    async with registry.sessionmaker() as session:
        return await log.verify(session, **kw)


async def tamper(registry: Registry, sql: str) -> None:
    """What someone with the database's owner rights could do: drop the guard, then edit."""
    async with registry.engine.begin() as connection:
        if registry.dialect == "sqlite":
            await connection.execute(text("DROP TRIGGER IF EXISTS access_log_no_update"))
            await connection.execute(text("DROP TRIGGER IF EXISTS access_log_no_delete"))
        else:
            await connection.execute(text("ALTER TABLE access_log DISABLE TRIGGER USER"))
        await connection.execute(text(sql))


@pytest.fixture
async def registry(tmp_path: Path) -> Any:
    opened = await Registry.open(f"sqlite+aiosqlite:///{tmp_path / 'log.db'}")
    yield opened
    await opened.close()


# -- recording ----------------------------------------------------------------------------


async def test_a_read_is_recorded_with_who_why_and_what(secure_hub: SecureHub) -> None:
    query = f'{{ matter(projectCode: "{P1}") {{ name stages {{ items {{ status }} }} }} }}'
    body = await secure_hub.query(query, role=Role.ENTERPRISE, headers={"X-Case-Number": CASE})
    assert body["data"]["matter"]["name"]
    [entry] = await entries(secure_hub.registry)
    assert (entry.principal, entry.role, entry.purpose) == ("test-enterprise", "ENTERPRISE", CASE)
    assert (entry.kind, entry.object_id) == ("matter", P1)
    assert entry.fields == '["name","stages.items.status"]'
    assert entry.request_hash == log.request_hash(query, None, None)
    assert entry.prev_hash == log.GENESIS


async def test_each_object_of_a_list_is_recorded_and_hidden_ones_are_not(secure_hub: SecureHub) -> None:
    await secure_hub.query("{ matters { projectCode } }", role=Role.ENTERPRISE)
    await secure_hub.query(
        f'{{ enterprise(creditCode: "{ACME}") {{ name liaisonPhone }} }}', role=Role.ENTERPRISE
    )
    logged = [(e.kind, e.object_id) for e in await entries(secure_hub.registry)]
    assert logged == [("matter", P1), ("matter", "2023-430472-47-03-000002"), ("enterprise", ACME)]


async def test_refused_and_public_reads_write_nothing(secure_hub: SecureHub) -> None:
    await secure_hub.query(f'{{ matter(projectCode: "{P3}") {{ name }} }}', role=Role.ENTERPRISE)
    await secure_hub.query("{ approvalGuide }")
    await secure_hub.query("{ delegationCoverage }", role=Role.AUDITOR)
    assert await entries(secure_hub.registry) == []


async def test_concurrent_reads_keep_one_chain(secure_hub: SecureHub) -> None:
    await asyncio.gather(
        *(
            secure_hub.query(f'{{ matter(projectCode: "{P3}") {{ name }} }}', role=Role.WINDOW_STAFF)
            for _ in range(25)
        )
    )
    assert len(await entries(secure_hub.registry)) == 25
    assert await verify(secure_hub.registry) is None


async def test_no_log_no_data(secure_hub: SecureHub) -> None:
    async with secure_hub.registry.engine.begin() as connection:
        await connection.execute(text("DROP TABLE access_log"))
    response = await secure_hub.post(f'{{ matter(projectCode: "{P1}") {{ name }} }}', role=Role.WINDOW_STAFF)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "ACCESS_LOG_UNAVAILABLE"
    assert "access_log" not in body["errors"][0]["message"].replace("access log", "")


# -- the chain --------------------------------------------------------------------------------


async def test_an_intact_log_verifies(registry: Registry) -> None:
    assert await verify(registry) is None  # empty
    await log.append(registry.sessionmaker, reads(3))
    await log.append(registry.sessionmaker, reads(2))
    assert await verify(registry) is None
    rows = await entries(registry)
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]


async def test_the_database_refuses_updates_and_deletes(registry: Registry) -> None:
    await log.append(registry.sessionmaker, reads(1))
    for sql in ("UPDATE access_log SET principal = 'x'", "DELETE FROM access_log"):
        with pytest.raises(Exception, match="append-only"):
            async with registry.engine.begin() as connection:
                await connection.execute(text(sql))


@pytest.mark.parametrize(
    ("sql", "bad_id", "why"),
    [
        ("UPDATE access_log SET principal = 'someone-else' WHERE id = 3", 3, "altered"),
        ("UPDATE access_log SET fields = '[\"name\"]' WHERE id = 2", 2, "altered"),
        ("UPDATE access_log SET at = '2020-01-01 00:00:00.000000' WHERE id = 4", 4, "altered"),
        ("DELETE FROM access_log WHERE id = 3", 4, "removed"),
        ("DELETE FROM access_log WHERE id = 1", 2, "removed"),
        ("UPDATE access_log SET prev_hash = '" + "1" * 64 + "' WHERE id = 1", 1, "removed"),
    ],
)
async def test_verify_names_the_first_bad_entry(registry: Registry, sql: str, bad_id: int, why: str) -> None:
    await log.append(registry.sessionmaker, reads(5))
    await tamper(registry, sql)
    bad = await verify(registry)
    assert bad is not None
    assert bad.id == bad_id
    assert why in bad.reason


async def test_a_rehashed_entry_is_caught_at_the_next_one(registry: Registry) -> None:
    await log.append(registry.sessionmaker, reads(4))
    rows = await entries(registry)
    forged = SimpleNamespace(**{**rows[1]._asdict(), "principal": "someone-else"})
    new_hash = log.entry_hash(forged.prev_hash, forged)
    await tamper(
        registry, f"UPDATE access_log SET principal = 'someone-else', hash = '{new_hash}' WHERE id = 2"
    )
    bad = await verify(registry)
    assert bad is not None and bad.id == 3


async def test_an_anchor_catches_a_cut_off_tail(registry: Registry) -> None:
    await log.append(registry.sessionmaker, reads(4))
    async with registry.sessionmaker() as session:
        _, head_id, head_hash = await log.head(session)
    assert head_id is not None and head_hash is not None
    assert await verify(registry, anchor=(head_id, head_hash)) is None
    await tamper(registry, f"DELETE FROM access_log WHERE id = {head_id}")
    assert await verify(registry) is None  # a shorter chain is still a chain...
    bad = await verify(registry, anchor=(head_id, head_hash))
    assert bad is not None and bad.id == head_id  # ...but the anchor is gone


# -- the command ---------------------------------------------------------------------------------


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    audit_verify.add_arguments(parser)
    return audit_verify.run(parser.parse_args(list(argv)))


def test_audit_verify_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"

    async def setup() -> None:
        registry = await Registry.open(url)
        try:
            await log.append(registry.sessionmaker, reads(3))
        finally:
            await registry.close()

    async def alter() -> None:
        registry = await Registry.open(url, migrate=False)
        try:
            await tamper(registry, "UPDATE access_log SET purpose = 'HY-forged' WHERE id = 2")
        finally:
            await registry.close()

    asyncio.run(setup())
    assert _cli("--database-url", url) == 0
    assert "intact: 3 entries" in capsys.readouterr().out
    asyncio.run(alter())
    assert _cli("--database-url", url) == 1
    assert "BROKEN at entry 2" in capsys.readouterr().out


def test_audit_verify_reports_an_unreadable_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli("--database-url", f"sqlite:///{tmp_path / 'missing' / 'x.db'}") == 2
    assert _cli("--database-url", "mysql://h/db") == 2
    assert _cli("--database-url", f"sqlite:///{tmp_path / 'x.db'}", "--anchor", "nonsense") == 2
    assert "Traceback" not in capsys.readouterr().err


def test_audit_verify_on_a_missing_sqlite_file_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.db"
    assert _cli("--database-url", f"sqlite+aiosqlite:///{missing}") == 2
    assert capsys.readouterr().err.strip() == f"error: no registry database at {missing}"
    assert not missing.exists()


# -- GraphQL for auditors -----------------------------------------------------------------------------


async def test_auditors_page_and_filter_the_log(secure_hub: SecureHub) -> None:
    for code in (P1, P3, P1):
        await secure_hub.query(
            f'{{ matter(projectCode: "{code}") {{ name }} }}',
            role=Role.WINDOW_STAFF,
            headers={"X-Case-Number": CASE},
        )
    page = (
        "query($after: String) { accessLog(first: 2, after: $after) "
        "{ entries { id objectId purpose } endCursor hasNextPage } }"
    )
    first = (await secure_hub.query(page, role=Role.AUDITOR))["data"]["accessLog"]
    assert [e["objectId"] for e in first["entries"]] == [P1, P3]
    assert first["hasNextPage"] is True
    second = (await secure_hub.query(page, {"after": first["endCursor"]}, role=Role.AUDITOR))["data"][
        "accessLog"
    ]
    assert [e["objectId"] for e in second["entries"]] == [P1]
    assert second["hasNextPage"] is False
    filtered = await secure_hub.query(
        f'{{ accessLog(filter: {{objectId: "{P3}", caseNumber: "{CASE}"}}) {{ entries {{ objectId }} }} }}',
        role=Role.AUDITOR,
    )
    assert filtered["data"]["accessLog"]["entries"] == [{"objectId": P3}]
    integrity = await secure_hub.query(
        "{ accessLogIntegrity { intact entries firstBadId } }", role=Role.AUDITOR
    )
    assert integrity["data"]["accessLogIntegrity"] == {"intact": True, "entries": 3, "firstBadId": None}


@pytest.mark.parametrize(
    "arguments",
    [
        "first: 0",
        "first: 501",
        'after: "bm90LWEtY3Vyc29y"',
        'after: "%%%"',
        'filter: {since: "2026-01-01T00:00:00"}',
    ],
)
async def test_bad_log_arguments_are_clear_errors(secure_hub: SecureHub, arguments: str) -> None:
    body = await secure_hub.query(f"{{ accessLog({arguments}) {{ entries {{ id }} }} }}", role=Role.AUDITOR)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


# -- PostgreSQL ---------------------------------------------------------------------------------------


@pytest.mark.postgres
async def test_the_chain_on_postgresql() -> None:
    url = os.environ.get("ONEMATTER_TEST_DATABASE_URL")
    if not url:
        pytest.skip("ONEMATTER_TEST_DATABASE_URL is not set: no PostgreSQL to test against")
    schema = f"sec_{uuid.uuid4().hex[:12]}"
    registry = await Registry.open(url, schema=schema)
    try:
        await asyncio.gather(*(log.append(registry.sessionmaker, reads(3, who=f"u{i}")) for i in range(5)))
        assert len(await entries(registry)) == 15
        assert await verify(registry) is None
        with pytest.raises(Exception, match="append-only"):
            async with registry.engine.begin() as connection:
                await connection.execute(text("UPDATE access_log SET principal = 'x' WHERE id = 2"))
        await tamper(registry, "UPDATE access_log SET principal = 'x' WHERE id = 7")
        bad = await verify(registry)
        assert bad is not None and bad.id == 7
    finally:
        async with registry.engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await registry.close()


def _access_log_diff(connection: Any) -> list[object]:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from registry.models import Base

    context = MigrationContext.configure(connection, opts={"compare_type": True})

    def table_of(op: Any) -> str | None:
        if isinstance(op, list):
            return str(op[0][2])
        target = op[1]
        if op[0] in ("add_column", "remove_column"):
            return str(op[2])
        return (
            getattr(target, "name", None) if op[0].endswith("_table") else getattr(target.table, "name", None)
        )

    return [op for op in compare_metadata(context, Base.metadata) if table_of(op) == "access_log"]


async def test_the_migration_makes_exactly_the_table(registry: Registry) -> None:
    async with registry.engine.connect() as connection:
        assert await connection.run_sync(_access_log_diff) == []
