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
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import httpx

from connectors.errors import DepartmentMalformed
from connectors.pipeline import CallPipeline, check_response
from connectors.records import (
    ApprovalItem,
    Contact,
    DepartmentView,
    EnterpriseProfile,
    HealthReport,
    Lifecycle,
    ProjectProfile,
)

if TYPE_CHECKING:
    from aiocache.base import BaseCache

    from connectors.settings import ConnectorSettings

T = TypeVar("T")

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

    def __init__(self, *, settings: ConnectorSettings, client: httpx.AsyncClient, cache: BaseCache) -> None:
        self.settings = settings
        self.client = client
        self.pipeline = CallPipeline(NAME, settings, cache)
        self.page_size = int(settings.options.get("page_size", PAGE_SIZE))

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
        found = await self.pipeline.call_batch("project", list(project_codes), self._query_projects)
        return {
            code: replace(f.value.view, source=f.meta)
            for code, f in found.items()
            if f.value is not None and f.value.view is not None
        }

    async def health(self) -> HealthReport:
        return await _health(self.client, NAME, self.settings.deadline_s)

    async def aclose(self) -> None:
        """Nothing to release: the hub owns the client and the cache."""

    # -- ProjectDirectory --------------------------------------------------------------

    async def fetch_profiles(self, project_codes: Sequence[str]) -> Mapping[str, ProjectProfile]:
        found = await self.pipeline.call_batch("project", list(project_codes), self._query_projects)
        return {
            code: replace(f.value.profile, source=f.meta)
            for code, f in found.items()
            if f.value is not None
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

    # -- upstream calls (inside the pipeline) -----------------------------------------

    async def _get_project(self, project_code: str) -> PlanningRecord | None:
        response = await self.client.get(f"/api/projects/{_path(project_code)}")
        if response.status_code == 404:
            return None
        check_response(response, department=NAME)
        return _parsed(lambda: parse_project(response.json()))

    async def _query_projects(self, project_codes: list[str]) -> dict[str, PlanningRecord]:
        chunks = [project_codes[i : i + MAX_BATCH] for i in range(0, len(project_codes), MAX_BATCH)]
        answers = await asyncio.gather(*(self._query_chunk(chunk) for chunk in chunks))
        return {r.profile.project_code: r for records in answers for r in records}

    async def _query_chunk(self, project_codes: list[str]) -> list[PlanningRecord]:
        response = await self.client.post("/api/projects/query", json={"projectCodes": project_codes})
        check_response(response, department=NAME)
        return _parsed(lambda: [parse_project(r) for r in _list(response.json(), "records")])

    async def _list_page(self, page: int) -> tuple[list[PlanningRecord], int]:
        response = await self.client.get("/api/projects", params={"page": page, "size": self.page_size})
        check_response(response, department=NAME)

        def parse() -> tuple[list[PlanningRecord], int]:
            body = response.json()
            return [parse_project(r) for r in _list(body, "records")], _int(body, "pages")

        return _parsed(parse)

    async def _get_enterprise(self, credit_code: str) -> EnterpriseProfile | None:
        response = await self.client.get(f"/api/enterprises/{_path(credit_code)}")
        if response.status_code == 404:
            return None
        check_response(response, department=NAME)
        return _parsed(lambda: parse_enterprise(response.json()))


# -- parsing -------------------------------------------------------------------------------


def parse_project(raw: Any) -> PlanningRecord:
    """One planning project record; raises ValueError/KeyError/TypeError when malformed."""
    code = _str(raw, "projectCode")
    building = _dict(raw, "building")
    building_type = _str(building, "buildingType")
    if building_type not in BUILDING_TYPES:
        raise ValueError("unknown building type")
    butler = _opt_dict(raw, "butler")
    profile = ProjectProfile(
        project_code=code,
        name=_str(raw, "projectName"),
        enterprise=parse_enterprise(_dict(raw, "applicant")),
        site=_str(raw, "site"),
        division=_str(raw, "division"),
        parcel_code=_str(raw, "parcelCode"),
        floors_above_ground=_int(building, "floorsAboveGround"),
        foundation_depth_m=_num(building, "foundationDepthM"),
        ground_floor_area_m2=_num(building, "groundFloorArea"),
        total_area_m2=_num(building, "totalFloorArea"),
        is_plant=BUILDING_TYPES[building_type],
        special_fire=_bool(building, "specialFire"),
        phased_mode=PHASED_MODES[_int(raw, "phaseCount")],
        agent=_contact(butler),
        parties_fixed=_bool(raw, "partiesFixed"),
    )
    files = _list(raw, "files")
    view = None
    if files:
        view = DepartmentView(
            department=NAME, project_code=code, items=tuple(parse_file(f) for f in files)
        )
    return PlanningRecord(profile=profile, view=view)


def parse_file(raw: Any) -> ApprovalItem:
    """One planning file (案卷) as an approval item."""
    step, step_name, result = _int(raw, "stepCode"), _str(raw, "stepName"), _opt_str(raw, "result")
    status = STEP_STATUS.get((step, result))
    if status is None:
        raise ValueError("unknown step code or result")
    deficiency = _opt_dict(raw, "deficiency")
    return ApprovalItem(
        department=NAME,
        kind=ITEM_KINDS_BY_CODE[_str(raw, "itemCode")],
        name=_str(raw, "itemName"),
        status=status,
        raw_status=f"{step} {step_name} {result}" if result else f"{step} {step_name}",
        file_number=_opt_str(raw, "fileNo"),
        submitted_on=_opt_date(raw, "receivedDate"),
        accepted_on=_opt_date(raw, "acceptedDate"),
        decided_on=_opt_date(raw, "concludedDate"),
        statutory_limit_days=_opt_int(raw, "statutoryDays"),
        promised_limit_days=_opt_int(raw, "promisedDays"),
        paused=tuple(
            (_date(s, "fromDate"), _opt_date(s, "toDate")) for s in _list(raw, "clockStops")
        ),
        certificate_number=_opt_str(raw, "licenceNo"),
        missing_materials=tuple(_strs(deficiency, "materials")) if deficiency else (),
        materials_due_on=_opt_date(deficiency, "dueDate") if deficiency else None,
        on_commitment=_bool(raw, "commitment"),
    )


def parse_enterprise(raw: Any) -> EnterpriseProfile:
    return EnterpriseProfile(
        credit_code=_str(raw, "creditCode"),
        name=_str(raw, "name"),
        liaison=_contact(_opt_dict(raw, "liaison")),
        key_enterprise=_bool(raw, "keyEnterprise"),
    )


def _contact(raw: dict[str, Any] | None) -> Contact | None:
    return None if raw is None else Contact(name=_str(raw, "name"), phone=_str(raw, "phone"))


def _parsed(parse: Callable[[], T]) -> T:
    """Run ``parse``; a body we cannot read becomes DepartmentMalformed (no payload text)."""
    try:
        return parse()
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DepartmentMalformed(
            f"{NAME} answered a body that does not parse ({type(exc).__name__})", department=NAME
        ) from exc


def _path(value: str) -> str:
    """A path segment, percent-encoded so a code can never change the path."""
    return quote(value, safe="")


# Typed getters: each raises TypeError/KeyError/ValueError on a wrong shape.


def _get(raw: Any, key: str) -> Any:
    if not isinstance(raw, dict):
        raise TypeError("expected an object")
    return raw[key]


def _str(raw: Any, key: str) -> str:
    value = _get(raw, key)
    if not isinstance(value, str):
        raise TypeError(f"{key} is not a string")
    return value


def _opt_str(raw: Any, key: str) -> str | None:
    return None if _get(raw, key) is None else _str(raw, key)


def _int(raw: Any, key: str) -> int:
    value = _get(raw, key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{key} is not an integer")
    return value


def _opt_int(raw: Any, key: str) -> int | None:
    return None if _get(raw, key) is None else _int(raw, key)


def _num(raw: Any, key: str) -> float:
    value = _get(raw, key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{key} is not a number")
    return float(value)


def _bool(raw: Any, key: str) -> bool:
    value = _get(raw, key)
    if not isinstance(value, bool):
        raise TypeError(f"{key} is not a boolean")
    return value


def _dict(raw: Any, key: str) -> dict[str, Any]:
    value = _get(raw, key)
    if not isinstance(value, dict):
        raise TypeError(f"{key} is not an object")
    return value


def _opt_dict(raw: Any, key: str) -> dict[str, Any] | None:
    return None if _get(raw, key) is None else _dict(raw, key)


def _list(raw: Any, key: str) -> list[Any]:
    value = _get(raw, key)
    if not isinstance(value, list):
        raise TypeError(f"{key} is not a list")
    return value


def _strs(raw: Any, key: str) -> list[str]:
    values = _list(raw, key)
    if not all(isinstance(v, str) for v in values):
        raise TypeError(f"{key} is not a list of strings")
    return values


def _date(raw: Any, key: str) -> date:
    value = _str(raw, key)
    if len(value) != 10:  # planning writes 2024-03-05, nothing else
        raise ValueError(f"{key} is not a date")
    return date.fromisoformat(value)


def _opt_date(raw: Any, key: str) -> date | None:
    return None if _get(raw, key) is None else _date(raw, key)


async def _health(client: httpx.AsyncClient, department: str, deadline_s: float) -> HealthReport:
    """The department's own health answer: 200 UP, 503 MAINTENANCE, anything else DOWN.

    Not through the pipeline on purpose: health must report an open breaker's
    department as it is now, and must never be served from the cache.
    """
    started = time.perf_counter()
    try:
        response = await client.get("/health", timeout=deadline_s)
    except httpx.HTTPError as exc:
        return HealthReport(department, "DOWN", None, f"no answer ({type(exc).__name__})")
    latency = (time.perf_counter() - started) * 1000.0
    if response.status_code == 200:
        return HealthReport(department, "UP", latency)
    if response.status_code == 503:
        return HealthReport(department, "MAINTENANCE", latency, "HTTP 503")
    return HealthReport(department, "DOWN", latency, f"HTTP {response.status_code}")
