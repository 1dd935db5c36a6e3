"""Connector for 生态环境局 (`ecology`): environmental-impact assessments (环评).

The department's approval system speaks form-encoded HTTP, as many provincial
systems of its age do: every request is a ``POST`` of
``application/x-www-form-urlencoded`` fields, the access token among them
(``token``), and answers are JSON with pinyin-abbreviated keys and compact
dates (``20230417``):

- ``POST /hpsp/xmcx`` with ``xmdm=<project code>``: one project's assessment
  files (404 when unknown);
- ``POST /hpsp/plcx`` with ``xmdm`` repeated: many projects at once;
- ``GET /health``: 200 up, 503 maintenance.

Each file (环评文件) is a 报告书, 报告表 or 登记表; its limits come in the unit
the department states (``sxdw``: 自然日 for the assessments, as the zone's
report counts them). Every call runs through the hub's call pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import httpx

from connectors.http import health_check
from connectors.pipeline import CallPipeline, check_response, with_source, with_sources
from domain.errors import DepartmentMalformed
from domain.limits import LimitUnit
from domain.records import ApprovalItem, DepartmentView, HealthReport, Lifecycle

if TYPE_CHECKING:
    from aiocache.base import BaseCache

    from connectors.settings import ConnectorSettings

NAME = "ecology"
FORM = "application/x-www-form-urlencoded"

# The department's status vocabulary (审批状态) -> the hub's one lifecycle.
STATUS: dict[str, Lifecycle] = {
    "未申报": Lifecycle.NOT_STARTED,
    "已申报": Lifecycle.SUBMITTED,
    "已受理": Lifecycle.ACCEPTED,
    "技术评估": Lifecycle.IN_REVIEW,
    "审查中": Lifecycle.IN_REVIEW,
    "补正": Lifecycle.SUPPLEMENT_REQUIRED,
    "暂停": Lifecycle.SUSPENDED,
    "已批复": Lifecycle.APPROVED,
    "已备案": Lifecycle.APPROVED,
    "不予批复": Lifecycle.REJECTED,
    "已撤回": Lifecycle.WITHDRAWN,
}
# 环评文件类型 -> (approval kind, the hub's name of the form).
FORMS: dict[str, tuple[str, str]] = {
    "报告书": ("ecology.report_book", "REPORT_BOOK"),
    "报告表": ("ecology.report_form", "REPORT_FORM"),
    "登记表": ("ecology.registration_form", "REGISTRATION_FORM"),
}
ITEM_NAMES = {
    "ecology.report_book": "建设项目环境影响报告书审批",
    "ecology.report_form": "建设项目环境影响报告表审批",
    "ecology.registration_form": "建设项目环境影响登记表备案",
}
UNITS = {"自然日": LimitUnit.CALENDAR_DAYS, "工作日": LimitUnit.WORKING_DAYS}


@dataclass(frozen=True, slots=True)
class Assessment:
    """One assessment file as the department records it: what ``Matter.ecology`` shows.

    It rides in ``DepartmentView.records``; the matching ``ApprovalItem`` (with its
    clock) goes to ``Matter.items`` like every department's.
    """

    file_number: str
    form: str  # REPORT_BOOK, REPORT_FORM or REGISTRATION_FORM
    raw_form: str  # 报告书, 报告表 or 登记表
    status: Lifecycle
    raw_status: str
    submitted_on: date | None
    accepted_on: date | None
    decided_on: date | None
    approval_number: str | None  # 批复文号
    statutory_limit: int | None
    promised_limit: int | None
    limit_unit: LimitUnit


def normalise_status(raw: str) -> Lifecycle:
    """One raw status to the lifecycle; an unknown one means the answer is not what we know."""
    try:
        return STATUS[raw]
    except KeyError:
        raise DepartmentMalformed(f"{NAME} sent an unknown status", department=NAME) from None


def _day(raw: Any) -> date | None:
    """``20230417`` (the department's dates), or None when absent."""
    if raw in (None, ""):
        return None
    text = str(raw)
    if len(text) != 8 or not text.isdigit():
        raise ValueError(f"not a date: {text!r}")
    return date(int(text[:4]), int(text[4:6]), int(text[6:]))


def _days(raw: Any) -> int | None:
    return None if raw in (None, "") else int(raw)


class EcologyConnector:
    """生态环境局: environmental-impact assessment approvals (环评审批)."""

    name = NAME
    title = "生态环境局"
    part = "onematter_ecology.part:PART"  # its field of Matter (the part module holds the GraphQL)
    simulator = "onematter_ecology.fixture:simulator"  # what the hub's embedded default starts
    normalise_status = staticmethod(normalise_status)

    def __init__(self, *, settings: ConnectorSettings, client: httpx.AsyncClient, cache: BaseCache) -> None:
        self.settings = settings
        self.client = client  # owned by the hub: never closed here
        self.pipeline = CallPipeline(NAME, settings, cache)
        self._token = settings.secret("api_key") or ""

    async def fetch_project(self, project_code: str) -> DepartmentView | None:
        """What the department knows of one project; None if it does not know it."""
        fetched = await self.pipeline.call("project", project_code, lambda: self._get(project_code))
        return with_source(fetched)

    async def fetch_projects(self, project_codes: Sequence[str]) -> Mapping[str, DepartmentView]:
        """Many projects in one form post; unknown ones are absent."""
        found = await self.pipeline.call_batch("project", list(project_codes), self._query)
        return with_sources(found)

    async def health(self) -> HealthReport:
        """The department's own health answer; reports, never raises."""
        return await health_check(self.client, NAME, self.settings.deadline_s)

    async def aclose(self) -> None:
        """Nothing to release: the hub owns the client and the cache."""

    async def _post(self, path: str, fields: list[tuple[str, str]]) -> httpx.Response:
        # httpx encodes a list of pairs as a form, repeated names and all.
        return await self.client.post(path, data=_pairs(fields), headers={"Content-Type": FORM})

    async def _get(self, project_code: str) -> DepartmentView | None:
        response = await self._post("/hpsp/xmcx", [("token", self._token), ("xmdm", project_code)])
        if check_response(response, department=NAME, ok=(200, 404)).status_code == 404:
            return None
        return parse_project(response.json()["xm"])

    async def _query(self, project_codes: list[str]) -> dict[str, DepartmentView]:
        fields = [("token", self._token), *(("xmdm", code) for code in project_codes)]
        response = await self._post("/hpsp/plcx", fields)
        check_response(response, department=NAME)
        views = [parse_project(raw) for raw in response.json()["xmlb"]]
        return {view.project_code: view for view in views}


def _pairs(fields: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for key, value in fields:
        grouped.setdefault(key, []).append(value)
    return grouped


def parse_project(raw: Any) -> DepartmentView:
    """One project record; a KeyError, TypeError or ValueError here becomes DepartmentMalformed."""
    items, assessments = [], []
    for entry in raw["hpwj"]:
        raw_form = str(entry["wjlx"])
        if raw_form not in FORMS:
            raise DepartmentMalformed(f"{NAME} sent an unknown assessment form", department=NAME)
        kind, form = FORMS[raw_form]
        status = normalise_status(str(entry["spzt"]))
        unit = UNITS[str(entry.get("sxdw") or "工作日")]
        assessment = Assessment(
            file_number=str(entry["wjbh"]),
            form=form,
            raw_form=raw_form,
            status=status,
            raw_status=str(entry["spzt"]),
            submitted_on=_day(entry.get("sbrq")),
            accepted_on=_day(entry.get("slrq")),
            decided_on=_day(entry.get("pfrq")),
            approval_number=entry.get("pfwh") or None,
            statutory_limit=_days(entry.get("fdsx")),
            promised_limit=_days(entry.get("cnsx")),
            limit_unit=unit,
        )
        assessments.append(assessment)
        items.append(
            ApprovalItem(
                department=NAME,
                kind=kind,
                name=ITEM_NAMES[kind],
                status=status,
                raw_status=assessment.raw_status,
                file_number=assessment.file_number,
                submitted_on=assessment.submitted_on,
                accepted_on=assessment.accepted_on,
                decided_on=assessment.decided_on,
                statutory_limit_days=assessment.statutory_limit,
                promised_limit_days=assessment.promised_limit,
                limit_unit=unit,
                certificate_number=assessment.approval_number,
            )
        )
    return DepartmentView(
        department=NAME, project_code=str(raw["xmdm"]), items=tuple(items), records=tuple(assessments)
    )
