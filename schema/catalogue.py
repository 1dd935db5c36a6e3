"""The service catalogue and the reform's figures in GraphQL, and the bureaus and systems auditors ask for.

``serviceItems`` pages the catalogue (事项目录) with each item's guide;
``reformIndicators`` computes every figure of the zone's report from the
registry's data at query time, beside the reported figure and what it was
computed over; ``sourceBureaus`` and ``businessSystems`` list the city bureaus
and their business systems (formerly only an export showed system names).
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from registry import catalogue, indicators, queries
from registry.catalogue import ONLINE_DEPTHS, UNIT_LABELS, ServiceEntry, ServiceFilter
from registry.models import ServiceCategory
from schema.context import HubContext
from schema.ledger import BusinessSystem, SourceBureau, registry_of, reporting
from schema.paging import PageInfo, decode_bounds, encode_cursor, page_info
from schema.permissions import Authenticated, LedgerReaders, requires

SERVICE_CURSOR = "service"

ServiceItemCategory = strawberry.enum(ServiceCategory, name="ServiceItemCategory")


@strawberry.type(description="One application material; a non-key one may be owed under 容缺受理")
class ServiceMaterial:
    name: str
    key: bool


@strawberry.type(description="One change to a catalogue item; the history is append-only")
class ServiceHistoryEntry:
    at: datetime
    actor: str
    field: str
    old_value: str | None
    new_value: str | None
    reason: str | None


@strawberry.type(description="A service item of the catalogue (事项目录) with its guide (办事指南)")
class ServiceItem:
    code: str
    name: str
    category: ServiceItemCategory  # type: ignore[valid-type]
    domain: str = strawberry.field(description="事项领域, e.g. 工程建设")
    department_code: str | None = strawberry.field(description="the receiving department handling it")
    window_bureau_code: str | None = strawberry.field(description="or the city bureau's forward window")
    application_based: bool = strawberry.field(description="依申请")
    in_centre: bool = strawberry.field(description="handled in the service centre")
    conditions: str
    procedure: str
    materials: list[ServiceMaterial]
    materials_before: int = strawberry.field(description="materials the guide asked for before the reform")
    statutory_limit: int
    promised_limit: int
    limit_unit: str = strawberry.field(description="WORKING_DAYS (工作日) or CALENDAR_DAYS (自然日)")
    limit_unit_label: str
    online_depth: int = strawberry.field(description="1 信息公开 … 4 全程网办")
    online_depth_label: str
    tolerance: bool = strawberry.field(
        description="accepts an application with non-key materials owed (容缺受理)"
    )
    commitment: bool = strawberry.field(
        description="decided on the applicant's written commitment (告知承诺制)"
    )
    parallel_group: str | None = strawberry.field(description="the parallel-handling group (并联审批)")
    handbook_code: str | None = strawberry.field(
        description="the handbook entry it publishes (approvalGuide)"
    )
    delegated_item_code: str | None = strawberry.field(description="the delegated item (delegatedItem)")
    kinds: list[str] = strawberry.field(description="approval kinds it covers; their limits are its limits")
    cases: int = strawberry.field(description="cases in the reporting year")
    online_cases: int = strawberry.field(description="of which handled online")

    @strawberry.field(
        description="Every change to this item, oldest first", extensions=requires(LedgerReaders)
    )
    async def history(self, info: Info[HubContext, None]) -> list[ServiceHistoryEntry]:
        rows = await catalogue.item_history(registry_of(info), self.code)
        return [
            ServiceHistoryEntry(
                at=r.at,
                actor=r.actor,
                field=r.field,
                old_value=r.old_value,
                new_value=r.new_value,
                reason=r.reason,
            )
            for r in rows
        ]

    @classmethod
    def of(cls, e: ServiceEntry) -> ServiceItem:
        return cls(
            code=e.code,
            name=e.name,
            category=e.category,
            domain=e.domain,
            department_code=e.department_code,
            window_bureau_code=e.window_bureau_code,
            application_based=e.application_based,
            in_centre=e.in_centre,
            conditions=e.conditions,
            procedure=e.procedure,
            materials=[ServiceMaterial(name=m.name, key=m.key) for m in e.materials],
            materials_before=e.materials_before,
            statutory_limit=e.statutory_limit,
            promised_limit=e.promised_limit,
            limit_unit=e.limit_unit.value,
            limit_unit_label=UNIT_LABELS[e.limit_unit],
            online_depth=e.online_depth,
            online_depth_label=ONLINE_DEPTHS[e.online_depth],
            tolerance=e.tolerance,
            commitment=e.commitment,
            parallel_group=e.parallel_group,
            handbook_code=e.handbook_code,
            delegated_item_code=e.delegated_item_code,
            kinds=list(e.kinds),
            cases=e.cases,
            online_cases=e.online_cases,
        )


@strawberry.type
class ServiceItemEdge:
    cursor: str
    node: ServiceItem


@strawberry.type
class ServiceItemConnection:
    edges: list[ServiceItemEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input
class ServiceItemFilter:
    department_code: str | None = strawberry.field(
        default=None, description="a receiving department, or a city bureau for its forward window"
    )
    category: ServiceItemCategory | None = None  # type: ignore[valid-type]
    domain: str | None = None
    in_centre: bool | None = strawberry.field(default=None, description="application-based and in the centre")
    commitment: bool | None = None
    tolerance: bool | None = None
    handbook_code: str | None = None
    search: str | None = strawberry.field(default=None, description="part of the item's name or code")


@strawberry.type(description="One figure of the reform, computed now from the registry's data")
class ReformIndicator:
    key: str
    label: str = strawberry.field(description="the figure's Chinese name")
    value: float | None = strawberry.field(
        description="computed at query time, at the report's precision; null when its base is empty"
    )
    unit: str
    reported: float = strawberry.field(description="the figure the zone's 2023 report gives")
    basis: str = strawberry.field(description="what the value was computed over")


@strawberry.type(description="A city bureau (下放部门) with its business systems")
class SourceBureauWithSystems(SourceBureau):
    systems: list[BusinessSystem]


@strawberry.type
class Query:
    @strawberry.field(
        description="The service catalogue ordered by code, a page at a time",
        extensions=requires(Authenticated),
    )
    async def service_items(
        self,
        info: Info[HubContext, None],
        filter: ServiceItemFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> ServiceItemConnection:
        registry = registry_of(info)
        f = ServiceFilter(**vars(filter)) if filter else None
        with reporting():
            after_code, before_code = decode_bounds(SERVICE_CURSOR, after, before)
            page = await catalogue.list_entries(
                registry, f, first=first, after_code=after_code, last=last, before_code=before_code
            )
        edges = [
            ServiceItemEdge(cursor=encode_cursor(SERVICE_CURSOR, e.code), node=ServiceItem.of(e))
            for e in page.entries
        ]
        return ServiceItemConnection(
            edges=edges,
            page_info=page_info(edges, has_next=page.has_next, has_previous=page.has_previous),
            total_count=page.total,
        )

    @strawberry.field(description="One catalogue item by its code", extensions=requires(Authenticated))
    async def service_item(self, info: Info[HubContext, None], code: str) -> ServiceItem | None:
        entry = await catalogue.get_entry(registry_of(info), code)
        return ServiceItem.of(entry) if entry else None

    @strawberry.field(
        description="The reform's figures, each computed now from the catalogue and the ledger, "
        "beside the report's figure and what it was computed over",
        extensions=requires(LedgerReaders),
    )
    async def reform_indicators(self, info: Info[HubContext, None]) -> list[ReformIndicator]:
        with reporting():
            rows = await indicators.reform_indicators(registry_of(info))
        return [
            ReformIndicator(
                key=i.key, label=i.label, value=i.value, unit=i.unit, reported=i.reported, basis=i.basis
            )
            for i in rows
        ]

    @strawberry.field(
        description="The city bureaus that delegated powers, with their business systems",
        extensions=requires(LedgerReaders),
    )
    async def source_bureaus(self, info: Info[HubContext, None]) -> list[SourceBureauWithSystems]:
        registry = registry_of(info)
        systems = await queries.systems_by_code(registry)
        return [
            SourceBureauWithSystems(
                code=b.code,
                name=b.name,
                short_name=b.short_name,
                systems=[
                    BusinessSystem(code=s.code, name=s.name, bureau_code=s.bureau_code)
                    for s in sorted(systems.values(), key=lambda s: s.code)
                    if s.bureau_code == b.code
                ],
            )
            for b in sorted((await queries.bureaus_by_code(registry)).values(), key=lambda b: b.code)
        ]

    @strawberry.field(
        description="The bureaus' business systems (业务系统), of one bureau or all",
        extensions=requires(LedgerReaders),
    )
    async def business_systems(
        self, info: Info[HubContext, None], bureau_code: str | None = None
    ) -> list[BusinessSystem]:
        systems = await queries.systems_by_code(registry_of(info))
        return [
            BusinessSystem(code=s.code, name=s.name, bureau_code=s.bureau_code)
            for s in sorted(systems.values(), key=lambda s: s.code)
            if bureau_code is None or s.bureau_code == bureau_code
        ]
