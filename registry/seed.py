"""The seeded ledger (and with it the service catalogue): the zone report's story, deterministic.

346 city-level items were delegated (2021-06-30) and split over 12 departments;
each department was assigned its items, requested and received accounts on the
bureaus' business systems, was guided, and took the items over. In the dynamic
adjustment (2022-06-20) 12 items without substance were cancelled and 12 newly
applied licensing items were delegated and taken over in turn, so that 346 items
are in force and all 346 are taken over. Every step is in the history.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.errors import HubError
from registry import seed_data as data
from registry.bulk import bulk_insert
from registry.models import (
    LIFECYCLE,
    Account,
    Bureau,
    BusinessSystem,
    Category,
    DelegatedItem,
    Department,
    HistoryEntry,
    Mode,
    Origin,
    Status,
    table_of,
)
from registry.store import Registry

ACTOR = "seed"
CST = ZoneInfo("Asia/Shanghai")
DELEGATED_ON = date(2021, 6, 30)  # the city's delegation decision
ADJUSTED_ON = date(2022, 6, 20)  # the dynamic adjustment: cancellations and new items
# Days after the delegation (or the adjustment) each step was reached; departments stagger.
ORIGINAL_STEPS = {
    Status.ASSIGNED: 12,
    Status.ACCOUNT_REQUESTED: 26,
    Status.ACCOUNT_ISSUED: 47,
    Status.GUIDED: 68,
    Status.TAKEN_OVER: 89,
}
ADDED_STEPS = {
    Status.ASSIGNED: 7,
    Status.ACCOUNT_REQUESTED: 14,
    Status.ACCOUNT_ISSUED: 28,
    Status.GUIDED: 42,
    Status.TAKEN_OVER: 56,
}
CATEGORY_CODES = {
    Category.LICENSING: "XK",
    Category.CONFIRMATION: "QR",
    Category.PENALTY: "CF",
    Category.OTHER: "QT",
}


class SeedError(HubError):
    code = "BAD_USER_INPUT"


@dataclass
class Ledger:
    """Rows ready to insert (dicts keyed by column name), in insertion order."""

    items: list[dict[str, Any]] = field(default_factory=list)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SeedSummary:
    departments: int
    bureaus: int
    systems: int
    items: int
    accounts: int
    history: int
    services: int = 0  # service catalogue items


def at(day: date, hour: int = 9, minute: int = 30) -> datetime:
    """A working-hours moment in China Standard Time, as an aware UTC timestamp."""
    return datetime.combine(day, time(hour, minute), CST).astimezone(UTC)


def reference_rows() -> dict[Table, list[dict[str, Any]]]:
    return {
        table_of(Department): [
            {"code": c, "name": n, "sort_order": i} for i, (c, n) in enumerate(data.DEPARTMENTS)
        ],
        table_of(Bureau): [{"code": c, "name": n, "short_name": s} for c, n, s in data.BUREAUS],
        table_of(BusinessSystem): [{"code": c, "name": n, "bureau_code": b} for c, n, b in data.SYSTEMS],
    }


def _expand(
    entries: Sequence[tuple[str, str, str, str, str]],
) -> Iterator[tuple[str, str, Category, Mode, str]]:
    for bureau, system, category, mode, name in entries:
        variants: Sequence[str] = ("",)
        if category == Category.LICENSING:
            variants = data.LICENSING_VARIANTS
        elif category == Category.CONFIRMATION:
            variants = data.CONFIRMATION_VARIANTS
        for variant in variants:
            yield bureau, system, Category(category), Mode(mode), name + variant


def build_story() -> Ledger:
    """The report's ledger: 346 original, 12 cancelled, 12 added, 346 in force, all taken over."""
    rng = random.Random(2022)
    ledger = Ledger()
    serial: dict[tuple[str, Category], int] = defaultdict(int)
    systems_used: dict[tuple[str, str], list[tuple[Origin, bool]]] = defaultdict(list)
    department_index = {code: i for i, (code, _) in enumerate(data.DEPARTMENTS)}

    def code_for(bureau: str, category: Category) -> str:
        serial[bureau, category] += 1
        return f"430400-{CATEGORY_CODES[category]}-{bureau}-{serial[bureau, category]:03d}"

    originals: list[tuple[str, tuple[str, str, Category, Mode, str]]] = []
    cancelled: set[str] = set()
    for department, (in_force, n_cancelled, n_added) in data.SPLIT.items():
        entries = list(_expand(data.CATALOGUE[department]))[: in_force + n_cancelled - n_added]
        for entry in entries:
            originals.append((department, entry))
        # Without substance: chosen by a fixed draw, so the story is the same every time.
        cancelled.update(f"{department}:{e[4]}" for e in rng.sample(entries, n_cancelled))

    for department, (bureau, system, category, mode, name) in originals:
        code = code_for(bureau, category)
        is_cancelled = f"{department}:{name}" in cancelled
        _add_item(
            ledger,
            code,
            name,
            category,
            mode,
            bureau,
            system,
            department,
            Origin.ORIGINAL,
            department_index[department],
            is_cancelled,
        )
        systems_used[department, system].append((Origin.ORIGINAL, is_cancelled))
    for department, bureau, system, name in data.ADDED:
        code = code_for(bureau, Category.LICENSING)
        _add_item(
            ledger,
            code,
            name,
            Category.LICENSING,
            Mode.DIRECT,
            bureau,
            system,
            department,
            Origin.ADDED,
            department_index[department],
            False,
        )
        systems_used[department, system].append((Origin.ADDED, False))
    _add_accounts(ledger, systems_used, department_index)
    return ledger


def _add_item(
    ledger: Ledger,
    code: str,
    name: str,
    category: Category,
    mode: Mode,
    bureau: str,
    system: str,
    department: str,
    origin: Origin,
    stagger: int,
    is_cancelled: bool,
) -> None:
    start = DELEGATED_ON if origin is Origin.ORIGINAL else ADJUSTED_ON
    steps = ORIGINAL_STEPS if origin is Origin.ORIGINAL else ADDED_STEPS
    opening = "新增赋权（动态调整）" if origin is Origin.ADDED else "市级赋权决定"
    history = ledger.history
    history.append(_row("item", code, "status", None, Status.DELEGATED, at(start), opening))
    previous = Status.DELEGATED
    for status in LIFECYCLE[1:]:
        when = at(start + timedelta(days=steps[status] + stagger))
        if status is Status.ASSIGNED:
            history.append(_row("item", code, "department_code", None, department, when))
        history.append(_row("item", code, "status", previous, status, when))
        previous = status
    final, cancelled_on, reason = Status.TAKEN_OVER, None, None
    updated = at(start + timedelta(days=steps[Status.TAKEN_OVER] + stagger))
    if is_cancelled:
        final, cancelled_on, reason = Status.CANCELLED, ADJUSTED_ON, data.CANCEL_REASON
        updated = at(ADJUSTED_ON, 10)
        history.append(_row("item", code, "status", previous, final, updated, reason))
        history.append(_row("item", code, "cancelled_on", None, ADJUSTED_ON.isoformat(), updated, reason))
    ledger.items.append(
        {
            "code": code,
            "name": name,
            "category": category,
            "mode": mode,
            "origin": origin,
            "status": final,
            "source_bureau_code": bureau,
            "department_code": department,
            "system_code": system,
            "delegated_on": start,
            "cancelled_on": cancelled_on,
            "cancel_reason": reason,
            "updated_at": updated,
        }
    )


def _add_accounts(
    ledger: Ledger,
    systems_used: dict[tuple[str, str], list[tuple[Origin, bool]]],
    department_index: dict[str, int],
) -> None:
    """One officer's account per department and system it needs; revoked when no item is left."""
    names = (s + g for g in data.GIVEN_NAMES for s in data.SURNAMES)
    for account_id, ((department, system), uses) in enumerate(sorted(systems_used.items()), start=1):
        stagger = department_index[department]
        if any(origin is Origin.ORIGINAL for origin, _ in uses):
            start, steps = DELEGATED_ON, ORIGINAL_STEPS
        else:
            start, steps = ADJUSTED_ON, ADDED_STEPS
        requested = start + timedelta(days=steps[Status.ACCOUNT_REQUESTED] + stagger)
        issued = start + timedelta(days=steps[Status.ACCOUNT_ISSUED] + stagger - 2)
        holder = next(names)
        revoked = revoke_reason = None
        if all(is_cancelled for _, is_cancelled in uses):
            revoked, revoke_reason = ADJUSTED_ON, "所涉赋权事项已全部取消，账号注销"
        ledger.accounts.append(
            {
                "id": account_id,
                "system_code": system,
                "department_code": department,
                "holder": holder,
                "role": "经办人",
                "requested_on": requested,
                "issued_on": issued,
                "revoked_on": revoked,
                "revoke_reason": revoke_reason,
            }
        )
        key = str(account_id)
        history = ledger.history
        history.append(
            _row("account", key, "account", None, f"{department} {system} {holder} (经办人)", at(requested))
        )
        history.append(_row("account", key, "requested_on", None, requested.isoformat(), at(requested)))
        history.append(_row("account", key, "issued_on", None, issued.isoformat(), at(issued, 15)))
        if revoked is not None:
            history.append(
                _row("account", key, "revoked_on", None, revoked.isoformat(), at(revoked, 11), revoke_reason)
            )


def _row(
    entity: str,
    key: str,
    field_name: str,
    old: object,
    new: object,
    when: datetime,
    reason: str | None = None,
) -> dict[str, Any]:
    return {
        "at": when,
        "actor": ACTOR,
        "entity": entity,
        "entity_key": key,
        "field": field_name,
        "old_value": None if old is None else str(old),
        "new_value": None if new is None else str(new),
        "reason": reason,
        "idempotency_key": None,
    }


async def insert_rows(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    await bulk_insert(session, table, rows)


async def seed_reference(session: AsyncSession) -> tuple[int, int, int]:
    """Add the departments, bureaus and business systems not yet present."""
    counts = []
    for table, rows in reference_rows().items():
        present = set(await session.scalars(select(table.c.code)))
        new = [r for r in rows if r["code"] not in present]
        await insert_rows(session, table, new)
        counts.append(len(rows))
    return counts[0], counts[1], counts[2]


async def seed(registry: Registry, *, reference_only: bool = False) -> SeedSummary:
    """Load the report's ledger into an empty registry (or only the reference data)."""
    ledger = Ledger() if reference_only else build_story()
    async with registry.write() as session:
        if not reference_only:
            items = await session.scalar(select(func.count()).select_from(DelegatedItem))
            accounts = await session.scalar(select(func.count()).select_from(Account))
            if items or accounts:
                raise SeedError(
                    f"the ledger already holds {items} items and {accounts} accounts; "
                    "seed only an empty ledger"
                )
        departments, bureaus, systems = await seed_reference(session)
        # History first: the database records any item status its history does not show.
        await insert_rows(session, table_of(HistoryEntry), ledger.history)
        await insert_rows(session, table_of(DelegatedItem), ledger.items)
        await insert_rows(session, table_of(Account), ledger.accounts)
        if ledger.accounts and registry.dialect == "postgresql":
            # Explicit ids were inserted; move the sequence past them.
            await session.execute(
                select(func.setval(func.pg_get_serial_sequence("account", "id"), func.max(Account.id)))
            )
    services = 0
    if not reference_only:
        from registry.catalogue_seed import seed_catalogue  # it builds on this module's story

        services = await seed_catalogue(registry)
    return SeedSummary(
        departments, bureaus, systems, len(ledger.items), len(ledger.accounts), len(ledger.history), services
    )
