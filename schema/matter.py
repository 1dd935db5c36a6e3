"""The one-matter queries portals rely on (names fixed by the API contract).

- ``matter(projectCode)``: a project across every department;
- ``matters(filter, first, after)``: filtered, Relay-paged, over the matter index;
- ``enterprise(creditCode)``: an enterprise with its projects as a connection;
- ``sources``: each department system's health and the hub's figures for it;
- ``promiseKept``: promise-kept counts and rates by department and approval kind;
- ``approvalGuide``: the handbook's 14 construction approvals.

Identifiers are checked here, at the edge, before any department is called
(DESIGN rule 4). Resolvers stay thin: loading lives in ``schema.types`` and
``schema.loaders``, rules in ``domain.rules``; who may see what is checked
against ``info.context.principal`` by the security layer.
"""

from __future__ import annotations

import asyncio
import unicodedata
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from connectors.base import Connector
from domain.errors import ConnectorError, InvalidInput
from domain.identifiers import credit_code_problem, project_code_problem
from domain.records import HealthReport, Lifecycle, Stage
from schema.clocks import FigureReaders, PromiseKeptReport, promise_kept_report
from schema.context import HubContext
from schema.labels import Department, departments
from schema.matter_index import MatterQuery
from schema.permissions import (
    Authenticated,
    EnterpriseReaders,
    Guarded,
    MatterReaders,
    SourceReaders,
    requires,
)
from schema.types import (
    DEPARTMENT_ORDER,
    ApprovalGuideEntry,
    Enterprise,
    Matter,
    MatterConnection,
    SourceHealth,
    _ordered,
    approval_guide,
    field,
    load_matter,
    matter_connection,
    matter_window,
)

# -- edge checks -------------------------------------------------------------------


def checked_project_code(value: object, *, argument: str) -> str:
    problem = project_code_problem(value) if isinstance(value, str) else "a project code is a string"
    if problem is not None:
        raise InvalidInput(f"{argument}: {problem}", argument=argument, rule=problem)
    assert isinstance(value, str)
    return value


def checked_credit_code(value: object, *, argument: str) -> str:
    problem = credit_code_problem(value) if isinstance(value, str) else "a credit code is a string"
    if problem is not None:
        raise InvalidInput(f"{argument}: {problem}", argument=argument, rule=problem)
    assert isinstance(value, str)
    return value


MAX_SEARCH = 64


def checked_search(value: str) -> str:
    """The search words, trimmed and casefolded; blank, over-long or control characters refused."""
    words = value.strip()
    problem = None
    if not words:
        problem = "search must not be blank"
    elif len(words) > MAX_SEARCH:
        problem = f"search must be at most {MAX_SEARCH} characters"
    elif any(unicodedata.category(c).startswith("C") for c in words):
        problem = "search must not hold control or invisible characters"
    if problem is not None:
        raise InvalidInput(f"filter.search: {problem}", argument="filter.search", rule=problem)
    return words.casefold()


# -- inputs ------------------------------------------------------------------------


@strawberry.input(description="Every given condition must hold.")
class MatterFilter:
    credit_code: str | None = strawberry.field(default=None, description="The enterprise's credit code.")
    stage: Stage | None = None
    department: str | None = strawberry.field(
        default=None, description="Projects this department knows (e.g. fire); narrows status and overdue."
    )
    status: Lifecycle | None = strawberry.field(default=None, description="Some item has this status.")
    overdue: bool | None = strawberry.field(
        default=None,
        description=(
            "true: some item is still open (not approved, rejected or withdrawn) and past its limit at the "
            "as-of date (ApprovalItem.overdue); items decided late are not overdue (see decidedLate). "
            "false: no item is."
        ),
    )

    search: str | None = strawberry.field(
        default=None,
        description=(
            "Words in the project's or the enterprise's name (e.g. 上河九章), or the start of the project "
            "code, credit code or parcel code (e.g. 2023-430472); case-insensitive, 1–64 characters."
        ),
    )

    def to_query(self, departments: set[str]) -> MatterQuery:
        credit_code = (
            checked_credit_code(self.credit_code, argument="filter.creditCode")
            if self.credit_code is not None
            else None
        )
        if self.department is not None and self.department not in departments:
            rule = f"department must be one of {', '.join(_ordered(departments))}"
            raise InvalidInput(f"filter.department: {rule}", argument="filter.department", rule=rule)
        return MatterQuery(
            search=checked_search(self.search) if self.search is not None else None,
            credit_code=credit_code,
            stage=self.stage,
            department=self.department,
            status=self.status,
            overdue=self.overdue,
        )


# -- loading -----------------------------------------------------------------------


async def load_enterprise(info: Info[HubContext, None], credit_code: str) -> Enterprise | None:
    try:
        found = await info.context.loaders.enterprises.load(credit_code)
    except ConnectorError:
        # The directory failed: the index's copy of the enterprise, if it has one.
        for entry in info.context.matter_index.select(MatterQuery(credit_code=credit_code))[:1]:
            return Enterprise.of(entry.profile.enterprise)
        raise
    return Enterprise.of(found) if found is not None else None


async def _source_health(name: str, connector: Connector) -> SourceHealth:
    report: HealthReport | None
    detail: str | None = None
    try:
        report = await connector.health()
    except Exception as exc:
        report = None
        detail = str(exc) if isinstance(exc, ConnectorError) else "health check failed"
    stats = connector.pipeline.stats()
    return SourceHealth(
        department=name,
        title=connector.title,
        status=report.status if report else "UNREACHABLE",
        latency_ms=report.latency_ms if report else None,
        detail=report.detail if report else detail,
        breaker_state=stats.breaker_state.value,
        calls=stats.calls,
        upstream_calls=stats.upstream_calls,
        errors=sum(stats.errors.values()),
        retries=stats.retries,
        cache_hits=stats.cache_hits,
        cache_misses=stats.cache_misses,
        stale_served=stats.stale_served,
        last_error=stats.last_error,
        counters=_jsonable(stats.as_dict()),
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


# -- the queries -------------------------------------------------------------------


@strawberry.type
class Query:
    @field(
        description="A construction project's whole approval picture, by project code.",
        extensions=[*requires(MatterReaders), Guarded("project")],
    )
    async def matter(
        self,
        info: Info[HubContext, None],
        project_code: Annotated[str, strawberry.argument(description="投资项目统一代码 (GB/T 40058-2021).")],
    ) -> Matter | None:
        return await load_matter(info, checked_project_code(project_code, argument="projectCode"))

    @field(
        description=(
            "Matters by filter, Relay-paged, sorted by project code. Filters read the hub's matter "
            "index, rebuilt every hub.index_refresh_s seconds (60 by default; see index.builtAt); "
            "the matters on the page are loaded fresh, one batch call per department."
        ),
        extensions=requires(MatterReaders),  # each caller's page holds only what it may read
    )
    async def matters(
        self,
        info: Info[HubContext, None],
        filter: MatterFilter | None = None,
        first: Annotated[int | None, strawberry.argument(description="At most 100; 20 by default.")] = None,
        after: str | None = None,
        last: Annotated[int | None, strawberry.argument(description="At most 100; pages backward.")] = None,
        before: str | None = None,
    ) -> MatterConnection:
        w = matter_window(first, after, last, before)
        query = filter.to_query(set(info.context.connectors)) if filter else MatterQuery()
        return await matter_connection(info, query, w)

    @field(
        description="An enterprise by unified social credit code, with its projects.",
        extensions=[*requires(EnterpriseReaders), Guarded("enterprise")],
    )
    async def enterprise(
        self,
        info: Info[HubContext, None],
        credit_code: Annotated[str, strawberry.argument(description="统一社会信用代码 (GB 32100-2015).")],
    ) -> Enterprise | None:
        return await load_enterprise(info, checked_credit_code(credit_code, argument="creditCode"))

    @field(
        description="Each department system's health, latency, breaker and cache figures.",
        extensions=requires(SourceReaders),
    )
    async def sources(self, info: Info[HubContext, None]) -> list[SourceHealth]:
        connectors = info.context.connectors
        names = _ordered(connectors)
        return list(await asyncio.gather(*(_source_health(n, connectors[n]) for n in names)))

    @field(
        description=(
            "Promise-kept counts and rates by department and by approval kind over the zone's items "
            "(approved or rejected items with a limit; from the matter index)."
        ),
        extensions=requires(FigureReaders),
    )
    async def promise_kept(self, info: Info[HubContext, None]) -> PromiseKeptReport:
        return await promise_kept_report(info)

    @field(
        description="The connected departments with their titles (what every department field names).",
        extensions=requires(Authenticated),
    )
    def connected_departments(self, info: Info[HubContext, None]) -> list[Department]:
        return departments(info, DEPARTMENT_ORDER)

    @field(description="The zone's advance-notice handbook: 14 construction approvals.")
    def approval_guide(self) -> list[ApprovalGuideEntry]:
        return approval_guide()
