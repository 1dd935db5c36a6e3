"""Promise-kept figures over the zone's items (what the report's 时限压缩 figures rest on).

``promiseKept`` counts, over every item in the matter index, the items that
were decided (approved or rejected) and how many of them within their limit
(``domain.rules.item_clock``'s ``promise_kept``), in total, by department and
by approval kind. Items still open, withdrawn ones and items with no limit do
not count. The figures are as fresh as the index (``indexBuiltAt``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

import strawberry
from strawberry.types import Info

from connectors.base import Connector
from domain import rules
from domain.principal import Role
from domain.records import ITEM_KINDS
from schema.context import HubContext
from schema.permissions import allow

# Aggregate figures, no enterprise's data: the window, auditors and administrators read them.
FigureReaders = allow(
    Role.WINDOW_STAFF, Role.AUDITOR, Role.ADMIN, what="the zone's promise-kept figures", name="FigureReaders"
)


@strawberry.type(description="Decided items and how many kept their promised limit.")
class PromiseKeptCount:
    key: str = strawberry.field(description="The department or approval kind; 'total' for all items.")
    label: str = strawberry.field(description="Its Chinese name.")
    decided: int = strawberry.field(description="Items approved or rejected, with a limit.")
    kept: int = strawberry.field(description="Of those, decided within the limit.")
    late: int = strawberry.field(description="Of those, decided after the limit.")
    rate: float | None = strawberry.field(description="kept / decided (0–1); null when none was decided.")

    @classmethod
    def of(cls, key: str, label: str, count: rules.PromiseCount) -> PromiseKeptCount:
        return cls(
            key=key, label=label, decided=count.decided, kept=count.kept, late=count.late, rate=count.rate
        )


@strawberry.type(description="Promise-kept counts and rates over the zone's items in the matter index.")
class PromiseKeptReport:
    as_of: date = strawberry.field(description="The day the clocks are read at.")
    index_built_at: datetime | None = strawberry.field(
        description="When the index behind the figures was built."
    )
    projects: int
    stale_departments: list[str] = strawberry.field(
        description="Departments whose last index refresh failed: their items are counted as last seen."
    )
    total: PromiseKeptCount
    by_department: list[PromiseKeptCount]
    by_kind: list[PromiseKeptCount]


def _department_title(connectors: Mapping[str, Connector], name: str) -> str:
    connector = connectors.get(name)
    return connector.title if connector is not None else name


async def promise_kept_report(info: Info[HubContext, None]) -> PromiseKeptReport:
    index = info.context.matter_index
    await index.ready()
    as_of = info.context.as_of
    tally = rules.promise_tally(index.items(), as_of)
    connectors = info.context.connectors
    return PromiseKeptReport(
        as_of=as_of,
        index_built_at=index.status.built_at,
        projects=index.status.projects,
        stale_departments=sorted(index.status.stale_departments),
        total=PromiseKeptCount.of("total", "全部事项", tally.total),
        by_department=[
            PromiseKeptCount.of(name, _department_title(connectors, name), count)
            for name, count in tally.by_department.items()
        ],
        by_kind=[
            PromiseKeptCount.of(kind, ITEM_KINDS.get(kind, kind), count)
            for kind, count in tally.by_kind.items()
        ],
    )
