"""The service catalogue (事项目录): items with their guides, read and written as whole entries.

A ``ServiceEntry`` is one item as plain values: its row, its materials (key or
not) and the approval kinds it covers. The seed, the spreadsheet import and the
export all go through ``write_entries``/``load_entries``, so every change lands
with its history rows (``service_history``, append-only) in the caller's
transaction: a new item records its opening, a changed one each field that
changed, old value and new.

Limits: an entry covering a kind that ``domain.limits`` publishes must carry
that kind's limits (``limit_problem``), so the handbook, the items' clocks and
the catalogue cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.limits import LIMITS, LimitUnit
from registry.bulk import bulk_insert
from registry.models import (
    ServiceCategory,
    ServiceHistoryEntry,
    ServiceItem,
    ServiceItemKind,
    ServiceMaterial,
    table_of,
)
from registry.queries import Keys, keyset_page
from registry.store import Registry

ONLINE_DEPTHS = {1: "一级（信息公开）", 2: "二级（在线申报）", 3: "三级（在线预审）", 4: "四级（全程网办）"}
UNIT_LABELS = {LimitUnit.WORKING_DAYS: "工作日", LimitUnit.CALENDAR_DAYS: "自然日"}


@dataclass(frozen=True, slots=True)
class Material:
    name: str
    key: bool = True  # a non-key material may be owed under 容缺受理


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    """One catalogue item, whole: the row's values, its materials and its approval kinds."""

    code: str
    name: str
    category: ServiceCategory
    domain: str
    department_code: str | None
    window_bureau_code: str | None
    application_based: bool
    in_centre: bool
    conditions: str
    procedure: str
    materials: tuple[Material, ...]
    materials_before: int
    statutory_limit: int
    promised_limit: int
    limit_unit: LimitUnit
    online_depth: int
    tolerance: bool
    commitment: bool
    parallel_group: str | None = None
    handbook_code: str | None = None
    delegated_item_code: str | None = None
    kinds: tuple[str, ...] = ()
    cases: int = 0
    online_cases: int = 0


# Row columns of an entry (everything but materials and kinds), in table order.
ROW_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(ServiceEntry) if f.name not in ("materials", "kinds")
)


def limit_problem(entry: ServiceEntry) -> str | None:
    """Why the entry's limits cannot stand, or None."""
    if entry.statutory_limit <= 0 or entry.promised_limit <= 0:
        return "limits must be positive"
    if entry.promised_limit > entry.statutory_limit:
        return (
            f"the promised limit ({entry.promised_limit}) exceeds the statutory one ({entry.statutory_limit})"
        )
    for kind in entry.kinds:
        published = LIMITS.get(kind)
        if published is None:
            continue
        mine = (entry.statutory_limit, entry.promised_limit, entry.limit_unit)
        if mine != (published.statutory, published.promised, published.unit):
            unit = UNIT_LABELS[published.unit]
            return (
                f"{kind} is published with {published.statutory}/{published.promised} {unit} "
                f"(statutory/promised); this item says {entry.statutory_limit}/{entry.promised_limit} "
                f"{UNIT_LABELS[entry.limit_unit]}"
            )
    return None


def _materials_text(materials: Sequence[Material]) -> str:
    return "；".join(m.name + ("" if m.key else "（容缺）") for m in materials)


def _value_text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if name == "materials":
        return _materials_text(value)
    if name == "kinds":
        return "、".join(value)
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(getattr(value, "value", value))


def changes(old: ServiceEntry, new: ServiceEntry) -> list[tuple[str, str | None, str | None]]:
    """(field, old text, new text) for every field that differs."""
    out = []
    for f in fields(ServiceEntry):
        before, after = getattr(old, f.name), getattr(new, f.name)
        if before != after:
            out.append((f.name, _value_text(f.name, before), _value_text(f.name, after)))
    return out


def _row(entry: ServiceEntry, at: datetime) -> dict[str, Any]:
    row = {name: getattr(entry, name) for name in ROW_FIELDS}
    row["updated_at"] = at
    return row


def _history(
    code: str, field: str, old: str | None, new: str | None, *, at: datetime, actor: str, reason: str | None
) -> dict[str, Any]:
    return {
        "at": at,
        "actor": actor,
        "item_code": code,
        "field": field,
        "old_value": old,
        "new_value": new,
        "reason": reason,
    }


@dataclass(frozen=True, slots=True)
class WriteSummary:
    added: int
    changed: int
    unchanged: int


async def load_entries(session: AsyncSession, codes: Iterable[str] | None = None) -> dict[str, ServiceEntry]:
    """Entries by code (all, or those of ``codes``), materials in order."""
    query = select(ServiceItem)
    wanted = None if codes is None else list(codes)
    if wanted is not None:
        query = query.where(ServiceItem.code.in_(wanted))
    items = list(await session.scalars(query.order_by(ServiceItem.code)))
    materials: dict[str, list[Material]] = {}
    kinds: dict[str, list[str]] = {}
    m_query = select(ServiceMaterial).order_by(ServiceMaterial.item_code, ServiceMaterial.position)
    k_query = select(ServiceItemKind).order_by(ServiceItemKind.item_code, ServiceItemKind.kind)
    if wanted is not None:
        m_query = m_query.where(ServiceMaterial.item_code.in_(wanted))
        k_query = k_query.where(ServiceItemKind.item_code.in_(wanted))
    for m in await session.scalars(m_query):
        materials.setdefault(m.item_code, []).append(Material(m.name, m.key))
    for k in await session.scalars(k_query):
        kinds.setdefault(k.item_code, []).append(k.kind)
    return {
        i.code: ServiceEntry(
            **{name: getattr(i, name) for name in ROW_FIELDS},
            materials=tuple(materials.get(i.code, ())),
            kinds=tuple(kinds.get(i.code, ())),
        )
        for i in items
    }


def normalised(entry: ServiceEntry) -> ServiceEntry:
    """The entry as stored: key materials first (each group in its order), kinds sorted.

    A spreadsheet lists key and non-key materials in two columns, so this is the order
    a round trip keeps; comparisons then see real changes only.
    """
    materials = tuple(m for m in entry.materials if m.key) + tuple(m for m in entry.materials if not m.key)
    return replace(entry, materials=materials, kinds=tuple(sorted(set(entry.kinds))))


async def write_entries(
    session: AsyncSession,
    entries: Sequence[ServiceEntry],
    *,
    at: datetime,
    actor: str,
    reason: str | Sequence[str | None] | None = None,
    existing: dict[str, ServiceEntry] | None = None,
) -> WriteSummary:
    """Insert new entries and update changed ones, with their history, in the caller's transaction.

    ``reason`` is the history rows' reason: one for all, or one per entry (say, the
    spreadsheet row each came from). References (departments, bureaus, delegated
    items) and kind uniqueness are the caller's to check first.
    """
    if existing is None:
        existing = await load_entries(session, [e.code for e in entries])
    reasons = [reason] * len(entries) if reason is None or isinstance(reason, str) else list(reason)
    history: list[dict[str, Any]] = []
    new_rows: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    materials: list[dict[str, Any]] = []
    kinds: list[dict[str, Any]] = []
    replace_materials: list[str] = []
    replace_kinds: list[str] = []
    changed_entries = unchanged = 0
    for raw, why in zip(entries, reasons, strict=True):
        entry = normalised(raw)
        held = existing.get(entry.code)
        diff: list[tuple[str, str | None, str | None]]
        if held is None:
            new_rows.append(_row(entry, at))
            diff = [("item", None, entry.name)]
            diff += [
                (n, None, _value_text(n, getattr(entry, n)))
                for n in ("materials", "kinds")
                if getattr(entry, n)
            ]
            touched = {"materials", "kinds"}
        else:
            diff = changes(normalised(held), entry)
            if not diff:
                unchanged += 1
                continue
            changed_entries += 1
            touched = {name for name, _, _ in diff}
            if touched & set(ROW_FIELDS):
                updates.append(_row(entry, at))
            if "materials" in touched:
                replace_materials.append(entry.code)
            if "kinds" in touched:
                replace_kinds.append(entry.code)
        history.extend(_history(entry.code, n, o, v, at=at, actor=actor, reason=why) for n, o, v in diff)
        if "materials" in touched:
            materials.extend(
                {"item_code": entry.code, "position": n, "name": m.name, "key": m.key}
                for n, m in enumerate(entry.materials, start=1)
            )
        if "kinds" in touched:
            kinds.extend({"kind": k, "item_code": entry.code} for k in entry.kinds)
    if replace_materials:
        await session.execute(delete(ServiceMaterial).where(ServiceMaterial.item_code.in_(replace_materials)))
    if replace_kinds:
        await session.execute(delete(ServiceItemKind).where(ServiceItemKind.item_code.in_(replace_kinds)))
    await bulk_insert(session, table_of(ServiceHistoryEntry), history)
    await bulk_insert(session, table_of(ServiceItem), new_rows)
    for row in updates:
        await session.execute(update(ServiceItem).where(ServiceItem.code == row["code"]).values(**row))
    await bulk_insert(session, table_of(ServiceMaterial), materials)
    await bulk_insert(session, table_of(ServiceItemKind), kinds)
    return WriteSummary(added=len(new_rows), changed=changed_entries, unchanged=unchanged)


async def entries(registry: Registry) -> list[ServiceEntry]:
    """Every catalogue entry, ordered by code."""
    async with registry.sessionmaker() as session:
        return list((await load_entries(session)).values())


async def get_entry(registry: Registry, code: str) -> ServiceEntry | None:
    """One catalogue entry by its code, or None."""
    async with registry.sessionmaker() as session:
        return (await load_entries(session, [code])).get(code)


async def item_history(registry: Registry, code: str) -> list[ServiceHistoryEntry]:
    """One catalogue item's changes, oldest first."""
    async with registry.sessionmaker() as session:
        rows = await session.scalars(
            select(ServiceHistoryEntry)
            .where(ServiceHistoryEntry.item_code == code)
            .order_by(ServiceHistoryEntry.id)
        )
        return list(rows)


@dataclass(frozen=True, slots=True)
class ServiceFilter:
    department_code: str | None = None  # the receiving department or the forward window's bureau
    category: ServiceCategory | None = None
    domain: str | None = None
    in_centre: bool | None = None  # application-based and handled in the centre
    commitment: bool | None = None
    tolerance: bool | None = None
    handbook_code: str | None = None
    search: str | None = None  # part of the item's name or code


@dataclass(frozen=True, slots=True)
class ServicePage:
    entries: list[ServiceEntry]
    total: int
    has_next: bool
    has_previous: bool


async def list_entries(
    registry: Registry,
    f: ServiceFilter | None = None,
    *,
    first: int | None = None,
    after_code: str | None = None,
    last: int | None = None,
    before_code: str | None = None,
) -> ServicePage:
    """A page of catalogue entries ordered by code: ``first`` after ``after_code``, or ``last`` before
    ``before_code``."""
    keys = Keys(first, after_code, last, before_code).checked()
    f = f or ServiceFilter()
    item = ServiceItem
    base = select(item.code)
    if f.department_code:
        base = base.where(
            (item.department_code == f.department_code) | (item.window_bureau_code == f.department_code)
        )
    for column, value in (
        (item.category, f.category),
        (item.domain, f.domain),
        (item.commitment, f.commitment),
        (item.tolerance, f.tolerance),
        (item.handbook_code, f.handbook_code),
    ):
        if value is not None:
            base = base.where(column == value)
    if f.in_centre is not None:
        centre = item.application_based.is_(True) & item.in_centre.is_(True)
        base = base.where(centre if f.in_centre else ~centre)
    if f.search and f.search.strip():
        term = f.search.strip()
        base = base.where(
            item.name.contains(term, autoescape=True) | item.code.contains(term, autoescape=True)
        )
    async with registry.sessionmaker() as session:
        codes, has_previous, has_next = await keyset_page(session, base, item.code, keys)
        total = await session.scalar(select(func.count()).select_from(base.subquery())) or 0
        found = await load_entries(session, codes)
    return ServicePage(
        entries=[found[c] for c in codes], total=total, has_next=has_next, has_previous=has_previous
    )
