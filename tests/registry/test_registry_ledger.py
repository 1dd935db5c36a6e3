"""Ledger mutations: the lifecycle, accounts, cancellations, idempotency, history."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from sqlalchemy import func, select

from domain.errors import IllegalTransition, InvalidInput, NotFound
from registry import service
from registry.models import Category, HistoryEntry, IdempotencyKey, Mode, Origin, Status
from registry.queries import get_item, item_history
from registry.service import Ledger, NewItem
from registry.store import Registry

NEW = NewItem(
    code="430400-XK-SZJJ-901",
    name="建设工程分阶段施工许可（地上部分）",
    category=Category.LICENSING,
    mode=Mode.DIRECT,
    source_bureau_code="SZJJ",
    system_code="GCJS",
    origin=Origin.ADDED,
    delegated_on=date(2023, 3, 1),
)


async def _history_count(registry: Registry) -> int:
    async with registry.sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(HistoryEntry)) or 0


async def test_an_added_item_walks_the_whole_lifecycle(reference: Registry, ledger: Ledger) -> None:
    item = await ledger.add_item(NEW, idempotency_key="add-1", actor="李主任")
    assert (item.status, item.origin, item.department_code) == (Status.DELEGATED, Origin.ADDED, None)
    await ledger.record_event(
        NEW.code, "ASSIGNED", department_code="JSJ", idempotency_key="k1", actor="李主任"
    )
    await ledger.record_event(NEW.code, Status.ACCOUNT_REQUESTED, idempotency_key="k2")
    await ledger.assign_account(
        department_code="JSJ", system_code="GCJS", holder="周敏", role="经办人", idempotency_key="acc-1"
    )
    for n, step in enumerate((Status.ACCOUNT_ISSUED, Status.GUIDED, Status.TAKEN_OVER)):
        item = await ledger.record_event(NEW.code, step, idempotency_key=f"s{n}", note="市住建局现场指导")
    assert item.status is Status.TAKEN_OVER
    history = await item_history(reference, NEW.code)
    statuses = [(h.old_value, h.new_value) for h in history if h.field == "status"]
    assert statuses == [
        (None, "DELEGATED"),
        ("DELEGATED", "ASSIGNED"),
        ("ASSIGNED", "ACCOUNT_REQUESTED"),
        ("ACCOUNT_REQUESTED", "ACCOUNT_ISSUED"),
        ("ACCOUNT_ISSUED", "GUIDED"),
        ("GUIDED", "TAKEN_OVER"),
    ]
    assigned = [h for h in history if h.field == "department_code"]
    assert [(h.actor, h.new_value, h.idempotency_key) for h in assigned] == [("李主任", "JSJ", "k1")]
    assert all(h.at.tzinfo is not None for h in history)


async def test_a_skipped_step_is_refused_naming_the_transition_and_why(
    reference: Registry, ledger: Ledger
) -> None:
    await ledger.add_item(NEW, idempotency_key="add")
    await ledger.record_event(NEW.code, "ASSIGNED", department_code="JSJ", idempotency_key="a")
    before = await _history_count(reference)
    with pytest.raises(IllegalTransition) as caught:
        await ledger.record_event(NEW.code, "TAKEN_OVER", idempotency_key="jump")
    error = caught.value
    assert error.transition == "ASSIGNED → TAKEN_OVER"
    assert "skips ACCOUNT_REQUESTED, ACCOUNT_ISSUED, GUIDED" in str(error)
    assert error.extensions()["code"] == "ILLEGAL_TRANSITION"
    assert await _history_count(reference) == before
    assert (await get_item(reference, NEW.code)).status is Status.ASSIGNED  # type: ignore[union-attr]


async def test_backwards_repeated_and_after_cancel_are_refused(reference: Registry, ledger: Ledger) -> None:
    await ledger.add_item(NEW, idempotency_key="add")
    await ledger.record_event(NEW.code, "ASSIGNED", department_code="JSJ", idempotency_key="a")
    await ledger.record_event(NEW.code, "ACCOUNT_REQUESTED", idempotency_key="b")
    with pytest.raises(IllegalTransition, match="only moves forward"):
        await ledger.record_event(NEW.code, "ASSIGNED", idempotency_key="back")
    with pytest.raises(IllegalTransition, match="already ACCOUNT_REQUESTED"):
        await ledger.record_event(NEW.code, "ACCOUNT_REQUESTED", idempotency_key="again")
    await ledger.cancel_item(
        NEW.code, reason="无实质内容", idempotency_key="c", cancelled_on=date(2023, 6, 1)
    )
    with pytest.raises(IllegalTransition, match=r"cancelled on 2023-06-01 \(无实质内容\)"):
        await ledger.record_event(NEW.code, "ACCOUNT_ISSUED", idempotency_key="d")
    with pytest.raises(IllegalTransition, match="CANCELLED → CANCELLED"):
        await ledger.cancel_item(NEW.code, reason="again", idempotency_key="e")


async def test_issuing_needs_an_active_account(reference: Registry, ledger: Ledger) -> None:
    await ledger.add_item(NEW, idempotency_key="add")
    await ledger.record_event(NEW.code, "ASSIGNED", department_code="JSJ", idempotency_key="a")
    await ledger.record_event(NEW.code, "ACCOUNT_REQUESTED", idempotency_key="b")
    with pytest.raises(IllegalTransition, match="holds no active account on business system GCJS"):
        await ledger.record_event(NEW.code, "ACCOUNT_ISSUED", idempotency_key="c")


async def test_bad_input_is_reported_as_such(reference: Registry, ledger: Ledger) -> None:
    await ledger.add_item(NEW, idempotency_key="add")
    with pytest.raises(InvalidInput, match="departmentCode"):
        await ledger.record_event(NEW.code, "ASSIGNED", idempotency_key="a")
    with pytest.raises(NotFound, match="no department NOPE"):
        await ledger.record_event(NEW.code, "ASSIGNED", department_code="NOPE", idempotency_key="b")
    with pytest.raises(InvalidInput, match="unknown lifecycle event"):
        await ledger.record_event(NEW.code, "FINISHED", idempotency_key="c")
    with pytest.raises(InvalidInput, match="needs a reason"):
        await ledger.record_event(NEW.code, "CANCELLED", idempotency_key="d")
    with pytest.raises(InvalidInput, match="reason must not be empty"):
        await ledger.cancel_item(NEW.code, reason="  ", idempotency_key="e")
    with pytest.raises(InvalidInput, match="idempotencyKey must not be empty"):
        await ledger.cancel_item(NEW.code, reason="x", idempotency_key="")
    with pytest.raises(NotFound, match="no delegated item X-1"):
        await ledger.record_event("X-1", "ASSIGNED", department_code="JSJ", idempotency_key="f")
    with pytest.raises(InvalidInput, match="already in the ledger"):
        await ledger.add_item(NEW, idempotency_key="add-again")


async def test_a_retried_mutation_changes_nothing_twice(reference: Registry, ledger: Ledger) -> None:
    await ledger.add_item(NEW, idempotency_key="add")
    first = await ledger.record_event(NEW.code, "ASSIGNED", department_code="JSJ", idempotency_key="retry-me")
    before = await _history_count(reference)
    again = await ledger.record_event(NEW.code, "ASSIGNED", department_code="JSJ", idempotency_key="retry-me")
    assert (again.code, again.status) == (first.code, first.status)
    assert await _history_count(reference) == before
    account = await ledger.assign_account(
        department_code="JSJ", system_code="GCJS", holder="周敏", role="经办人", idempotency_key="acc"
    )
    same = await ledger.assign_account(
        department_code="JSJ", system_code="GCJS", holder="周敏", role="经办人", idempotency_key="acc"
    )
    assert same.id == account.id
    with pytest.raises(InvalidInput, match="already used for a different request"):
        await ledger.assign_account(
            department_code="JSJ", system_code="GCJS", holder="王芳", role="经办人", idempotency_key="acc"
        )
    async with reference.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(IdempotencyKey)) == 3


async def test_concurrent_retries_apply_once(reference: Registry, ledger: Ledger) -> None:
    await ledger.add_item(NEW, idempotency_key="add")
    results = await asyncio.gather(
        *(
            ledger.record_event(NEW.code, "ASSIGNED", department_code="JSJ", idempotency_key="same")
            for _ in range(4)
        )
    )
    assert {r.status for r in results} == {Status.ASSIGNED}
    history = await item_history(reference, NEW.code)
    assert [h.new_value for h in history if h.field == "status"] == ["DELEGATED", "ASSIGNED"]


async def test_history_lands_in_the_same_transaction(
    reference: Registry, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ledger.add_item(NEW, idempotency_key="add")
    before = await _history_count(reference)
    record = service._Writer.record

    def record_then_fail(self, entity, key, field, old, new, reason=None):  # type: ignore[no-untyped-def]
        record(self, entity, key, field, old, new, reason)
        if field == "status":  # the department change is already staged: both must vanish
            raise RuntimeError("crash between the change and the commit")

    monkeypatch.setattr(service._Writer, "record", record_then_fail)
    with pytest.raises(RuntimeError):
        await ledger.record_event(NEW.code, "ASSIGNED", department_code="JSJ", idempotency_key="crash")
    monkeypatch.undo()
    item = await get_item(reference, NEW.code)
    assert item is not None and (item.status, item.department_code) == (Status.DELEGATED, None)
    assert await _history_count(reference) == before
    # The key was not spent: the retry applies.
    again = await ledger.record_event(NEW.code, "ASSIGNED", department_code="JSJ", idempotency_key="crash")
    assert again.status is Status.ASSIGNED


async def test_accounts_are_assigned_and_revoked_with_reasons(reference: Registry, ledger: Ledger) -> None:
    account = await ledger.assign_account(
        department_code="HBJ",
        system_code="PWXK",
        holder="赵静",
        role="审核人",
        requested_on=date(2023, 1, 3),
        issued_on=date(2023, 1, 10),
        idempotency_key="a",
    )
    assert account.active and account.issued_on == date(2023, 1, 10)
    with pytest.raises(InvalidInput, match="already holds account"):
        await ledger.assign_account(
            department_code="HBJ", system_code="PWXK", holder="赵静", role="审核人", idempotency_key="b"
        )
    revoked = await ledger.revoke_account(
        account.id, reason="人员调岗", idempotency_key="c", revoked_on=date(2023, 5, 1)
    )
    assert not revoked.active and revoked.revoke_reason == "人员调岗"
    with pytest.raises(IllegalTransition, match="already revoked on 2023-05-01"):
        await ledger.revoke_account(account.id, reason="again", idempotency_key="d")
    with pytest.raises(NotFound):
        await ledger.revoke_account(99999, reason="x", idempotency_key="e")
    with pytest.raises(NotFound, match="no business system NOPE"):
        await ledger.assign_account(
            department_code="HBJ", system_code="NOPE", holder="x", role="y", idempotency_key="f"
        )
    async with reference.sessionmaker() as session:
        rows = list(
            await session.scalars(
                select(HistoryEntry).where(HistoryEntry.entity == "account").order_by(HistoryEntry.id)
            )
        )
    assert [r.field for r in rows] == ["account", "requested_on", "issued_on", "revoked_on"]
    assert rows[-1].reason == "人员调岗"
