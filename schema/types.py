"""Strawberry types of the one-matter view, and how records become them.

Resolvers stay thin: a ``Matter`` is built once per project from its profile
and each department's ``ViewResult`` (or that department's error), loaded
concurrently through the DataLoaders; its fields only read what was loaded and
apply ``domain.rules``. A department's failure nulls only the fields that
department feeds, with a GraphQL error carrying its extensions.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from domain import records, rules
from domain.errors import ConnectorError
from domain.handbook import BY_CODE, HANDBOOK, GuideEntry
from domain.labels import PHASE_LABELS, PHASED_MODE_LABELS, SOURCE_STATUS_LABELS, label
from domain.limits import LimitUnit
from domain.records import (
    DepartmentView,
    Lifecycle,
    ProjectProfile,
    Stage,
)
from domain.timeline import timeline as build_timeline
from schema.context import HubContext
from schema.copying import copied
from schema.labels import code_label, department_label
from schema.loaders import ViewResult
from schema.matter_index import MatterIndex, MatterQuery, Page, page_in
from schema.paging import PageInfo, Window, encode_cursor, page_info, window
from schema.permissions import Masked, guard, visible
from schema.timeline import MatterTimeline


@strawberry.enum(description="How fresh a department's part of a matter is.")
class SourceStatus(StrEnum):
    OK = "OK"  # answered now (or from the fresh cache)
    STALE = "STALE"  # the department failed: its last good answer, from fetchedAt, and why
    UNAVAILABLE = "UNAVAILABLE"  # failed, no copy: its part is null, with its error


# Departments in the order a matter lists them.
DEPARTMENT_ORDER = ("planning", "civil_air_defence", "fire", "utilities", "real_estate")


F = TypeVar("F", bound=Callable[..., Any])


def field(**options: Any) -> Callable[[F], F]:
    """``strawberry.field(...)`` as a decorator mypy can see through (its keyword form is typed Any)."""
    return cast("Callable[[F], F]", strawberry.field(**options))


# -- leaf types -------------------------------------------------------------------


@functools.lru_cache(maxsize=65_536)
def item_clock(item: records.ApprovalItem, as_of: date) -> rules.ItemClock:
    """``rules.item_clock``, memoised: clocks walk the calendar and items are immutable."""
    return rules.item_clock(item, as_of)


@strawberry.type
class Contact:
    name: str = strawberry.field(extensions=[Masked("staff_name")])
    phone: str = strawberry.field(extensions=[Masked("phone")])

    @classmethod
    def of(cls, contact: records.Contact | None) -> Contact | None:
        return cls(name=contact.name, phone=contact.phone) if contact else None


@strawberry.type(description="One approval item a department handles, with its working-day clock.")
class ApprovalItem:
    department: str
    department_label: str = department_label()
    kind: str
    name: str
    status: Lifecycle
    status_label: str = code_label("status")
    raw_status: str
    file_number: str | None
    submitted_on: date | None
    accepted_on: date | None
    decided_on: date | None
    statutory_limit_days: int | None
    promised_limit_days: int | None
    working_days_used: int | None = strawberry.field(
        description="Working days on the Chinese calendar, not counting 补齐补正 or 挂起."
    )
    due_on: date | None
    limit_unit: LimitUnit = strawberry.field(description="What the limits and day counts are counted in.")
    limit_unit_label: str = code_label("limit_unit")
    overdue: bool = strawberry.field(
        description="Still open (not approved, rejected or withdrawn) and past its limit at the as-of date."
    )
    decided_late: bool = strawberry.field(
        description="Approved or rejected after its limit (the promised one, else the statutory one)."
    )
    late_by_days: int | None = strawberry.field(
        description="When decided late: by how many working days (calendar days for a calendar-day limit)."
    )
    promise_kept: bool | None = strawberry.field(
        description="Approved or rejected within its limit; null while open, when withdrawn or with no limit."
    )
    limit_problem: str | None = strawberry.field(description="Bad time-limit data, if any.")
    certificate_number: str | None
    missing_materials: list[str] = strawberry.field(description="容缺受理: materials still owed.")
    materials_due_on: date | None
    on_commitment: bool = strawberry.field(description="告知承诺制: decided on a written promise.")

    @classmethod
    def of(cls, item: records.ApprovalItem, as_of: date) -> ApprovalItem:
        clock = item_clock(item, as_of)
        return copied(
            cls,
            item,
            working_days_used=clock.working_days_used,
            due_on=clock.due_on,
            overdue=clock.overdue,
            decided_late=clock.decided_late,
            late_by_days=clock.late_by_days,
            promise_kept=clock.promise_kept,
            limit_problem=clock.limit_problem,
            missing_materials=list(item.missing_materials),
        )


@strawberry.type(description="One phase of a phased construction permit (分阶段办理施工许可).")
class Phase:
    phase: str = strawberry.field(description="EARTHWORK, BASEMENT, BELOW_GROUND, ABOVE_GROUND or FULL.")
    phase_label: str = code_label("phase", PHASE_LABELS)
    name: str
    eligible: bool
    missing: list[str] = strawberry.field(description="Prerequisites still missing, by name.")
    issued: bool = strawberry.field(
        description="Whether this phase's permit was issued, as a department that answered reports it."
    )
    permit_number: str | None = strawberry.field(description="The issued permit's number.")
    issued_on: date | None
    issued_by: str | None = strawberry.field(description="The department that reported the permit.")


@strawberry.type
class PhasedPermit:
    mode: str = strawberry.field(description="NONE, TWO_PHASE or THREE_PHASE.")
    mode_label: str = code_label("mode", PHASED_MODE_LABELS)
    phases: list[Phase]

    @classmethod
    def of(
        cls, answer: rules.PhasedPermitAnswer, permits: Sequence[records.PermitIssued] = ()
    ) -> PhasedPermit:
        """The rules' answer per phase, with the permit any department reported issued for it."""
        issued = {p.phase: p for p in permits}
        phases = []
        for p in answer.phases:
            permit = issued.get(p.phase)
            phases.append(
                Phase(
                    phase=p.phase,
                    name=p.name,
                    eligible=p.eligible,
                    missing=list(p.missing),
                    issued=permit is not None,
                    permit_number=permit.permit_number if permit else None,
                    issued_on=permit.issued_on if permit else None,
                    issued_by=permit.department if permit else None,
                )
            )
        return cls(mode=answer.mode, phases=phases)


@strawberry.type(
    description="The published time limits of one approval kind (the hub's one table of limits)."
)
class GuideLimit:
    kind: str
    statutory_days: int
    promised_days: int
    unit: LimitUnit
    unit_label: str = code_label("unit")


@strawberry.type(description="An entry of the zone's advance-notice handbook (14 construction approvals).")
class ApprovalGuideEntry:
    code: str
    name: str
    department: str
    department_label: str = department_label()
    stage: Stage
    stage_label: str = code_label("stage")
    basis: str = strawberry.field(description="Legal basis.")
    conditions: list[str]
    materials: list[str]
    process: list[str]
    contact: str = strawberry.field(description="The service centre window's phone number.")
    statutory_days: int = strawberry.field(description="The main kind's statutory limit (see limits).")
    promised_days: int = strawberry.field(description="The main kind's promised limit (see limits).")
    limits: list[GuideLimit] = strawberry.field(
        description="Every kind the entry covers with its limits, e.g. a review and its lighter filing path."
    )
    item_kinds: list[str]

    @classmethod
    def of(cls, e: GuideEntry) -> ApprovalGuideEntry:
        return copied(
            cls,
            e,
            conditions=list(e.conditions),
            materials=list(e.materials),
            process=list(e.process),
            limits=[
                GuideLimit(kind=k, statutory_days=lim.statutory, promised_days=lim.promised, unit=lim.unit)
                for k, lim in e.limits
            ],
            item_kinds=list(e.item_kinds),
        )


def approval_guide() -> list[ApprovalGuideEntry]:
    return [ApprovalGuideEntry.of(e) for e in HANDBOOK]


@strawberry.type(description="What stops the project moving.")
class Blocker:
    department: str
    department_label: str = department_label()
    kind: str | None
    reason: str
    message: str


@strawberry.type(description="What the enterprise must bring next, from the handbook.")
class NextStep:
    department: str
    department_label: str = department_label()
    kind: str | None
    title: str
    materials: list[str]
    guide_entry_code: str | None

    @strawberry.field
    def guide_entry(self) -> ApprovalGuideEntry | None:
        entry = BY_CODE.get(self.guide_entry_code) if self.guide_entry_code else None
        return ApprovalGuideEntry.of(entry) if entry else None


@strawberry.type(description="One department's part of a matter: how fresh it is.")
class MatterSource:
    department: str
    department_label: str = department_label()
    status: SourceStatus
    status_label: str = code_label("status", SOURCE_STATUS_LABELS)
    known: bool | None = strawberry.field(
        description="Whether the department knows the project (as the copy says, when STALE)."
    )
    fetched_at: datetime | None = strawberry.field(
        description="When the answer was fetched: the copy's time when STALE; null when UNAVAILABLE."
    )
    latency_ms: float | None
    error_code: str | None = strawberry.field(
        description=(
            "UNAVAILABLE: the department's error (DEPARTMENT_UNAVAILABLE, _TIMEOUT, _REJECTED, ...); "
            "STALE: the error the fresh call met; null when OK."
        )
    )
    retryable: bool | None
    message: str | None


@strawberry.type(description="A department system's health and the hub's figures for it.")
class SourceHealth:
    department: str
    department_label: str = department_label()
    title: str
    status: str = strawberry.field(description="UP, DOWN, MAINTENANCE, or UNREACHABLE (no answer).")
    latency_ms: float | None
    detail: str | None
    breaker_state: str | None
    calls: int | None
    upstream_calls: int | None
    errors: int | None = strawberry.field(description="Failed upstream calls, all codes.")
    retries: int | None
    cache_hits: int | None
    cache_misses: int | None
    stale_served: int | None
    last_error: str | None
    counters: JSON | None = strawberry.field(description="All of the call pipeline's counters.")


# -- matters ----------------------------------------------------------------------

Part = ViewResult | Exception  # one department's answer for one project, or its failure


@strawberry.federation.type(
    keys=["projectCode"], description="A construction project across every department."
)
class Matter:
    project_code: str
    _profile: strawberry.Private[ProjectProfile | None]
    _profile_error: strawberry.Private[Exception | None]
    _parts: strawberry.Private[dict[str, Part]]
    _as_of: strawberry.Private[date]

    @classmethod
    async def resolve_reference(cls, info: Info[HubContext, None], **representation: Any) -> Matter | None:
        from schema.matter import checked_project_code  # the edge checks live with the queries

        code = checked_project_code(representation.get("projectCode"), argument="projectCode")
        matter: Matter | None = guard(info, "project", await load_matter(info, code))
        return matter  # entities skip field rules: guard applies them here

    @property
    def profile(self) -> ProjectProfile | None:
        """The project's master data, if the directory (or the index) had it: for access rules."""
        return self._profile

    @property
    def credit_code(self) -> str | None:
        """The owning enterprise's credit code, for access rules (None if unknown)."""
        return self._profile.enterprise.credit_code if self._profile else None

    # views of the departments that answered (fresh or stale)
    def _views(self) -> dict[str, DepartmentView]:
        return {
            name: part.view
            for name, part in self._parts.items()
            if isinstance(part, ViewResult) and part.view is not None
        }

    @property
    def as_of(self) -> date:
        """ "Today" for the working-day clocks of this matter's items."""
        return self._as_of

    def department_view(self, department: str) -> DepartmentView | None:
        """The department's view (None: it does not know the project); raises its error if it failed."""
        part = self._parts.get(department)
        if isinstance(part, Exception):
            raise part
        return part.view if part is not None else None

    def _known_profile(self) -> ProjectProfile:
        if self._profile is None:
            raise self._profile_error or LookupError("no profile")
        return self._profile

    @strawberry.field
    def name(self) -> str | None:
        return self._known_profile().name

    @strawberry.field
    def enterprise(self) -> Enterprise | None:
        return Enterprise.of(self._known_profile().enterprise)

    @strawberry.field
    def site(self) -> str | None:
        return self._known_profile().site

    @field(description="宗地代码 shared by planning and registration.")
    def parcel_code(self) -> str | None:
        return self._known_profile().parcel_code

    @field(description="专职管家, if the project has one.")
    def agent(self) -> Contact | None:
        return Contact.of(self._known_profile().agent)

    @field(description="Null, with the department's error, when a failed department could change it.")
    def stage(self) -> Stage | None:
        return self._stage()

    @field(description="The Chinese label of stage (null with stage).")
    def stage_label(self) -> str | None:
        return label(self._stage())

    def _stage(self) -> Stage:
        stage = rules.derive_stage(self._views())
        if stage is not Stage.COMPLETION_ACCEPTANCE:
            # A department that failed might have moved the project on: do not guess.
            for part in self._parts.values():
                if isinstance(part, Exception):
                    raise part
        return stage

    @field(description="Every item of the departments that answered; see sources for the rest.")
    def items(self) -> list[ApprovalItem]:
        views = self._views()
        return [ApprovalItem.of(item, self._as_of) for name in _ordered(views) for item in views[name].items]

    @field(
        description="Per phase: eligible, or the prerequisites missing by name; issued, with number and date."
    )
    def phased_permit(self) -> PhasedPermit | None:
        profile = self._known_profile()
        # The answer is only right when every department holding a prerequisite answered.
        for name in ("planning", "civil_air_defence") + (("fire",) if profile.special_fire else ()):
            self.department_view(name)
        views = self._views()
        # Issued permits come from whichever department reports them (a plug-in's records).
        permits = [r for v in views.values() for r in v.records if isinstance(r, records.PermitIssued)]
        return PhasedPermit.of(rules.phased_permit(profile, views), permits)

    @field(description="From the departments that answered (see sources).")
    def blockers(self) -> list[Blocker] | None:
        found = rules.blockers(self._known_profile(), self._views(), self._as_of)
        return [
            Blocker(department=b.department, kind=b.kind, reason=b.reason, message=b.message) for b in found
        ]

    @field(description="What to bring next, from the handbook and the departments that answered.")
    def next_steps(self) -> list[NextStep] | None:
        found = rules.next_steps(self._known_profile(), self._views(), self._as_of)
        return [
            NextStep(
                department=s.department,
                kind=s.kind,
                title=s.title,
                materials=list(s.materials),
                guide_entry_code=s.guide_entry_code,
            )
            for s in found
        ]

    @field(
        description=(
            "Every event of the departments that answered, in date order, with the pause periods the "
            "working-day clock skips (see sources for departments that did not answer)."
        )
    )
    def timeline(self) -> MatterTimeline:
        return MatterTimeline.of(build_timeline(self._views(), DEPARTMENT_ORDER), self._as_of)

    @field(description="Per department: OK, STALE or UNAVAILABLE, fetched-at and latency.")
    def sources(self) -> list[MatterSource]:
        return [_source(name, self._parts[name]) for name in _ordered(self._parts)]


def _ordered(names: Iterable[str]) -> list[str]:
    rank = {name: i for i, name in enumerate(DEPARTMENT_ORDER)}
    return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


def _source(department: str, part: Part) -> MatterSource:
    if isinstance(part, Exception):
        hub_error = part if isinstance(part, ConnectorError) else None
        return MatterSource(
            department=department,
            status=SourceStatus.UNAVAILABLE,
            known=None,
            fetched_at=None,
            latency_ms=None,
            error_code=hub_error.code if hub_error else "INTERNAL_SERVER_ERROR",
            retryable=hub_error.retryable if hub_error else None,
            message=str(hub_error) if hub_error else None,
        )
    # A copy says why the fresh call failed; a fresh answer has nothing to say.
    failure = part.meta.failure if part.meta.stale else None
    return MatterSource(
        department=department,
        status=SourceStatus.STALE if part.meta.stale else SourceStatus.OK,
        known=part.view is not None,
        fetched_at=part.meta.fetched_at,
        latency_ms=round(part.meta.latency_ms, 3),
        error_code=failure.code if failure else None,
        retryable=failure.retryable if failure else None,
        message=str(failure) if failure else None,
    )


async def _settle(awaitable: Any) -> Any:
    try:
        return await awaitable
    except Exception as exc:
        return exc


async def load_matter(
    info: Info[HubContext, None], project_code: str, profile: ProjectProfile | None = None
) -> Matter | None:
    """One matter: its profile and every department, all requested in the same tick.

    Returns None when the directory answered that the project does not exist.
    """
    loaders = info.context.loaders
    if profile is not None:
        loaders.profiles.prime(project_code, profile)
    names = list(loaders.views)
    # Every load is queued before the first await, so each loader's batch goes out in the
    # same tick; the loaders' futures are then awaited in turn (no task per load).
    pending = [
        loaders.profiles.load(project_code),
        *(loaders.views[name].load(project_code) for name in names),
    ]
    results = [await _settle(future) for future in pending]
    found, parts = results[0], dict(zip(names, results[1:], strict=True))
    profile_error: Exception | None = None
    if isinstance(found, Exception):
        # The directory failed: fall back to the index's copy of the profile, if any.
        profile_error, found = found, _index_profile(info, project_code)
    elif found is None:
        return None
    return Matter(
        project_code=project_code,
        _profile=found,
        _profile_error=profile_error,
        _parts=parts,
        _as_of=info.context.as_of,
    )


def _index_profile(info: Info[HubContext, None], project_code: str) -> ProjectProfile | None:
    return info.context.matter_index.profile(project_code)


async def load_matters(info: Info[HubContext, None], profiles: Iterable[ProjectProfile]) -> list[Matter]:
    """A page of matters; the DataLoaders turn it into one batch call per department."""
    loaded = await asyncio.gather(*(load_matter(info, p.project_code, p) for p in profiles))
    return [m for m in loaded if m is not None]


# -- connections and enterprises --------------------------------------------------


@strawberry.type
class MatterEdge:
    cursor: str
    node: Matter


@strawberry.type(
    description=(
        "How fresh the index behind list filters is: rebuilt every refreshSeconds, so a filter "
        "may be that old (plus the connectors' cache TTL); the listed matters themselves are fresh."
    )
)
class MatterIndexStatus:
    built_at: datetime | None
    as_of: date | None
    refresh_seconds: float
    _projects: strawberry.Private[int]
    stale_departments: list[str] = strawberry.field(
        description="Departments whose last refresh failed; their filter data is older."
    )

    @strawberry.field(
        description="Projects in the zone (the whole index); null for roles that see only "
        "their own (ENTERPRISE, AGENT)."
    )
    def projects(self, info: Info[HubContext, None]) -> int | None:
        from schema.permissions import sees_the_whole_zone

        return self._projects if sees_the_whole_zone(info) else None


@strawberry.type
class MatterConnection:
    edges: list[MatterEdge]
    page_info: PageInfo
    total_count: int
    _index: strawberry.Private[MatterIndexStatus]
    _index_error: strawberry.Private[Exception | None] = None

    @strawberry.field
    def nodes(self) -> list[Matter]:
        return [edge.node for edge in self.edges]

    @field(
        description="How fresh the filters are; null, with the directory's error, if it could not be built."
    )
    def index(self) -> MatterIndexStatus | None:
        if self._index_error is not None:
            raise self._index_error
        return self._index


def _index_status(index: MatterIndex) -> MatterIndexStatus:
    status = index.status
    return MatterIndexStatus(
        built_at=status.built_at,
        as_of=status.as_of,
        refresh_seconds=status.refresh_s,
        _projects=status.projects,
        stale_departments=sorted(status.stale_departments),
    )


MAX_PAGE = 100
DEFAULT_PAGE = 20
MATTER_CURSOR = "matter"  # the cursor kind: a matter's cursor holds its project code


def matter_window(first: int | None, after: str | None, last: int | None, before: str | None) -> Window:
    """The Relay window of a matter connection, checked (cursors decoded) before any call."""
    return window(
        MATTER_CURSOR,
        first=first,
        after=after,
        last=last,
        before=before,
        default=DEFAULT_PAGE,
        maximum=MAX_PAGE,
    )


async def matter_connection(info: Info[HubContext, None], query: MatterQuery, w: Window) -> MatterConnection:
    index = info.context.matter_index
    try:
        await index.ready()
    except ConnectorError as exc:
        # Never built, and the directory is down: an empty page that says why, not a failed request.
        empty = page_info([], has_next=False, has_previous=False)
        return MatterConnection(
            edges=[], page_info=empty, total_count=0, _index=_index_status(index), _index_error=exc
        )
    # Access rule before paging: projects the caller may not read are left out of the list.
    page: Page = page_in(visible(info, "project", index.select(query)), w)
    matters = guard(info, "project", await load_matters(info, (e.profile for e in page.entries)))
    edges = [MatterEdge(cursor=encode_cursor(MATTER_CURSOR, m.project_code), node=m) for m in matters]
    return MatterConnection(
        edges=edges,
        page_info=page_info(edges, has_next=page.has_next, has_previous=page.has_previous),
        total_count=page.total,
        _index=_index_status(index),
    )


@strawberry.federation.type(keys=["creditCode"], description="An enterprise and its projects.")
class Enterprise:
    credit_code: str
    name: str
    key_enterprise: bool
    liaison: Contact | None = strawberry.field(description="Key enterprises have a liaison officer.")

    @classmethod
    def of(cls, e: records.EnterpriseProfile) -> Enterprise:
        return copied(cls, e, liaison=Contact.of(e.liaison))

    @classmethod
    async def resolve_reference(
        cls, info: Info[HubContext, None], **representation: Any
    ) -> Enterprise | None:
        from schema.matter import checked_credit_code, load_enterprise

        code = checked_credit_code(representation.get("creditCode"), argument="creditCode")
        enterprise: Enterprise | None = guard(info, "enterprise", await load_enterprise(info, code))
        return enterprise  # entities skip field rules: guard applies them here

    @field(description="The enterprise's projects, Relay-style.")
    async def projects(
        self,
        info: Info[HubContext, None],
        first: Annotated[int | None, strawberry.argument(description="At most 100; 20 by default.")] = None,
        after: str | None = None,
        last: Annotated[int | None, strawberry.argument(description="At most 100; pages backward.")] = None,
        before: str | None = None,
    ) -> MatterConnection:
        w = matter_window(first, after, last, before)
        return await matter_connection(info, MatterQuery(credit_code=self.credit_code), w)
