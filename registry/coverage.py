"""The coverage audit: figures and gaps, computed by the database.

Every figure comes from the item counts by department, system, bureau, origin and
status, which the database keeps in ``item_tally`` (triggers, in step with every
change to an item); the gaps come from those counts plus a few index seeks into
the history. So the audit reads a few hundred rows at 346 items or 100,000.
Listing stops at ``gap_limit`` entries per kind; the counts are always complete.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import pairwise

from sqlalchemy import func, select, tuple_, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from registry.models import (
    LIFECYCLE,
    Account,
    Bureau,
    BusinessSystem,
    DelegatedItem,
    Department,
    HistoryEntry,
    ItemTally,
    Origin,
    Status,
)
from registry.store import Registry

GAP_LIMIT = 500


class GapKind(StrEnum):
    TAKEN_OVER_WITHOUT_ACCOUNT = "TAKEN_OVER_WITHOUT_ACCOUNT"
    DEPARTMENT_WITHOUT_ACCOUNT = "DEPARTMENT_WITHOUT_ACCOUNT"
    CANCELLED_HOLDING_ACCOUNT = "CANCELLED_HOLDING_ACCOUNT"
    HISTORY_SKIPS_STEP = "HISTORY_SKIPS_STEP"


@dataclass(frozen=True, slots=True)
class Gap:
    kind: GapKind
    detail: str
    department_code: str | None = None
    item_code: str | None = None
    system_code: str | None = None


@dataclass(slots=True)
class Figures:
    """Counts for the whole ledger, one department or one bureau."""

    code: str = ""
    name: str = ""
    original: int = 0  # in the first delegation list, including those cancelled since
    cancelled: int = 0
    added: int = 0  # delegated later, in the dynamic adjustment
    in_force: int = 0
    taken_over: int = 0
    active_accounts: int = 0

    @property
    def ratio(self) -> float | None:
        """Taken over / in force; None when nothing is in force."""
        return self.taken_over / self.in_force if self.in_force else None

    def count(self, origin: Origin, status: Status, n: int) -> None:
        if origin is Origin.ORIGINAL:
            self.original += n
        else:
            self.added += n
        if status is Status.CANCELLED:
            self.cancelled += n
        else:
            self.in_force += n
        if status is Status.TAKEN_OVER:
            self.taken_over += n


@dataclass(slots=True)
class Coverage:
    totals: Figures
    departments: int  # departments with items in force
    unassigned: int  # items in force not yet assigned to a department
    by_department: list[Figures]
    by_bureau: list[Figures]
    gaps: list[Gap] = field(default_factory=list)
    gap_counts: dict[GapKind, int] = field(default_factory=dict)


Pair = tuple[str, str]  # (department code, system code)


async def delegation_coverage(registry: Registry, *, gap_limit: int = GAP_LIMIT) -> Coverage:
    """The auditors' figures and gaps, read in one transaction."""
    async with registry.sessionmaker() as session, session.begin():
        return await _coverage(session, gap_limit)


Group = tuple[str | None, str, str, Origin, Status, int]


async def item_groups(session: AsyncSession, *, from_tally: bool = True) -> list[Group]:
    """Item counts by (department, system, bureau, origin, status).

    From the tally the database keeps (a few hundred rows, whatever the ledger's
    size), or counted afresh from the items with ``from_tally=False``.
    """
    if from_tally:
        t = ItemTally
        rows = await session.execute(
            select(t.department_code, t.system_code, t.source_bureau_code, t.origin, t.status, t.n).where(
                t.n > 0
            )
        )
        return [(d or None, s, b, o, st, n) for d, s, b, o, st, n in rows]
    item = DelegatedItem
    key = (item.department_code, item.system_code, item.source_bureau_code, item.origin, item.status)
    return [tuple(row) for row in await session.execute(select(*key, func.count()).group_by(*key))]  # type: ignore[misc]


async def _coverage(session: AsyncSession, gap_limit: int) -> Coverage:
    groups = await item_groups(session)
    departments = {
        d.code: Figures(d.code, d.name)
        for d in await session.scalars(select(Department).order_by(Department.sort_order, Department.code))
    }
    bureaus = {
        b.code: Figures(b.code, b.name) for b in await session.scalars(select(Bureau).order_by(Bureau.code))
    }
    systems = dict((await session.execute(select(BusinessSystem.code, BusinessSystem.name))).all())
    active = (
        await session.execute(
            select(Account.department_code, Account.system_code, func.count())
            .where(Account.issued_on.is_not(None), Account.revoked_on.is_(None))
            .group_by(Account.department_code, Account.system_code)
        )
    ).all()

    totals = Figures("", "合计")
    unassigned = 0
    in_force_by_pair: dict[Pair, int] = defaultdict(int)
    taken_over_by_pair: dict[Pair, int] = defaultdict(int)
    cancelled_by_pair: dict[Pair, int] = defaultdict(int)
    for department, system, bureau, origin, status, n in groups:
        totals.count(origin, status, n)
        bureaus[bureau].count(origin, status, n)
        if department is None:
            unassigned += n if status is not Status.CANCELLED else 0
            continue
        departments[department].count(origin, status, n)
        pair = (department, system)
        if status is Status.CANCELLED:
            cancelled_by_pair[pair] += n
        else:
            in_force_by_pair[pair] += n
        if status is Status.TAKEN_OVER:
            taken_over_by_pair[pair] += n
    active_pairs: set[Pair] = set()
    for department, system, n in active:
        departments[department].active_accounts += n
        totals.active_accounts += n
        active_pairs.add((department, system))

    coverage = Coverage(
        totals=totals,
        departments=sum(1 for d in departments.values() if d.in_force),
        unassigned=unassigned,
        by_department=list(departments.values()),
        by_bureau=[b for b in bureaus.values() if b.original or b.added],
    )
    names = {code: f.name for code, f in departments.items()}

    # Taken over, but the department holds no active account on the item's system.
    missing = sorted(p for p in taken_over_by_pair if p not in active_pairs)
    await _list_items(
        session,
        coverage,
        GapKind.TAKEN_OVER_WITHOUT_ACCOUNT,
        missing,
        Status.TAKEN_OVER,
        sum(taken_over_by_pair[p] for p in missing),
        gap_limit,
        lambda d, s: f"taken over, but {names[d]} holds no active account on {systems.get(s, s)}",
    )

    # Departments with no active account at all.
    bare = [d for d in departments.values() if not d.active_accounts]
    coverage.gap_counts[GapKind.DEPARTMENT_WITHOUT_ACCOUNT] = len(bare)
    coverage.gaps.extend(
        Gap(
            GapKind.DEPARTMENT_WITHOUT_ACCOUNT,
            f"{d.name} holds no active business-system account",
            department_code=d.code,
        )
        for d in bare[:gap_limit]
    )

    # Cancelled items whose department still holds an account it needs for nothing else.
    holding = sorted(p for p in cancelled_by_pair if p in active_pairs and not in_force_by_pair.get(p))
    await _list_items(
        session,
        coverage,
        GapKind.CANCELLED_HOLDING_ACCOUNT,
        holding,
        Status.CANCELLED,
        sum(cancelled_by_pair[p] for p in holding),
        gap_limit,
        lambda d, s: f"cancelled, but {names[d]} still holds an active account on {systems.get(s, s)}",
    )

    await _history_skips(session, coverage, gap_limit)
    return coverage


async def _list_items(
    session: AsyncSession,
    coverage: Coverage,
    kind: GapKind,
    pairs: list[Pair],
    status: Status,
    total: int,
    limit: int,
    detail: object,
) -> None:
    coverage.gap_counts[kind] = total
    if not pairs or limit <= 0:
        return
    item = DelegatedItem
    rows = await session.execute(
        select(item.code, item.department_code, item.system_code)
        .where(item.status == status, tuple_(item.department_code, item.system_code).in_(pairs))
        .order_by(item.code)
        .limit(limit)
    )
    assert callable(detail)
    coverage.gaps.extend(
        Gap(kind, detail(d, s), department_code=d, item_code=code, system_code=s) for code, d, s in rows
    )


def _forbidden_steps() -> list[tuple[Status | None, list[str]]]:
    """(old status, new statuses the lifecycle forbids after it), for every old status.

    The status vocabulary is closed (a CHECK constraint), so the forbidden pairs are a
    short list, each answered by a seek into the partial transition index.
    """
    allowed: dict[Status | None, set[Status]] = {None: {Status.DELEGATED}}
    for status in LIFECYCLE:
        allowed[status] = {Status.CANCELLED}
    for here, there in pairwise(LIFECYCLE):
        allowed[here].add(there)
    allowed[Status.CANCELLED] = set()
    return [(old, [s.value for s in Status if s not in ok]) for old, ok in allowed.items()]


async def _history_skips(session: AsyncSession, coverage: Coverage, limit: int) -> None:
    """Recorded status changes the lifecycle forbids: a skipped step, a step back, or a move
    out of CANCELLED. Changes made around the ledger service are recorded by a trigger
    (see the 0001 migration), so checking the recorded transitions is enough.
    """
    h = HistoryEntry
    kind = GapKind.HISTORY_SKIPS_STEP
    selects = [
        select(h.id, h.entity_key, h.old_value, h.new_value).where(
            h.field == "status",
            h.old_value.is_(None) if old is None else h.old_value == old.value,
            h.new_value.in_(forbidden),
        )
        for old, forbidden in _forbidden_steps()
    ]
    jumps = sorted((await session.execute(union_all(*selects))).all(), key=lambda r: (r[1], r[0]))
    coverage.gap_counts[kind] = len(jumps)
    coverage.gaps.extend(
        Gap(
            kind,
            f"history records {old or '(nothing)'} → {new}, which the lifecycle does not allow",
            item_code=code,
        )
        for _, code, old, new in jumps[:limit]
    )
