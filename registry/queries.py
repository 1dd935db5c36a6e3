"""Reading the ledger: items (keyset pages), one item's history, accounts, departments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.errors import InvalidInput
from registry.models import (
    Account,
    Bureau,
    BusinessSystem,
    Category,
    DelegatedItem,
    Department,
    HistoryEntry,
    Origin,
    Status,
)
from registry.store import Registry

PAGE_DEFAULT = 50
PAGE_MAX = 500


@dataclass(frozen=True, slots=True)
class ItemFilter:
    department_code: str | None = None
    bureau_code: str | None = None
    system_code: str | None = None
    status: Status | None = None
    category: Category | None = None
    origin: Origin | None = None
    search: str | None = None  # part of the item's name or code


@dataclass(frozen=True, slots=True)
class ItemPage:
    items: Sequence[DelegatedItem]
    total: int
    has_next: bool
    has_previous: bool


def _filtered(query: Select[Any], f: ItemFilter) -> Select[Any]:
    item = DelegatedItem
    if f.department_code:
        query = query.where(item.department_code == f.department_code)
    if f.bureau_code:
        query = query.where(item.source_bureau_code == f.bureau_code)
    if f.system_code:
        query = query.where(item.system_code == f.system_code)
    if f.status:
        query = query.where(item.status == f.status)
    if f.category:
        query = query.where(item.category == f.category)
    if f.origin:
        query = query.where(item.origin == f.origin)
    if f.search and f.search.strip():
        term = f.search.strip()
        query = query.where(
            item.name.contains(term, autoescape=True) | item.code.contains(term, autoescape=True)
        )
    return query


@dataclass(frozen=True, slots=True)
class Keys:
    """A Relay window over a unique key: ``first`` rows after ``after``, or ``last`` before ``before``."""

    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None

    def checked(self) -> Keys:
        """The window with its counts checked (``first`` defaults to ``PAGE_DEFAULT``)."""
        if self.first is not None and self.last is not None:
            rule = "give first (paging forward) or last (paging backward), not both"
            raise InvalidInput(f"last: {rule}", argument="last", rule=rule)
        for name, value in (("first", self.first), ("last", self.last)):
            if value is not None and not 1 <= value <= PAGE_MAX:
                raise InvalidInput(f"{name} must be between 1 and {PAGE_MAX}", argument=name)
        if self.first is None and self.last is None:
            return replace(self, first=PAGE_DEFAULT)
        return self


async def keyset_page(
    session: AsyncSession, base: Select[Any], key: Any, keys: Keys
) -> tuple[list[Any], bool, bool]:
    """(rows, has_previous, has_next) of ``keys``'s window over ``base`` ordered by the unique ``key``."""
    query = base
    if keys.after is not None:
        query = query.where(key > keys.after)
    if keys.before is not None:
        query = query.where(key < keys.before)
    if keys.last is not None:
        rows = list(await session.scalars(query.order_by(key.desc()).limit(keys.last + 1)))
        return rows[: keys.last][::-1], len(rows) > keys.last, keys.before is not None
    assert keys.first is not None
    rows = list(await session.scalars(query.order_by(key).limit(keys.first + 1)))
    return rows[: keys.first], keys.after is not None, len(rows) > keys.first


async def list_items(
    registry: Registry,
    f: ItemFilter | None = None,
    *,
    first: int | None = None,
    after_code: str | None = None,
    last: int | None = None,
    before_code: str | None = None,
) -> ItemPage:
    """A page of items ordered by code: ``first`` after ``after_code``, or ``last`` before ``before_code``."""
    keys = Keys(first, after_code, last, before_code).checked()
    f = f or ItemFilter()
    base = _filtered(select(DelegatedItem), f)
    async with registry.sessionmaker() as session:
        rows, has_previous, has_next = await keyset_page(session, base, DelegatedItem.code, keys)
        total = await session.scalar(select(func.count()).select_from(base.subquery())) or 0
    return ItemPage(items=rows, total=total, has_next=has_next, has_previous=has_previous)


async def get_item(registry: Registry, code: str) -> DelegatedItem | None:
    async with registry.sessionmaker() as session:
        return await session.scalar(select(DelegatedItem).where(DelegatedItem.code == code))


async def history(session: AsyncSession, entity: str, key: str) -> list[HistoryEntry]:
    query = (
        select(HistoryEntry)
        .where(HistoryEntry.entity == entity, HistoryEntry.entity_key == key)
        .order_by(HistoryEntry.id)
    )
    return list(await session.scalars(query))


async def item_history(registry: Registry, code: str) -> list[HistoryEntry]:
    async with registry.sessionmaker() as session:
        return await history(session, "item", code)


async def list_accounts(registry: Registry, department_code: str | None = None) -> list[Account]:
    query = select(Account).order_by(Account.department_code, Account.system_code, Account.id)
    if department_code:
        query = query.where(Account.department_code == department_code)
    async with registry.sessionmaker() as session:
        return list(await session.scalars(query))


async def list_departments(registry: Registry) -> list[Department]:
    async with registry.sessionmaker() as session:
        return list(
            await session.scalars(select(Department).order_by(Department.sort_order, Department.code))
        )


async def bureaus_by_code(registry: Registry) -> dict[str, Bureau]:
    async with registry.sessionmaker() as session:
        return {b.code: b for b in await session.scalars(select(Bureau))}


async def systems_by_code(registry: Registry) -> dict[str, BusinessSystem]:
    async with registry.sessionmaker() as session:
        return {s.code: s for s in await session.scalars(select(BusinessSystem))}


async def departments_by_code(registry: Registry) -> dict[str, Department]:
    return {d.code: d for d in await list_departments(registry)}
