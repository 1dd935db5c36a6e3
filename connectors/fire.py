"""Connector for the fire system (消防).

The department speaks snake_case JSON inside a ``{"code": 0, "msg", "data"}``
envelope, numeric status codes, ``"20240305"`` dates with ``""`` for a date
not reached, and 0/1 flags. The raw status kept is the code as text::

    0 未申报 -> NOT_STARTED   10 已申报 -> SUBMITTED   20 已受理 -> ACCEPTED
    30 审查中 -> IN_REVIEW    40 待补正 -> SUPPLEMENT_REQUIRED   50 中止 -> SUSPENDED
    60 合格 -> APPROVED       70 不合格 -> REJECTED    80 已撤回 -> WITHDRAWN

``review_path`` 1 is the design-review path of special construction projects,
2 the filing path (备案) with its ``spot_check`` draw.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import httpx

from connectors import jsonfields as j
from connectors.failures import parsed
from connectors.http import health_check
from connectors.jsonfields import segment
from connectors.pipeline import (
    CallPipeline,
    Fetched,
    check_response,
    settled_sources,
    with_source,
    with_sources,
)
from domain.errors import ConnectorError, DepartmentRejected
from domain.records import (
    ApprovalItem,
    DepartmentView,
    EventKind,
    FirePath,
    FirePathKind,
    HealthReport,
    ItemEvent,
    Lifecycle,
)

if TYPE_CHECKING:
    from aiocache.base import BaseCache

    from connectors.settings import ConnectorSettings

NAME = "fire"
MAX_BATCH = 50  # project_codes per batch lookup

STATUS_CODES: dict[int, Lifecycle] = {
    0: Lifecycle.NOT_STARTED,
    10: Lifecycle.SUBMITTED,
    20: Lifecycle.ACCEPTED,
    30: Lifecycle.IN_REVIEW,
    40: Lifecycle.SUPPLEMENT_REQUIRED,
    50: Lifecycle.SUSPENDED,
    60: Lifecycle.APPROVED,
    70: Lifecycle.REJECTED,
    80: Lifecycle.WITHDRAWN,
}

_RAW_STATUS = {str(code): status for code, status in STATUS_CODES.items()}

# Flow record action codes (流转记录) by what happened.
FLOW_ACTIONS: dict[int, EventKind] = {
    10: EventKind.SUBMITTED,
    20: EventKind.ACCEPTED,
    41: EventKind.SUPPLEMENT_REQUESTED,
    42: EventKind.SUPPLEMENT_RETURNED,
    51: EventKind.SUSPENDED,
    52: EventKind.RESUMED,
    60: EventKind.APPROVED,
    70: EventKind.REJECTED,
    80: EventKind.WITHDRAWN,
    90: EventKind.CERTIFICATE_ISSUED,
}

ITEM_KINDS_BY_BIZ: dict[str, str] = {
    "SJSC": "fire.design_review",
    "SJBA": "fire.design_filing",
    "XFYS": "fire.acceptance",
    "YSBA": "fire.acceptance_filing",
}

REVIEW_PATHS: dict[int, FirePathKind] = {1: FirePathKind.DESIGN_REVIEW, 2: FirePathKind.FILING}


class FireConnector:
    """The fire department: design review or filing, then acceptance or acceptance filing."""

    name = NAME
    title = "消防救援支队"
    part = "schema.departments:FIRE"  # its field of Matter (connectors know no GraphQL)
    option_names = frozenset({"batch_size"})  # [connectors.NAME.options] keys; any other is refused

    def __init__(self, *, settings: ConnectorSettings, client: httpx.AsyncClient, cache: BaseCache) -> None:
        self.settings = settings
        self.client = client
        self.pipeline = CallPipeline(NAME, settings, cache)
        self.batch_size = min(settings.option("batch_size", MAX_BATCH, minimum=1), MAX_BATCH)

    @staticmethod
    def normalise_status(raw: str) -> Lifecycle:
        """The raw status (the numeric code as text, ``"30"``) to the lifecycle."""
        status = _RAW_STATUS.get(raw)  # exact text: no signs, spaces or full-width digits
        if status is None:
            raise ValueError(f"not a fire status code: {raw!r}")
        return status

    async def fetch_project(self, project_code: str) -> DepartmentView | None:
        """The fire record of one project; None if the department has none."""
        fetched = await self.pipeline.call("project", project_code, lambda: self._get_project(project_code))
        return with_source(fetched)

    async def fetch_projects(self, project_codes: Sequence[str]) -> Mapping[str, DepartmentView]:
        """Batch lookup through ``GET /api/v1/projects?project_codes=...``, 50 codes per call."""
        # Commas separate codes upstream: a code holding one cannot be asked for in a batch.
        codes = [c for c in dict.fromkeys(project_codes) if c and "," not in c]
        if not codes:
            return {}
        found = await self.pipeline.call_batch("project", codes, self._query_projects)
        return with_sources(found)

    async def fetch_answers(
        self, project_codes: Sequence[str]
    ) -> Mapping[str, Fetched[DepartmentView | None] | ConnectorError]:
        """``fetch_projects``, each project settled alone (``connectors.base.AnswersEachProject``)."""
        codes = [c for c in dict.fromkeys(project_codes) if c and "," not in c]
        if not codes:
            return {}
        return settled_sources(await self.pipeline.call_batch_settled("project", codes, self._query_projects))

    async def health(self) -> HealthReport:
        return await health_check(self.client, NAME, self.settings.deadline_s)

    async def aclose(self) -> None:
        """Nothing to release: the hub owns the client and the cache."""

    # -- upstream calls (inside the pipeline) -----------------------------------------

    async def _get_project(self, project_code: str) -> DepartmentView | None:
        response = await self.client.get(f"/api/v1/projects/{segment(project_code)}")
        if response.status_code == 404:
            return None
        check_response(response, department=NAME)
        return parse_project(_data(response))

    async def _query_projects(self, project_codes: list[str]) -> dict[str, DepartmentView]:
        size = self.batch_size
        chunks = [project_codes[i : i + size] for i in range(0, len(project_codes), size)]
        answers = await asyncio.gather(*(self._query_chunk(chunk) for chunk in chunks))
        return {view.project_code: view for views in answers for view in views}

    async def _query_chunk(self, project_codes: list[str]) -> list[DepartmentView]:
        response = await self.client.get(
            "/api/v1/projects",
            params={"project_codes": ",".join(project_codes), "offset": 0, "limit": len(project_codes)},
        )
        check_response(response, department=NAME)
        data = _data(response)
        return parsed(NAME, lambda: [parse_project(raw) for raw in j.array(data, "list")])


def _data(response: httpx.Response) -> Any:
    """The ``data`` of the department's envelope; a non-zero business code is a refusal."""
    body = parsed(NAME, response.json)
    code = parsed(NAME, lambda: j.integer(body, "code"))
    if code != 0:
        raise DepartmentRejected(
            f"{NAME} refused the request (business code {code})",
            department=NAME,
            status_code=response.status_code,
        )
    return parsed(NAME, lambda: j.get(body, "data"))


# -- parsing -------------------------------------------------------------------------------


def parse_project(raw: Any) -> DepartmentView:
    return parsed(NAME, lambda: _project(raw))


def _project(raw: Any) -> DepartmentView:
    path_code = j.opt_integer(raw, "review_path")
    fire_path = None
    if path_code is not None:
        fire_path = FirePath(path=REVIEW_PATHS[path_code], spot_check_drawn=j.flag(raw, "spot_check"))
    return DepartmentView(
        department=NAME,
        project_code=j.string(raw, "project_code"),
        items=tuple(parse_case(case) for case in j.array(raw, "cases")),
        fire_path=fire_path,
    )


def parse_case(raw: Any) -> ApprovalItem:
    """One fire case as an approval item."""
    code = j.integer(raw, "status")
    if code not in STATUS_CODES:
        raise ValueError("unknown status code")
    return ApprovalItem(
        department=NAME,
        kind=ITEM_KINDS_BY_BIZ[j.string(raw, "biz_type")],
        name=j.string(raw, "biz_name"),
        status=STATUS_CODES[code],
        raw_status=str(code),
        file_number=j.opt_string(raw, "case_no"),
        submitted_on=_day(raw, "apply_date"),
        accepted_on=_day(raw, "accept_date"),
        decided_on=_day(raw, "finish_date"),
        statutory_limit_days=j.opt_integer(raw, "legal_limit"),
        promised_limit_days=j.opt_integer(raw, "promise_limit"),
        paused=tuple(_period(p) for p in j.array(raw, "suspend_periods")),
        certificate_number=j.opt_string(raw, "doc_no"),
        missing_materials=tuple(j.strings(raw, "missing_materials")),
        materials_due_on=_day(raw, "materials_due_date"),
        on_commitment=j.flag(raw, "commitment"),
        history=parse_flow_records(raw),
    )


def parse_flow_records(raw: Any) -> tuple[ItemEvent, ...]:
    """The case's flow records (流转记录); a case without them has no history."""
    if isinstance(raw, dict) and raw.get("flow_records") is None:
        return ()
    events = []
    for record in j.array(raw, "flow_records"):
        kind = FLOW_ACTIONS.get(j.integer(record, "action"))
        on = _day(record, "action_date")
        if kind is None or on is None:
            raise ValueError("unknown flow action or a flow record without a date")
        events.append(ItemEvent(on=on, kind=kind))
    return tuple(events)


def _period(raw: Any) -> tuple[date, date | None]:
    begin = _day(raw, "begin")
    if begin is None:
        raise ValueError("a suspension without a start")
    return begin, _day(raw, "end")


def _day(raw: Any, key: str) -> date | None:
    """``"20240305"``, or ``""`` for a date not reached (the department never sends null)."""
    value = j.string(raw, key)
    if value == "":
        return None
    day = _yyyymmdd(value)
    if day is None:
        raise ValueError(f"{key} is not a YYYYMMDD date")
    return day


@functools.lru_cache(maxsize=4096)
def _yyyymmdd(value: str) -> date | None:
    """``value`` as a date, None if not 8 digits; an impossible day raises ValueError (not cached)."""
    if len(value) != 8 or not value.isdigit():
        return None
    return date(int(value[:4]), int(value[4:6]), int(value[6:]))
