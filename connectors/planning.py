"""Connector for the planning system (自然资源和规划局), also the hub's project directory.

The department speaks camelCase JSON with ``"2024-03-05"`` dates, pinyin item
codes and numeric step codes; one project record carries both the master data
(the directory) and the department's files, so one upstream answer, cached
once, serves ``fetch_project`` and ``fetch_profiles`` alike.

Step codes (raw status kept as ``"<code> <name>[ <result>]"``, e.g. ``"4 办结 准予"``)::

    0 未收件 -> NOT_STARTED     1 收件 -> SUBMITTED     2 受理 -> ACCEPTED
    3 审核   -> IN_REVIEW       4 办结 + 准予 -> APPROVED, 4 办结 + 不予 -> REJECTED
    11 补齐补正 -> SUPPLEMENT_REQUIRED  12 挂起 -> SUSPENDED  13 撤件 -> WITHDRAWN
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import httpx

from connectors import jsonfields as j
from connectors.failures import parsed
from connectors.http import health_check
from connectors.jsonfields import segment
from connectors.pipeline import CallPipeline, Fetched, check_response
from domain.errors import ConnectorError
from domain.records import (
    ApprovalItem,
    Contact,
    DepartmentView,
    EnterpriseProfile,
    EventKind,
    HealthReport,
    ItemEvent,
    Lifecycle,
    ProjectProfile,
)

if TYPE_CHECKING:
    from aiocache.base import BaseCache

    from connectors.settings import ConnectorSettings


NAME = "planning"
MAX_BATCH = 100  # the department's limit per batch query
PAGE_SIZE = 100  # its largest page

ITEM_KINDS_BY_CODE: dict[str, str] = {
    "GHTJ": "planning.conditions",
    "YDGHXK": "planning.land_use_permit",
    "FASC": "planning.design_scheme_review",
    "XXGH": "planning.detailed_plan",
    "ZPMT": "planning.layout_plan",
    "GCGHXK": "planning.construction_permit",
    "GHHS": "planning.verification",
}

STEP_STATUS: dict[tuple[int, str | None], Lifecycle] = {
    (0, None): Lifecycle.NOT_STARTED,
    (1, None): Lifecycle.SUBMITTED,
    (2, None): Lifecycle.ACCEPTED,
    (3, None): Lifecycle.IN_REVIEW,
    (4, "准予"): Lifecycle.APPROVED,
    (4, "不予"): Lifecycle.REJECTED,
    (11, None): Lifecycle.SUPPLEMENT_REQUIRED,
    (12, None): Lifecycle.SUSPENDED,
    (13, None): Lifecycle.WITHDRAWN,
}

# The file's process log (流程记录): node codes by what happened.
PROCESS_NODES: dict[str, EventKind] = {
    "SJ": EventKind.SUBMITTED,
    "SL": EventKind.ACCEPTED,
    "BZGZ": EventKind.SUPPLEMENT_REQUESTED,
    "BZSL": EventKind.SUPPLEMENT_RETURNED,
    "GQ": EventKind.SUSPENDED,
    "JG": EventKind.RESUMED,
    "BJZY": EventKind.APPROVED,
    "BJBY": EventKind.REJECTED,
    "CJ": EventKind.WITHDRAWN,
    "FZ": EventKind.CERTIFICATE_ISSUED,
}

PHASED_MODES = {1: "NONE", 2: "TWO_PHASE", 3: "THREE_PHASE"}
BUILDING_TYPES = {"工业厂房": True, "民用建筑": False}


@dataclass(frozen=True, slots=True)
class PlanningRecord:
    """One project as planning knows it: master data, and its files if it handled any."""

    profile: ProjectProfile
    view: DepartmentView | None


class PlanningConnector:
    """The planning department, and the directory of every project's master data."""

    name = NAME
    title = "自然资源和规划局"
    part = "schema.departments:PLANNING"  # its field of Matter (connectors know no GraphQL)
    option_names = frozenset({"page_size"})  # [connectors.NAME.options] keys; any other is refused

    def __init__(self, *, settings: ConnectorSettings, client: httpx.AsyncClient, cache: BaseCache) -> None:
        self.settings = settings
        self.client = client
        self.pipeline = CallPipeline(NAME, settings, cache)
        self.page_size = settings.option("page_size", PAGE_SIZE, minimum=1)

    @staticmethod
    def normalise_status(raw: str) -> Lifecycle:
        """A raw status as this connector keeps it (``"4 办结 准予"``) back to the lifecycle."""
        parts = raw.split()
        try:
            key = (int(parts[0]), parts[2] if len(parts) > 2 else None)
        except (IndexError, ValueError):
            raise ValueError(f"not a planning status: {raw!r}") from None
        if key not in STEP_STATUS:
            raise ValueError(f"not a planning status: {raw!r}")
        return STEP_STATUS[key]

    # -- Connector ---------------------------------------------------------------------

    async def fetch_project(self, project_code: str) -> DepartmentView | None:
        """Planning's files for one project; None if it has handled none."""
        fetched = await self.pipeline.call("project", project_code, lambda: self._get_project(project_code))
        record = fetched.value
        if record is None or record.view is None:
            return None
        return replace(record.view, source=fetched.meta)

    async def fetch_projects(self, project_codes: Sequence[str]) -> Mapping[str, DepartmentView]:
        """Batch lookup through ``POST /api/projects/query``, 100 codes per call."""
        found = await self._batch(project_codes)
        return {
            code: replace(f.value.view, source=f.meta)
            for code, f in found.items()
            if f.value is not None and f.value.view is not None
        }

    async def fetch_answers(
        self, project_codes: Sequence[str]
    ) -> Mapping[str, Fetched[DepartmentView | None] | ConnectorError]:
        """``fetch_projects``, each project settled alone (``connectors.base.AnswersEachProject``)."""
        codes = list(dict.fromkeys(project_codes))
        if not codes:
            return {}
        found = await self.pipeline.call_batch_settled("project", codes, self._query_projects)
        return {
            code: f
            if isinstance(f, ConnectorError)
            else Fetched(
                replace(f.value.view, source=f.meta) if f.value is not None and f.value.view else None, f.meta
            )
            for code, f in found.items()
        }

    async def health(self) -> HealthReport:
        return await health_check(self.client, NAME, self.settings.deadline_s)

    async def aclose(self) -> None:
        """Nothing to release: the hub owns the client and the cache."""

    # -- ProjectDirectory --------------------------------------------------------------

    async def fetch_profiles(self, project_codes: Sequence[str]) -> Mapping[str, ProjectProfile]:
        found = await self._batch(project_codes)
        return {
            code: replace(f.value.profile, source=f.meta) for code, f in found.items() if f.value is not None
        }

    async def list_profiles(self) -> list[ProjectProfile]:
        """Every project's profile, walking ``page``/``size`` until the last page."""
        profiles: list[ProjectProfile] = []
        page = 1
        while True:
            fetched = await self.pipeline.call(
                "list", f"{page}:{self.page_size}", functools.partial(self._list_page, page)
            )
            records, pages = fetched.value
            profiles.extend(replace(r.profile, source=fetched.meta) for r in records)
            if page >= pages or not records:
                return profiles
            page += 1

    async def fetch_enterprise(self, credit_code: str) -> EnterpriseProfile | None:
        fetched = await self.pipeline.call(
            "enterprise", credit_code, lambda: self._get_enterprise(credit_code)
        )
        return fetched.value

    async def _batch(self, project_codes: Sequence[str]) -> Mapping[str, Fetched[PlanningRecord | None]]:
        codes = list(dict.fromkeys(project_codes))
        if not codes:
            return {}
        return await self.pipeline.call_batch("project", codes, self._query_projects)

    # -- upstream calls (inside the pipeline) -----------------------------------------

    async def _get_project(self, project_code: str) -> PlanningRecord | None:
        response = await self.client.get(f"/api/projects/{segment(project_code)}")
        if response.status_code == 404:
            return None
        check_response(response, department=NAME)
        return parsed(NAME, lambda: parse_project(response.json()))

    async def _query_projects(self, project_codes: list[str]) -> dict[str, PlanningRecord]:
        chunks = [project_codes[i : i + MAX_BATCH] for i in range(0, len(project_codes), MAX_BATCH)]
        answers = await asyncio.gather(*(self._query_chunk(chunk) for chunk in chunks))
        return {r.profile.project_code: r for records in answers for r in records}

    async def _query_chunk(self, project_codes: list[str]) -> list[PlanningRecord]:
        response = await self.client.post("/api/projects/query", json={"projectCodes": project_codes})
        check_response(response, department=NAME)
        return parsed(NAME, lambda: [parse_project(r) for r in j.array(response.json(), "records")])

    async def _list_page(self, page: int) -> tuple[list[PlanningRecord], int]:
        response = await self.client.get("/api/projects", params={"page": page, "size": self.page_size})
        check_response(response, department=NAME)

        def parse() -> tuple[list[PlanningRecord], int]:
            body = response.json()
            return [parse_project(r) for r in j.array(body, "records")], j.integer(body, "pages")

        return parsed(NAME, parse)

    async def _get_enterprise(self, credit_code: str) -> EnterpriseProfile | None:
        response = await self.client.get(f"/api/enterprises/{segment(credit_code)}")
        if response.status_code == 404:
            return None
        check_response(response, department=NAME)
        return parsed(NAME, lambda: parse_enterprise(response.json()))


# -- parsing -------------------------------------------------------------------------------


def parse_project(raw: Any) -> PlanningRecord:
    """One planning project record; raises ValueError/KeyError/TypeError when malformed."""
    code = j.string(raw, "projectCode")
    building = j.obj(raw, "building")
    building_type = j.string(building, "buildingType")
    if building_type not in BUILDING_TYPES:
        raise ValueError("unknown building type")
    butler = j.opt_obj(raw, "butler")
    profile = ProjectProfile(
        project_code=code,
        name=j.string(raw, "projectName"),
        enterprise=parse_enterprise(j.obj(raw, "applicant")),
        site=j.string(raw, "site"),
        division=j.string(raw, "division"),
        parcel_code=j.string(raw, "parcelCode"),
        floors_above_ground=j.integer(building, "floorsAboveGround"),
        foundation_depth_m=j.number(building, "foundationDepthM"),
        ground_floor_area_m2=j.number(building, "groundFloorArea"),
        total_area_m2=j.number(building, "totalFloorArea"),
        is_plant=BUILDING_TYPES[building_type],
        special_fire=j.boolean(building, "specialFire"),
        phased_mode=PHASED_MODES[j.integer(raw, "phaseCount")],
        agent=_contact(butler),
        parties_fixed=j.boolean(raw, "partiesFixed"),
    )
    files = j.array(raw, "files")
    view = None
    if files:
        view = DepartmentView(department=NAME, project_code=code, items=tuple(parse_file(f) for f in files))
    return PlanningRecord(profile=profile, view=view)


def parse_file(raw: Any) -> ApprovalItem:
    """One planning file (案卷) as an approval item."""
    step, step_name = j.integer(raw, "stepCode"), j.string(raw, "stepName")
    result = j.opt_string(raw, "result")
    status = STEP_STATUS.get((step, result))
    if status is None:
        raise ValueError("unknown step code or result")
    deficiency = j.opt_obj(raw, "deficiency")
    return ApprovalItem(
        department=NAME,
        kind=ITEM_KINDS_BY_CODE[j.string(raw, "itemCode")],
        name=j.string(raw, "itemName"),
        status=status,
        raw_status=f"{step} {step_name} {result}" if result else f"{step} {step_name}",
        file_number=j.opt_string(raw, "fileNo"),
        submitted_on=j.opt_iso_date(raw, "receivedDate"),
        accepted_on=j.opt_iso_date(raw, "acceptedDate"),
        decided_on=j.opt_iso_date(raw, "concludedDate"),
        statutory_limit_days=j.opt_integer(raw, "statutoryDays"),
        promised_limit_days=j.opt_integer(raw, "promisedDays"),
        paused=tuple(
            (j.iso_date(s, "fromDate"), j.opt_iso_date(s, "toDate")) for s in j.array(raw, "clockStops")
        ),
        certificate_number=j.opt_string(raw, "licenceNo"),
        missing_materials=tuple(j.strings(deficiency, "materials")) if deficiency else (),
        materials_due_on=j.opt_iso_date(deficiency, "dueDate") if deficiency else None,
        on_commitment=j.boolean(raw, "commitment"),
        history=parse_process_log(raw),
    )


def parse_process_log(raw: Any) -> tuple[ItemEvent, ...]:
    """The file's process log; a file without one (older system versions) has no history."""
    if isinstance(raw, dict) and raw.get("processLog") is None:
        return ()
    events = []
    for node in j.array(raw, "processLog"):
        kind = PROCESS_NODES.get(j.string(node, "nodeCode"))
        if kind is None:
            raise ValueError("unknown process node code")
        events.append(ItemEvent(on=j.iso_date(node, "finishDate"), kind=kind))
    return tuple(events)


def parse_enterprise(raw: Any) -> EnterpriseProfile:
    return EnterpriseProfile(
        credit_code=j.string(raw, "creditCode"),
        name=j.string(raw, "name"),
        liaison=_contact(j.opt_obj(raw, "liaison")),
        key_enterprise=j.boolean(raw, "keyEnterprise"),
    )


def _contact(raw: dict[str, Any] | None) -> Contact | None:
    return None if raw is None else Contact(name=j.string(raw, "name"), phone=j.string(raw, "phone"))
