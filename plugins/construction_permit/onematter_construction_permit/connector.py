"""Connector for 住房和城乡建设局 (`construction_permit`): construction permits (施工许可).

The bureau's permit system is an XML service over plain HTTP, behind HTTP
Basic authentication (an account of the bureau's, ``username``/``password``):

- ``GET /sgxk/xm/{code}``: one project's ``<sgxk>`` record (404 when unknown);
- ``POST /sgxk/plcx`` with ``<cx><xmdm>…</xmdm>…</cx>``: many at once;
- ``GET /health``: 200 up, 503 maintenance.

A record holds the permits (``<xk>``, one per phase of a phased permit, or one
for the whole project), the quality and safety supervision registrations
(``<jd lx="ZL|AQ">``) and the joint final acceptance (``<ys>``). Issued permits
are also reported as ``domain.records.PermitIssued``, which the hub's
``phasedPermit`` reads from any department, so no hub file names this one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from connectors.http import health_check
from connectors.pipeline import CallPipeline, check_response, with_source, with_sources
from connectors.xmlfields import parse_xml
from domain.errors import DepartmentMalformed
from domain.records import ApprovalItem, DepartmentView, HealthReport, Lifecycle, PermitIssued

if TYPE_CHECKING:
    from aiocache.base import BaseCache
    from lxml import etree

    from connectors.settings import ConnectorSettings

NAME = "construction_permit"

# The bureau's status vocabulary (办理状态) -> the hub's one lifecycle.
STATUS: dict[str, Lifecycle] = {
    "未申请": Lifecycle.NOT_STARTED,
    "已申请": Lifecycle.SUBMITTED,
    "已受理": Lifecycle.ACCEPTED,
    "审查中": Lifecycle.IN_REVIEW,
    "补正": Lifecycle.SUPPLEMENT_REQUIRED,
    "挂起": Lifecycle.SUSPENDED,
    "已发证": Lifecycle.APPROVED,
    "已登记": Lifecycle.APPROVED,
    "已通过": Lifecycle.APPROVED,
    "不予许可": Lifecycle.REJECTED,
    "已撤回": Lifecycle.WITHDRAWN,
}
# The bureau's phase codes (阶段) -> the hub's phases (domain.rules).
PHASES: dict[str, str] = {
    "TFJK": "EARTHWORK",  # 土方开挖及基坑支护
    "DXS": "BASEMENT",  # 基础及地下室（±0.000以下）, three-phase
    "SX": "BELOW_GROUND",  # ±0.000以下, two-phase
    "DSS": "ABOVE_GROUND",  # ±0.000以上
    "ZT": "FULL",  # 整体（不分阶段）
}
SUPERVISION = {"ZL": "QUALITY", "AQ": "SAFETY"}
KINDS = {
    "permit": "construction_permit.permit",
    "QUALITY": "construction_permit.quality_supervision",
    "SAFETY": "construction_permit.safety_supervision",
    "acceptance": "construction_permit.joint_acceptance",
}
ITEM_NAMES = {
    "construction_permit.quality_supervision": "建设工程质量监督登记",
    "construction_permit.safety_supervision": "建设工程安全监督登记",
    "construction_permit.joint_acceptance": "竣工联合验收",
}


@dataclass(frozen=True, slots=True)
class Permit:
    """One permit of the project: a phase's, or the whole project's (``FULL``)."""

    file_number: str
    phase: str
    phase_name: str
    status: Lifecycle
    raw_status: str
    accepted_on: date | None
    issued_on: date | None
    permit_number: str | None


@dataclass(frozen=True, slots=True)
class Supervision:
    """A quality (质量监督) or safety (安全监督) supervision registration."""

    kind: str  # QUALITY or SAFETY
    status: Lifecycle
    raw_status: str
    number: str | None
    registered_on: date | None


@dataclass(frozen=True, slots=True)
class JointAcceptance:
    """The joint final acceptance (竣工联合验收)."""

    status: Lifecycle
    raw_status: str
    accepted_on: date | None
    passed_on: date | None


def normalise_status(raw: str) -> Lifecycle:
    """One raw status to the lifecycle; an unknown one means the answer is not what we know."""
    try:
        return STATUS[raw]
    except KeyError:
        raise DepartmentMalformed(f"{NAME} sent an unknown status", department=NAME) from None


class ConstructionPermitConnector:
    """住房和城乡建设局: construction permits, supervision registrations, joint final acceptance."""

    name = NAME
    title = "住房和城乡建设局"
    part = "onematter_construction_permit.part:PART"  # its field of Matter
    simulator = "onematter_construction_permit.fixture:simulator"  # what the embedded default starts
    normalise_status = staticmethod(normalise_status)

    def __init__(self, *, settings: ConnectorSettings, client: httpx.AsyncClient, cache: BaseCache) -> None:
        self.settings = settings
        self.client = client  # owned by the hub: never closed here
        self.pipeline = CallPipeline(NAME, settings, cache)
        user, password = settings.secret("username"), settings.secret("password")
        self._auth = httpx.BasicAuth(user, password) if user and password else None

    async def fetch_project(self, project_code: str) -> DepartmentView | None:
        """What the bureau knows of one project; None if it does not know it."""
        fetched = await self.pipeline.call("project", project_code, lambda: self._get(project_code))
        return with_source(fetched)

    async def fetch_projects(self, project_codes: Sequence[str]) -> Mapping[str, DepartmentView]:
        """Many projects in one XML query; unknown ones are absent."""
        found = await self.pipeline.call_batch("project", list(project_codes), self._query)
        return with_sources(found)

    async def health(self) -> HealthReport:
        """The bureau's own health answer; reports, never raises."""
        return await health_check(self.client, NAME, self.settings.deadline_s)

    async def aclose(self) -> None:
        """Nothing to release: the hub owns the client and the cache."""

    async def _get(self, project_code: str) -> DepartmentView | None:
        response = await self.client.get(f"/sgxk/xm/{quote(project_code, safe='')}", auth=self._auth)
        if check_response(response, department=NAME, ok=(200, 404)).status_code == 404:
            return None
        return parse_project(parse_xml(response.content))

    async def _query(self, project_codes: list[str]) -> dict[str, DepartmentView]:
        from lxml import etree

        query = etree.Element("cx")
        for code in project_codes:
            etree.SubElement(query, "xmdm").text = code
        response = await self.client.post(
            "/sgxk/plcx",
            content=etree.tostring(query, xml_declaration=True, encoding="UTF-8"),
            headers={"Content-Type": "application/xml; charset=utf-8"},
            auth=self._auth,
        )
        check_response(response, department=NAME)
        root = parse_xml(response.content)
        views = [parse_project(record) for record in root.iter("sgxk")]
        return {view.project_code: view for view in views}


def _day(raw: str | None) -> date | None:
    return date.fromisoformat(raw) if raw else None


def _number(raw: str | None) -> int | None:
    return int(raw) if raw else None


def parse_project(record: etree._Element) -> DepartmentView:
    """One ``<sgxk>`` record; a KeyError or ValueError here becomes DepartmentMalformed in the pipeline."""
    if record.tag != "sgxk":
        raise ValueError(f"expected <sgxk>, got <{record.tag}>")
    code = record.attrib["xmdm"]
    items: list[ApprovalItem] = []
    records: list[Any] = []
    for xk in record.iter("xk"):
        phase = PHASES[xk.attrib["jd"]]
        status = normalise_status(xk.attrib["zt"])
        permit = Permit(
            file_number=xk.attrib["bh"],
            phase=phase,
            phase_name=xk.attrib["mc"],
            status=status,
            raw_status=xk.attrib["zt"],
            accepted_on=_day(xk.get("slrq")),
            issued_on=_day(xk.get("fzrq")),
            permit_number=xk.get("zsbh") or None,
        )
        records.append(permit)
        if status is Lifecycle.APPROVED:
            if permit.permit_number is None or permit.issued_on is None:
                raise ValueError("an issued permit without its number or date")
            records.append(PermitIssued(phase, permit.permit_number, permit.issued_on, NAME))
        items.append(
            ApprovalItem(
                department=NAME,
                kind=KINDS["permit"],
                name=f"建筑工程施工许可证（{permit.phase_name}）",
                status=status,
                raw_status=permit.raw_status,
                file_number=permit.file_number,
                submitted_on=_day(xk.get("sqrq")),
                accepted_on=permit.accepted_on,
                decided_on=permit.issued_on,
                statutory_limit_days=_number(xk.get("fdsx")),
                promised_limit_days=_number(xk.get("cnsx")),
                certificate_number=permit.permit_number,
            )
        )
    for jd in record.iter("jd"):
        kind = SUPERVISION[jd.attrib["lx"]]
        supervision = Supervision(
            kind=kind,
            status=normalise_status(jd.attrib["zt"]),
            raw_status=jd.attrib["zt"],
            number=jd.get("bh") or None,
            registered_on=_day(jd.get("rq")),
        )
        records.append(supervision)
        items.append(
            ApprovalItem(
                department=NAME,
                kind=KINDS[kind],
                name=ITEM_NAMES[KINDS[kind]],
                status=supervision.status,
                raw_status=supervision.raw_status,
                file_number=supervision.number,
                accepted_on=_day(jd.get("slrq")),
                decided_on=supervision.registered_on,
                statutory_limit_days=_number(jd.get("fdsx")),
                promised_limit_days=_number(jd.get("cnsx")),
            )
        )
    for ys in record.iter("ys"):
        acceptance = JointAcceptance(
            status=normalise_status(ys.attrib["zt"]),
            raw_status=ys.attrib["zt"],
            accepted_on=_day(ys.get("slrq")),
            passed_on=_day(ys.get("tgrq")),
        )
        records.append(acceptance)
        items.append(
            ApprovalItem(
                department=NAME,
                kind=KINDS["acceptance"],
                name=ITEM_NAMES[KINDS["acceptance"]],
                status=acceptance.status,
                raw_status=acceptance.raw_status,
                accepted_on=acceptance.accepted_on,
                decided_on=acceptance.passed_on,
                statutory_limit_days=_number(ys.get("fdsx")),
                promised_limit_days=_number(ys.get("cnsx")),
            )
        )
    return DepartmentView(department=NAME, project_code=code, items=tuple(items), records=tuple(records))
