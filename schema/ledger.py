"""The delegation ledger in GraphQL: coverage, items, accounts, departments, and the
mutations that change the ledger.

Resolvers are thin: they read ``info.context.registry`` and call ``registry.queries``,
``registry.coverage`` or ``registry.service.Ledger``. Ledger errors reach the caller
with ``extensions.code`` BAD_USER_INPUT, ILLEGAL_TRANSITION or NOT_FOUND. Every
mutation takes an ``idempotencyKey``; the history records ``info.context.principal``'s
subject as the actor ("system" without one).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import TypeVar

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from domain.errors import HubError
from registry import models, queries
from registry.coverage import Coverage, Figures, GapKind, delegation_coverage
from registry.service import SYSTEM_ACTOR, Ledger, NewItem
from registry.store import Registry
from schema.context import HubContext
from schema.copying import copied
from schema.paging import PageInfo, decode_bounds, encode_cursor, page_info
from schema.permissions import Administrators, LedgerReaders, Masked, requires

T = TypeVar("T")
ITEM_CURSOR = "item"  # the cursor kind: an item's cursor holds its code

DelegationStatus = strawberry.enum(models.Status, name="DelegationStatus", description="Where an item stands")
DelegationCategory = strawberry.enum(models.Category, name="DelegationCategory")
DelegationMode = strawberry.enum(models.Mode, name="DelegationMode", description="直接赋权 or 委托")
DelegationOrigin = strawberry.enum(models.Origin, name="DelegationOrigin")
CoverageGapKind = strawberry.enum(GapKind, name="CoverageGapKind")


@strawberry.enum(description="A step an item takes; cancelling is cancelDelegatedItem, with a reason")
class DelegationEvent(Enum):
    ASSIGNED = "ASSIGNED"
    ACCOUNT_REQUESTED = "ACCOUNT_REQUESTED"
    ACCOUNT_ISSUED = "ACCOUNT_ISSUED"
    GUIDED = "GUIDED"
    TAKEN_OVER = "TAKEN_OVER"


# -- plumbing ----------------------------------------------------------------------------


def registry_of(info: Info[HubContext, None]) -> Registry:
    return info.context.registry


def actor_of(info: Info[HubContext, None]) -> str:
    """Who the ledger's history records: the caller's subject (``system`` when anonymous)."""
    principal = info.context.principal
    return principal.subject if principal.authenticated and principal.subject else SYSTEM_ACTOR


@contextmanager
def reporting() -> Iterator[None]:
    """Ledger errors as GraphQL errors carrying their extensions (and the original)."""
    try:
        yield
    except HubError as exc:
        raise GraphQLError(str(exc), extensions=exc.extensions(), original_error=exc) from exc


async def _reported(call: Awaitable[T]) -> T:
    with reporting():
        return await call


@dataclass(frozen=True, slots=True)
class _References:
    departments: dict[str, models.Department]
    bureaus: dict[str, models.Bureau]
    systems: dict[str, models.BusinessSystem]

    @classmethod
    async def load(cls, registry: Registry) -> _References:
        return cls(
            await queries.departments_by_code(registry),
            await queries.bureaus_by_code(registry),
            await queries.systems_by_code(registry),
        )


# -- types -------------------------------------------------------------------------------


@strawberry.type(description="One of the zone's receiving departments (承接部门)")
class ReceivingDepartment:
    code: str
    name: str

    @classmethod
    def of(cls, row: models.Department) -> ReceivingDepartment:
        return cls(code=row.code, name=row.name)


@strawberry.type(description="A city bureau that delegated powers (下放部门)")
class SourceBureau:
    code: str
    name: str
    short_name: str


@strawberry.type(description="A bureau's business system (业务系统)")
class BusinessSystem:
    code: str
    name: str
    bureau_code: str


@strawberry.type(description="One change to the ledger; the history is append-only")
class LedgerHistoryEntry:
    at: datetime
    actor: str
    field: str
    old_value: str | None
    new_value: str | None
    reason: str | None

    @classmethod
    def of(cls, row: models.HistoryEntry) -> LedgerHistoryEntry:
        return copied(cls, row)


@strawberry.type(description="A city-level power delegated to the zone (市级赋权事项)")
class DelegatedItem:
    code: str
    name: str
    category: DelegationCategory  # type: ignore[valid-type]
    mode: DelegationMode  # type: ignore[valid-type]
    origin: DelegationOrigin  # type: ignore[valid-type]
    status: DelegationStatus  # type: ignore[valid-type]
    source_bureau: SourceBureau
    department: ReceivingDepartment | None
    system: BusinessSystem
    delegated_on: date
    cancelled_on: date | None
    cancel_reason: str | None
    updated_at: datetime

    @strawberry.field(description="The category as published: 行政许可, 行政确认, 行政处罚 or 其他")
    def category_label(self) -> str:
        return models.Category(self.category).value

    @strawberry.field(description="Every change to this item, oldest first")
    async def history(self, info: Info[HubContext, None]) -> list[LedgerHistoryEntry]:
        rows = await queries.item_history(registry_of(info), self.code)
        return [LedgerHistoryEntry.of(r) for r in rows]

    @classmethod
    def of(cls, row: models.DelegatedItem, refs: _References) -> DelegatedItem:
        bureau = refs.bureaus[row.source_bureau_code]
        system = refs.systems[row.system_code]
        department = refs.departments.get(row.department_code) if row.department_code else None
        return copied(
            cls,
            row,
            source_bureau=copied(SourceBureau, bureau),
            department=ReceivingDepartment.of(department) if department else None,
            system=copied(BusinessSystem, system),
        )


@strawberry.type(description="An account a department holds on a business system")
class BusinessSystemAccount:
    id: int
    department: ReceivingDepartment
    system: BusinessSystem
    holder: str = strawberry.field(extensions=[Masked("account_holder")])
    role: str
    requested_on: date
    issued_on: date | None
    revoked_on: date | None
    revoke_reason: str | None
    active: bool

    @classmethod
    def of(cls, row: models.Account, refs: _References) -> BusinessSystemAccount:
        system = refs.systems[row.system_code]
        return copied(
            cls,
            row,
            department=ReceivingDepartment.of(refs.departments[row.department_code]),
            system=copied(BusinessSystem, system),
        )


@strawberry.type(description="Counts for the whole ledger, one department or one bureau")
class DelegationFigures:
    code: str
    name: str
    original: int = strawberry.field(description="in the first delegation list, cancelled ones included")
    cancelled: int
    added: int = strawberry.field(description="delegated later, in the dynamic adjustment")
    in_force: int
    taken_over: int
    ratio: float | None = strawberry.field(description="takenOver / inForce; null when nothing is in force")
    active_accounts: int

    @classmethod
    def of(cls, f: Figures) -> DelegationFigures:
        return copied(cls, f)


@strawberry.type
class CoverageGap:
    kind: CoverageGapKind  # type: ignore[valid-type]
    detail: str
    department_code: str | None
    item_code: str | None
    system_code: str | None


@strawberry.type
class CoverageGapCount:
    kind: CoverageGapKind  # type: ignore[valid-type]
    count: int


@strawberry.type(description="The auditors' coverage figures (a gap list is cut at 500 per kind)")
class DelegationCoverage:
    original: int
    cancelled: int
    added: int
    in_force: int
    taken_over: int
    ratio: float | None
    departments: int = strawberry.field(description="departments with items in force")
    unassigned: int = strawberry.field(description="items in force not yet assigned to a department")
    active_accounts: int
    by_department: list[DelegationFigures]
    by_bureau: list[DelegationFigures]
    gaps: list[CoverageGap]
    gap_counts: list[CoverageGapCount]

    @classmethod
    def of(cls, c: Coverage) -> DelegationCoverage:
        return copied(
            cls,
            c.totals,  # the ledger's figures, then the coverage's own
            departments=c.departments,
            unassigned=c.unassigned,
            by_department=[DelegationFigures.of(f) for f in c.by_department],
            by_bureau=[DelegationFigures.of(f) for f in c.by_bureau],
            gaps=[copied(CoverageGap, g) for g in c.gaps],
            gap_counts=[CoverageGapCount(kind=k, count=n) for k, n in c.gap_counts.items()],
        )


@strawberry.type
class DelegatedItemEdge:
    cursor: str
    node: DelegatedItem


@strawberry.type
class DelegatedItemConnection:
    edges: list[DelegatedItemEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input
class DelegatedItemFilter:
    department_code: str | None = None
    bureau_code: str | None = None
    system_code: str | None = None
    status: DelegationStatus | None = None  # type: ignore[valid-type]
    category: DelegationCategory | None = None  # type: ignore[valid-type]
    origin: DelegationOrigin | None = None  # type: ignore[valid-type]
    search: str | None = strawberry.field(default=None, description="part of the item's name or code")


# -- query -------------------------------------------------------------------------------


@strawberry.type
class Query:
    @strawberry.field(
        description="Coverage of the delegated powers: figures, by department and bureau, gaps",
        extensions=requires(LedgerReaders),
    )
    async def delegation_coverage(self, info: Info[HubContext, None]) -> DelegationCoverage:
        return DelegationCoverage.of(await _reported(delegation_coverage(registry_of(info))))

    @strawberry.field(
        description="Delegated items ordered by code, a page at a time",
        extensions=requires(LedgerReaders),
    )
    async def delegated_items(
        self,
        info: Info[HubContext, None],
        filter: DelegatedItemFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> DelegatedItemConnection:
        registry = registry_of(info)
        f = queries.ItemFilter(**vars(filter)) if filter else None
        with reporting():
            after_code, before_code = decode_bounds(ITEM_CURSOR, after, before)
            page = await queries.list_items(
                registry, f, first=first, after_code=after_code, last=last, before_code=before_code
            )
        refs = await _References.load(registry)
        edges = [
            DelegatedItemEdge(cursor=encode_cursor(ITEM_CURSOR, i.code), node=DelegatedItem.of(i, refs))
            for i in page.items
        ]
        return DelegatedItemConnection(
            edges=edges,
            page_info=page_info(edges, has_next=page.has_next, has_previous=page.has_previous),
            total_count=page.total,
        )

    @strawberry.field(
        description="One delegated item by its code (事项编码), with its history",
        extensions=requires(LedgerReaders),
    )
    async def delegated_item(self, info: Info[HubContext, None], code: str) -> DelegatedItem | None:
        registry = registry_of(info)
        row = await queries.get_item(registry, code)
        return DelegatedItem.of(row, await _References.load(registry)) if row else None

    @strawberry.field(
        description="Business-system accounts, of one department or all",
        extensions=requires(LedgerReaders),
    )
    async def accounts(
        self, info: Info[HubContext, None], department_code: str | None = None
    ) -> list[BusinessSystemAccount]:
        registry = registry_of(info)
        rows = await queries.list_accounts(registry, department_code)
        refs = await _References.load(registry)
        return [BusinessSystemAccount.of(r, refs) for r in rows]

    @strawberry.field(
        description="The receiving departments",
        extensions=requires(LedgerReaders),
    )
    async def departments(self, info: Info[HubContext, None]) -> list[ReceivingDepartment]:
        return [ReceivingDepartment.of(d) for d in await queries.list_departments(registry_of(info))]


# -- mutation ----------------------------------------------------------------------------


async def _item(
    info: Info[HubContext, None], change: Callable[[Ledger, str], Awaitable[models.DelegatedItem]]
) -> DelegatedItem:
    registry = registry_of(info)
    row = await _reported(change(Ledger(registry), actor_of(info)))
    return DelegatedItem.of(row, await _References.load(registry))


async def _account(
    info: Info[HubContext, None], change: Callable[[Ledger, str], Awaitable[models.Account]]
) -> BusinessSystemAccount:
    registry = registry_of(info)
    row = await _reported(change(Ledger(registry), actor_of(info)))
    return BusinessSystemAccount.of(row, await _References.load(registry))


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Move an item one step on; ASSIGNED names the departmentCode",
        extensions=requires(Administrators),
    )
    async def record_delegation_event(
        self,
        info: Info[HubContext, None],
        item_code: str,
        event: DelegationEvent,
        idempotency_key: str,
        department_code: str | None = None,
        note: str | None = None,
    ) -> DelegatedItem:
        return await _item(
            info,
            lambda ledger, actor: ledger.record_event(
                item_code,
                event.value,
                idempotency_key=idempotency_key,
                actor=actor,
                department_code=department_code,
                note=note,
            ),
        )

    @strawberry.mutation(
        description="Cancel an item (剥离/取消); the reason is required",
        extensions=requires(Administrators),
    )
    async def cancel_delegated_item(
        self,
        info: Info[HubContext, None],
        item_code: str,
        reason: str,
        idempotency_key: str,
        cancelled_on: date | None = None,
    ) -> DelegatedItem:
        return await _item(
            info,
            lambda ledger, actor: ledger.cancel_item(
                item_code,
                reason=reason,
                idempotency_key=idempotency_key,
                actor=actor,
                cancelled_on=cancelled_on,
            ),
        )

    @strawberry.mutation(
        description="Enter a newly delegated item (ADDED in the dynamic adjustment)",
        extensions=requires(Administrators),
    )
    async def add_delegated_item(
        self,
        info: Info[HubContext, None],
        code: str,
        name: str,
        category: DelegationCategory,  # type: ignore[valid-type]
        mode: DelegationMode,  # type: ignore[valid-type]
        source_bureau_code: str,
        system_code: str,
        idempotency_key: str,
        department_code: str | None = None,
        delegated_on: date | None = None,
        added: bool = True,
    ) -> DelegatedItem:
        new = NewItem(
            code=code.strip(),
            name=name.strip(),
            category=category,
            mode=mode,
            source_bureau_code=source_bureau_code,
            system_code=system_code,
            department_code=department_code,
            origin=models.Origin.ADDED if added else models.Origin.ORIGINAL,
            delegated_on=delegated_on,
        )
        return await _item(
            info, lambda ledger, actor: ledger.add_item(new, idempotency_key=idempotency_key, actor=actor)
        )

    @strawberry.mutation(
        description="Record an account a department holds on a business system",
        extensions=requires(Administrators),
    )
    async def assign_account(
        self,
        info: Info[HubContext, None],
        department_code: str,
        system_code: str,
        holder: str,
        role: str,
        idempotency_key: str,
        requested_on: date | None = None,
        issued_on: date | None = None,
    ) -> BusinessSystemAccount:
        return await _account(
            info,
            lambda ledger, actor: ledger.assign_account(
                department_code=department_code,
                system_code=system_code,
                holder=holder,
                role=role,
                idempotency_key=idempotency_key,
                actor=actor,
                requested_on=requested_on,
                issued_on=issued_on,
            ),
        )

    @strawberry.mutation(
        description="Revoke an account, with the reason",
        extensions=requires(Administrators),
    )
    async def revoke_account(
        self,
        info: Info[HubContext, None],
        account_id: int,
        reason: str,
        idempotency_key: str,
        revoked_on: date | None = None,
    ) -> BusinessSystemAccount:
        return await _account(
            info,
            lambda ledger, actor: ledger.revoke_account(
                account_id, reason=reason, idempotency_key=idempotency_key, actor=actor, revoked_on=revoked_on
            ),
        )
