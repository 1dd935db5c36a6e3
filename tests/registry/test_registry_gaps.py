"""One test per gap kind: make the gap on the seeded ledger, see it reported."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import delete, insert, select, update

from registry.coverage import GapKind, delegation_coverage, item_groups
from registry.models import Account, Category, DelegatedItem, Department, HistoryEntry, Mode, Origin, Status
from registry.queries import item_history
from registry.service import Ledger, NewItem
from registry.store import Registry


def _of(coverage, kind):  # type: ignore[no-untyped-def]
    return [g for g in coverage.gaps if g.kind is kind]


async def test_taken_over_items_without_an_active_account(seeded: Registry) -> None:
    ledger = Ledger(seeded)
    async with seeded.sessionmaker() as session:
        account = await session.scalar(
            select(Account).where(Account.department_code == "HBJ", Account.system_code == "PWXK")
        )
        expected = set(
            await session.scalars(
                select(DelegatedItem.code).where(
                    DelegatedItem.department_code == "HBJ",
                    DelegatedItem.system_code == "PWXK",
                    DelegatedItem.status == Status.TAKEN_OVER,
                )
            )
        )
    assert account is not None and expected
    await ledger.revoke_account(account.id, reason="人员离职", idempotency_key="revoke")
    coverage = await delegation_coverage(seeded)
    gaps = _of(coverage, GapKind.TAKEN_OVER_WITHOUT_ACCOUNT)
    assert {g.item_code for g in gaps} == expected
    assert coverage.gap_counts[GapKind.TAKEN_OVER_WITHOUT_ACCOUNT] == len(expected)
    assert all(g.department_code == "HBJ" and g.system_code == "PWXK" for g in gaps)
    assert "全国排污许可证管理信息平台" in gaps[0].detail
    assert coverage.totals.taken_over == 346  # the figures stand; the gap says what is wrong


async def test_departments_without_any_account(seeded: Registry) -> None:
    async with seeded.write() as session:
        await session.execute(
            insert(Department), [{"code": "TZJ", "name": "高新区投资促进局", "sort_order": 12}]
        )
    coverage = await delegation_coverage(seeded)
    gaps = _of(coverage, GapKind.DEPARTMENT_WITHOUT_ACCOUNT)
    assert [(g.department_code, g.detail) for g in gaps] == [
        ("TZJ", "高新区投资促进局 holds no active business-system account")
    ]
    assert coverage.departments == 12  # it receives no items either


async def test_cancelled_items_still_holding_accounts(seeded: Registry) -> None:
    ledger = Ledger(seeded)
    new = NewItem(
        code="430400-XK-SWLJ-901",
        name="营业性演出审批（涉外）",
        category=Category.LICENSING,
        mode=Mode.DIRECT,
        source_bureau_code="SWLJ",
        system_code="WLSC",
        department_code="SYJ",
        origin=Origin.ADDED,
    )
    await ledger.add_item(new, idempotency_key="add")
    await ledger.record_event(new.code, "ACCOUNT_REQUESTED", idempotency_key="r")
    coverage = await delegation_coverage(seeded)
    # SYJ already uses WLSC for 高危险性体育项目经营许可, so cancelling leaves the account needed.
    await ledger.cancel_item(new.code, reason="无实质内容", idempotency_key="c")
    coverage = await delegation_coverage(seeded)
    assert coverage.gap_counts[GapKind.CANCELLED_HOLDING_ACCOUNT] == 0
    # On a system the department uses for nothing else, the account outlives its purpose.
    other = NewItem(
        code="430400-XK-SSWJ-901",
        name="对外劳务合作经营资格核准",
        category=Category.LICENSING,
        mode=Mode.DIRECT,
        source_bureau_code="SSWJ",
        system_code="SWBA",
        department_code="JFJ",
        origin=Origin.ADDED,
    )
    await ledger.add_item(other, idempotency_key="add-2")
    account = await ledger.assign_account(
        department_code="JFJ", system_code="SWBA", holder="钱伟", role="经办人", idempotency_key="acc"
    )
    await ledger.cancel_item(other.code, reason="上位法调整，事项取消", idempotency_key="c-2")
    coverage = await delegation_coverage(seeded)
    gaps = _of(coverage, GapKind.CANCELLED_HOLDING_ACCOUNT)
    assert [(g.item_code, g.department_code, g.system_code) for g in gaps] == [(other.code, "JFJ", "SWBA")]
    await ledger.revoke_account(account.id, reason="事项已取消", idempotency_key="rev")
    assert (await delegation_coverage(seeded)).gap_counts[GapKind.CANCELLED_HOLDING_ACCOUNT] == 0


async def test_histories_that_skip_a_step(seeded: Registry) -> None:
    # Legacy rows written around the ledger service, as a spreadsheet migration might.
    at = datetime(2022, 1, 5, 1, 30, tzinfo=UTC)
    async with seeded.write() as session:
        rows = [(None, "DELEGATED"), ("DELEGATED", "ASSIGNED"), ("ASSIGNED", "GUIDED")]
        await session.execute(
            insert(HistoryEntry),
            [
                {
                    "at": at,
                    "actor": "legacy",
                    "entity": "item",
                    "entity_key": "LEGACY-1",
                    "field": "status",
                    "old_value": old,
                    "new_value": new,
                }
                for old, new in rows
            ],
        )
        await session.execute(
            insert(DelegatedItem),
            [
                {
                    "code": "LEGACY-1",
                    "name": "旧台账事项",
                    "category": Category.OTHER,
                    "mode": Mode.DIRECT,
                    "origin": Origin.ORIGINAL,
                    "status": Status.GUIDED,
                    "source_bureau_code": "SFGW",
                    "department_code": "JFJ",
                    "system_code": "TZSP",
                    "delegated_on": date(2021, 6, 30),
                    "updated_at": at,
                },
            ],
        )
    coverage = await delegation_coverage(seeded)
    gaps = _of(coverage, GapKind.HISTORY_SKIPS_STEP)
    assert [(g.item_code, g.detail) for g in gaps] == [
        ("LEGACY-1", "history records ASSIGNED → GUIDED, which the lifecycle does not allow"),
    ]
    assert coverage.gap_counts[GapKind.HISTORY_SKIPS_STEP] == 1


async def test_status_changes_around_the_service_are_recorded_and_caught(seeded: Registry) -> None:
    async with seeded.write() as session:
        victim = await session.scalar(
            select(DelegatedItem.code)
            .where(DelegatedItem.status == Status.TAKEN_OVER)
            .order_by(DelegatedItem.code)
        )
        await session.execute(
            update(DelegatedItem).where(DelegatedItem.code == victim).values(status=Status.ACCOUNT_ISSUED)
        )
        # An item entered with no history at all.
        await session.execute(
            insert(DelegatedItem),
            [
                {
                    "code": "BARE-1",
                    "name": "无记录事项",
                    "category": Category.OTHER,
                    "mode": Mode.DIRECT,
                    "origin": Origin.ORIGINAL,
                    "status": Status.TAKEN_OVER,
                    "source_bureau_code": "SFGW",
                    "department_code": "JFJ",
                    "system_code": "TZSP",
                    "delegated_on": date(2021, 6, 30),
                    "updated_at": datetime(2022, 1, 5, tzinfo=UTC),
                },
            ],
        )
    assert victim is not None
    recorded = await item_history(seeded, victim)
    assert (recorded[-1].actor, recorded[-1].old_value, recorded[-1].new_value) == (
        "database",
        "TAKEN_OVER",
        "ACCOUNT_ISSUED",
    )
    assert recorded[-1].at.tzinfo is not None
    gaps = _of(await delegation_coverage(seeded), GapKind.HISTORY_SKIPS_STEP)
    assert [(g.item_code, g.detail) for g in gaps] == [
        (victim, "history records TAKEN_OVER → ACCOUNT_ISSUED, which the lifecycle does not allow"),
        ("BARE-1", "history records (nothing) → TAKEN_OVER, which the lifecycle does not allow"),
    ]


async def test_the_tally_stays_in_step_with_the_items(seeded: Registry) -> None:
    """The counts coverage reads equal a fresh GROUP BY after inserts, updates and deletes."""
    ledger = Ledger(seeded)
    new = NewItem(
        code="430400-QT-SFGW-901",
        name="重大项目协调服务",
        category=Category.OTHER,
        mode=Mode.ENTRUSTED,
        source_bureau_code="SFGW",
        system_code="TZSP",
        origin=Origin.ADDED,
    )
    await ledger.add_item(new, idempotency_key="add")  # unassigned: counted under ''
    await ledger.record_event(new.code, "ASSIGNED", department_code="JFJ", idempotency_key="a")
    async with seeded.write() as session:
        first = await session.scalar(select(DelegatedItem.code).order_by(DelegatedItem.code))
        moved = update(DelegatedItem).where(DelegatedItem.code == first).values(department_code="SPJ")
        await session.execute(moved)
        # A penalty item: no catalogue item links it (the catalogue's links keep theirs).
        await session.execute(delete(DelegatedItem).where(DelegatedItem.code == "430400-CF-SZJJ-001"))
    async with seeded.sessionmaker() as session:
        tallied = sorted(map(tuple, await item_groups(session)))
        counted = sorted(map(tuple, await item_groups(session, from_tally=False)))
    assert tallied == counted
    assert (await delegation_coverage(seeded)).unassigned == 0
