"""Registry integrity: no doubled active account under concurrency; one error per bad input.

Every test runs on SQLite and on PostgreSQL (``registry`` fixture). "Two replicas"
are two ``Registry`` objects (two engines, two connection pools) on the same
database, each driving its own ``Ledger``, as two hub processes would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from domain.errors import HubError, InvalidInput
from registry.models import Account, HistoryEntry, IdempotencyKey, bounded_actor, table_of
from registry.service import Ledger
from registry.store import Registry
from tests.registry.test_registry_ledger import NEW

PAIRS = 50


@pytest.fixture
async def replica(reference: Registry) -> AsyncIterator[Registry]:
    """A second registry (its own engine and pool) on the same database and schema."""
    url = reference.engine.url.render_as_string(hide_password=False)
    second = await Registry.open(url, schema=reference.schema, migrate=False)
    try:
        yield second
    finally:
        await second.close()


async def _active_accounts(registry: Registry) -> dict[str, int]:
    async with registry.sessionmaker() as session:
        rows = await session.execute(
            select(Account.holder, func.count()).where(Account.revoked_on.is_(None)).group_by(Account.holder)
        )
        return {holder: n for holder, n in rows}


async def _race(ledgers: tuple[Ledger, Ledger]) -> list[Any]:
    """50 holders, each assigned twice at once with different idempotency keys."""

    def assign(ledger: Ledger, holder: str, key: str) -> Awaitable[Account]:
        return ledger.assign_account(
            department_code="JSJ", system_code="GCJS", holder=holder, role="经办人", idempotency_key=key
        )

    calls = []
    for n in range(PAIRS):
        holder = f"经办人{n:02d}"
        calls += [assign(ledgers[0], holder, f"a-{n}"), assign(ledgers[1], holder, f"b-{n}")]
    return await asyncio.gather(*calls, return_exceptions=True)


@pytest.mark.parametrize("replicas", [1, 2], ids=["one-replica", "two-replicas"])
async def test_concurrent_duplicate_assignments_leave_one_active_account_each(
    reference: Registry, replica: Registry, replicas: int
) -> None:
    first = Ledger(reference)
    ledgers = (first, Ledger(replica) if replicas == 2 else first)
    results = await _race(ledgers)
    assert await _active_accounts(reference) == {f"经办人{n:02d}": 1 for n in range(PAIRS)}
    for n in range(PAIRS):
        pair = results[2 * n : 2 * n + 2]
        won = [r for r in pair if isinstance(r, Account)]
        lost = [r for r in pair if not isinstance(r, Account)]
        assert len(won) == 1 and len(lost) == 1, pair
        # The loser gets the service's own clear error, never a database error.
        assert isinstance(lost[0], InvalidInput) and "already holds account" in str(lost[0])
    async with reference.sessionmaker() as session:
        keys = await session.scalar(select(func.count()).select_from(IdempotencyKey))
    assert keys == PAIRS  # the refused requests recorded nothing


async def test_the_database_itself_refuses_a_second_active_account(reference: Registry) -> None:
    row = {
        "system_code": "GCJS",
        "department_code": "JSJ",
        "holder": "周敏",
        "role": "经办人",
        "requested_on": date(2023, 1, 1),
        "issued_on": date(2023, 1, 2),
    }
    async with reference.write() as session:
        await session.execute(insert(table_of(Account)), [row])
    with pytest.raises(IntegrityError):
        async with reference.write() as session:
            await session.execute(insert(table_of(Account)), [row])
    # A revoked one does not count: the index is partial.
    async with reference.write() as session:
        await session.execute(insert(table_of(Account)), [{**row, "revoked_on": date(2023, 2, 1)}])
    assert await _active_accounts(reference) == {"周敏": 1}


# -- input rules: the same error on both backends, nothing written ----------------------------

ZWSP = "\u200b"
Change = Callable[[Ledger], Awaitable[object]]


def _new(**changes: Any) -> Change:
    from dataclasses import replace

    return lambda ledger: ledger.add_item(replace(NEW, **changes), idempotency_key="k")


def _assign(**changes: Any) -> Change:
    args: dict[str, Any] = {
        "department_code": "JSJ",
        "system_code": "GCJS",
        "holder": "周敏",
        "role": "经办人",
    }
    args.update(changes)
    return lambda ledger: ledger.assign_account(**args, idempotency_key="k")


def _cancel(**changes: Any) -> Change:
    args: dict[str, Any] = {"reason": "并入其他事项办理"}
    args.update(changes)
    return lambda ledger: ledger.cancel_item(NEW.code, **args, idempotency_key="k")


def _event(**changes: Any) -> Change:
    args: dict[str, Any] = {"department_code": "JSJ"}
    args.update(changes)
    return lambda ledger: ledger.record_event(NEW.code, "ASSIGNED", **args, idempotency_key="k")


BAD: list[tuple[str, Change, str]] = [
    ("blank code", _new(code="   "), "code must not be empty"),
    ("blank name", _new(name=""), "name must not be empty"),
    ("zero-width name", _new(name=ZWSP * 3), "name must not be empty"),
    ("over-long code", _new(code="C" * 65), "code is longer than 64 characters"),
    ("over-long name", _new(name="名" * 201), "name is longer than 200 characters"),
    ("NUL in name", _new(name="许可\x00"), "name contains a control character (U+0000)"),
    ("newline in code", _new(code="430400-XK\n-1"), "code contains a control character (U+000A)"),
    ("space in code", _new(code="430400 XK 1"), "code must not contain spaces"),
    ("zero-width in code", _new(code=f"430400-XK-{ZWSP}1"), "code contains an invisible character (U+200B)"),
    ("system of another bureau", _new(system_code="XFJD"), "business system XFJD belongs to bureau SXFZ"),
    ("future delegation", _new(delegated_on=date(2999, 1, 1)), "delegatedOn is in the future"),
    ("blank holder", _assign(holder=" \t "), "holder must not be empty"),
    ("over-long holder", _assign(holder="h" * 65), "holder is longer than 64 characters"),
    ("NUL in holder", _assign(holder="周\x00敏"), "holder contains a control character (U+0000)"),
    ("over-long role", _assign(role="r" * 33), "role is longer than 32 characters"),
    (
        "requested after issued",
        _assign(requested_on=date(2023, 5, 1), issued_on=date(2023, 4, 1)),
        "requestedOn is after issuedOn",
    ),
    ("blank reason", _cancel(reason="  "), "reason must not be empty"),
    ("zero-width reason", _cancel(reason=ZWSP), "reason must not be empty"),
    ("punctuation-only reason", _cancel(reason="…"), "reason must say why, in words"),
    ("NUL in reason", _cancel(reason="并入\x00"), "reason contains a control character (U+0000)"),
    ("over-long reason", _cancel(reason="因" * 2001), "reason is longer than 2000 characters"),
    (
        "cancelled before delegated",
        _cancel(cancelled_on=date(2023, 2, 28)),
        "cancelledOn 2023-02-28 is before the item was delegated (2023-03-01)",
    ),
    ("NUL in note", _event(note="\x00"), "note contains a control character (U+0000)"),
    ("over-long department", _event(department_code="D" * 65), "departmentCode is longer than 64"),
]


@pytest.mark.parametrize(("change", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
async def test_bad_input_is_one_clear_error_and_writes_nothing(
    reference: Registry, change: Change, message: str
) -> None:
    ledger = Ledger(reference)
    await ledger.add_item(NEW, idempotency_key="add")

    async def counts() -> tuple[int, int, int]:
        async with reference.sessionmaker() as session:
            return (
                await session.scalar(select(func.count()).select_from(HistoryEntry)) or 0,
                await session.scalar(select(func.count()).select_from(IdempotencyKey)) or 0,
                await session.scalar(select(func.count()).select_from(Account)) or 0,
            )

    before = await counts()
    with pytest.raises(HubError) as refused:
        await change(ledger)
    assert isinstance(refused.value, InvalidInput), refused.value
    assert message in str(refused.value)
    assert await counts() == before


async def test_free_text_keeps_line_breaks_and_a_real_reason_passes(reference: Registry) -> None:
    ledger = Ledger(reference)
    await ledger.add_item(NEW, idempotency_key="add")
    cancelled = await ledger.cancel_item(
        NEW.code,
        reason=f"{ZWSP} 无实质内容\n并入其他事项 ",
        idempotency_key="c",
        cancelled_on=date(2023, 6, 1),
    )
    assert cancelled.cancel_reason == "无实质内容\n并入其他事项"


async def test_a_long_principal_id_can_run_mutations(reference: Registry) -> None:
    subject = "https://idp.zone.internal/users/" + "x" * 300
    ledger = Ledger(reference)
    await ledger.add_item(NEW, idempotency_key="add", actor=subject)
    async with reference.sessionmaker() as session:
        actors = set(await session.scalars(select(HistoryEntry.actor)))
    assert actors == {bounded_actor(subject)}
    stored = bounded_actor(subject)
    assert len(stored) <= 128 and stored != bounded_actor(subject + "y")
