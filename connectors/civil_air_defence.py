"""Connector for the civil air defence system (人防, 市国动办): a SOAP 1.1 web service.

The department speaks document/literal SOAP (WSDL at ``<path>?wsdl``) with
lowercase pinyin element names, ``YYYYMMDD`` dates and Chinese status labels.
``QueryCase`` answers one project (an unknown one is a ``soap:Client`` fault
with detail code ``XMBCZ``); ``QueryCases`` answers many, unknown ones absent.

Why lxml and not zeep: zeep's ``AsyncTransport`` overwrites the injected
client's default headers, loads the WSDL through a second, synchronous client
of its own, logs whole messages at debug level and turns HTTP statuses into
its own exceptions before the call pipeline can see them. Two fixed operations
need no WSDL-driven runtime: connectors/xmlfields.py builds the envelopes and
parses answers with a hardened parser (a DOCTYPE is DepartmentMalformed). zeep
still checks, in the fixture tests, that the WSDL and the answers agree.

Status labels (raw kept)::

    未申报 -> NOT_STARTED   待受理 -> SUBMITTED   待审查 -> ACCEPTED   审查中 -> IN_REVIEW
    需修改 -> SUPPLEMENT_REQUIRED   暂停 -> SUSPENDED   通过 -> APPROVED
    已缴费 -> APPROVED (a FEE decision, fee paid)   不通过 -> REJECTED   已撤回 -> WITHDRAWN

Decision (jslx 建设类型): 结建 -> SHELTER, 易地建设 -> FEE, 免建 -> EXEMPT.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING

import httpx
from lxml import etree

from connectors.failures import check_response, parsed
from connectors.http import health_check
from connectors.pipeline import CallPipeline, Fetched, settled_sources, with_source, with_sources
from connectors.xmlfields import Reader, parse_xml, soap_body, soap_fault, soap_request, text_of, xml_safe
from domain.errors import ConnectorError, DepartmentMalformed, DepartmentRejected, DepartmentUnavailable
from domain.records import (
    ApprovalItem,
    CivilAirDefenceDecision,
    DepartmentView,
    EventKind,
    HealthReport,
    ItemEvent,
    Lifecycle,
    ShelterRequirement,
)

if TYPE_CHECKING:
    from aiocache.base import BaseCache

    from connectors.settings import ConnectorSettings

NAME = "civil_air_defence"
TNS = "http://rfb.hengyang.gov.cn/ws/CivilDefence"
SERVICE_PATH = "/ws/CivilDefence"
MAX_BATCH = 200  # codes per QueryCases call; the department accepts up to 500
NOT_FOUND = "XMBCZ"  # CaseFault/dm: 项目不存在

STATUS_LABELS: dict[str, Lifecycle] = {
    "未申报": Lifecycle.NOT_STARTED,
    "待受理": Lifecycle.SUBMITTED,
    "待审查": Lifecycle.ACCEPTED,
    "审查中": Lifecycle.IN_REVIEW,
    "需修改": Lifecycle.SUPPLEMENT_REQUIRED,
    "暂停": Lifecycle.SUSPENDED,
    "通过": Lifecycle.APPROVED,
    "已缴费": Lifecycle.APPROVED,
    "不通过": Lifecycle.REJECTED,
    "已撤回": Lifecycle.WITHDRAWN,
}

REQUIREMENTS: dict[str, ShelterRequirement] = {
    "结建": ShelterRequirement.SHELTER,
    "易地建设": ShelterRequirement.FEE,
    "免建": ShelterRequirement.EXEMPT,
}

# 流程记录 (lcjl): the step's 环节名称 (hjmc) by what happened.
STEP_NAMES: dict[str, EventKind] = {
    "申报": EventKind.SUBMITTED,
    "受理": EventKind.ACCEPTED,
    "退回修改": EventKind.SUPPLEMENT_REQUESTED,
    "修改后重新提交": EventKind.SUPPLEMENT_RETURNED,
    "暂停": EventKind.SUSPENDED,
    "恢复审查": EventKind.RESUMED,
    "审查通过": EventKind.APPROVED,
    "审查不通过": EventKind.REJECTED,
    "撤回": EventKind.WITHDRAWN,
    "印发批复": EventKind.CERTIFICATE_ISSUED,
}

ITEM_KINDS_BY_CODE: dict[str, str] = {
    "RFSC": "civil_air_defence.design_review",
    "RFYS": "civil_air_defence.acceptance",
}

_YMD = re.compile(r"\d{8}")
rf = Reader(TNS)  # the department's elements


class CivilAirDefenceConnector:
    """The civil air defence department's SOAP service."""

    name = NAME
    title = "人民防空办公室"
    part = "schema.departments:CIVIL_AIR_DEFENCE"  # its field of Matter (connectors know no GraphQL)
    option_names = frozenset({"path", "batch_size"})  # [connectors.NAME.options] keys; any other is refused

    def __init__(self, *, settings: ConnectorSettings, client: httpx.AsyncClient, cache: BaseCache) -> None:
        self.settings = settings
        self.client = client
        self.pipeline = CallPipeline(NAME, settings, cache)
        self.path = settings.option("path", SERVICE_PATH)
        self.batch_size = settings.option("batch_size", MAX_BATCH, minimum=1)

    @staticmethod
    def normalise_status(raw: str) -> Lifecycle:
        """The lifecycle status of one of the department's status labels (KeyError if unknown)."""
        return STATUS_LABELS[raw]

    async def fetch_project(self, project_code: str) -> DepartmentView | None:
        """The department's case for one project (``QueryCase``); None if it has none."""
        if not xml_safe(project_code):
            return None  # cannot be a project code, and cannot travel in XML
        fetched = await self.pipeline.call("case", project_code, lambda: self._query_case(project_code))
        return with_source(fetched)

    async def fetch_projects(self, project_codes: Sequence[str]) -> Mapping[str, DepartmentView]:
        """Batch lookup through ``QueryCases``, ``batch_size`` codes per call."""
        codes = [c for c in dict.fromkeys(project_codes) if xml_safe(c)]
        if not codes:
            return {}
        found = await self.pipeline.call_batch("case", codes, self._query_cases)
        return with_sources(found)

    async def fetch_answers(
        self, project_codes: Sequence[str]
    ) -> Mapping[str, Fetched[DepartmentView | None] | ConnectorError]:
        """``fetch_projects``, each project settled alone (``connectors.base.AnswersEachProject``)."""
        codes = [c for c in dict.fromkeys(project_codes) if xml_safe(c)]
        if not codes:
            return {}
        return settled_sources(await self.pipeline.call_batch_settled("case", codes, self._query_cases))

    async def health(self) -> HealthReport:
        """``GET /health``: 200 UP, 503 MAINTENANCE, anything else DOWN (not cached)."""
        return await health_check(self.client, NAME, self.settings.deadline_s)

    async def aclose(self) -> None:
        """Nothing to release: the hub owns the client and the cache."""

    # -- upstream calls (inside the pipeline) -----------------------------------------

    async def _query_case(self, project_code: str) -> DepartmentView | None:
        body = await self._call("QueryCase", [project_code])
        if body is None:
            return None
        return parsed(NAME, lambda: parse_case(rf.child(rf.child(body, "QueryCaseResponse"), "aj")))

    async def _query_cases(self, project_codes: list[str]) -> dict[str, DepartmentView]:
        views: dict[str, DepartmentView] = {}
        for start in range(0, len(project_codes), self.batch_size):
            body = await self._call("QueryCases", project_codes[start : start + self.batch_size])
            if body is None:  # a batch never faults for unknown codes
                raise DepartmentMalformed(f"{NAME} answered a batch with a not-found fault", department=NAME)
            for view in parsed(NAME, functools.partial(parse_cases, body)):
                views[view.project_code] = view
        return views

    async def _call(self, operation: str, project_codes: list[str]) -> etree._Element | None:
        """POST one SOAP request; the answer's Body, or None for a not-found fault."""
        response = await self.client.post(
            self.path,
            content=build_request(operation, project_codes),
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{TNS}/{operation}"'},
        )
        if response.status_code == 500:
            fault = read_fault(response.content)
            if fault is not None:
                faultcode, dm = fault
                if faultcode == "Client" and dm == NOT_FOUND:
                    return None
                if faultcode == "Server":
                    raise DepartmentUnavailable(f"{NAME} reported a server fault", department=NAME)
                raise DepartmentRejected(
                    f"{NAME} refused the request (SOAP fault {faultcode})", department=NAME, status_code=500
                )
        check_response(response, department=NAME)
        return parsed(NAME, lambda: soap_body(parse_xml(response.content)))


# -- building and parsing -----------------------------------------------------------------


def build_request(operation: str, project_codes: Sequence[str]) -> bytes:
    """A SOAP 1.1 request envelope for ``operation`` with one ``xmbm`` per code."""
    return soap_request(TNS, operation, (("xmbm", code) for code in project_codes))


def read_fault(content: bytes) -> tuple[str, str | None] | None:
    """(faultcode local name, CaseFault/dm) of a SOAP fault answer, or None if it is not one."""
    found = soap_fault(content)
    if found is None:
        return None
    faultcode, fault = found
    dm = fault.findtext(f"detail/{rf.tag('CaseFault')}/{rf.tag('dm')}")
    return faultcode, dm.strip() if dm else None


def parse_cases(body: etree._Element) -> list[DepartmentView]:
    """The cases of a ``QueryCasesResponse`` in a SOAP Body."""
    return [parse_case(aj) for aj in rf.children(rf.child(body, "QueryCasesResponse"), "aj")]


def parse_case(aj: etree._Element) -> DepartmentView:
    """One ``aj`` (案件) element as the department's view of a project."""
    code = rf.text(aj, "xmbm")
    decision = None
    jslx = rf.opt_text(aj, "jslx")
    if jslx is not None:
        label = rf.text(aj, "zt")
        decision = CivilAirDefenceDecision(
            requirement=REQUIREMENTS[jslx],
            shelter_area_m2=rf.opt_float(aj, "fkmj"),
            fee_yuan=rf.opt_float(aj, "jyje"),
            status=STATUS_LABELS[label],
            raw_status=label,
        )
    items = tuple(parse_item(sx) for sx in rf.children(aj, "sx"))
    return DepartmentView(department=NAME, project_code=code, items=items, civil_air_defence=decision)


def parse_item(sx: etree._Element) -> ApprovalItem:
    """One ``sx`` (事项) element as an approval item."""
    label = rf.text(sx, "zt")
    rcqcl = sx.find(rf.tag("rcqcl"))
    return ApprovalItem(
        department=NAME,
        kind=ITEM_KINDS_BY_CODE[rf.text(sx, "sxbm")],
        name=rf.text(sx, "sxmc"),
        status=STATUS_LABELS[label],
        raw_status=label,
        file_number=rf.opt_text(sx, "ajbh"),
        submitted_on=_opt_date(sx, "sqrq"),
        accepted_on=_opt_date(sx, "slrq"),
        decided_on=_opt_date(sx, "bjrq"),
        statutory_limit_days=rf.opt_int(sx, "fdsx"),
        promised_limit_days=rf.opt_int(sx, "cnsx"),
        paused=tuple((_date(z, "ksrq"), _opt_date(z, "jsrq")) for z in rf.children(sx, "ztjl")),
        certificate_number=rf.opt_text(sx, "pfwh"),
        missing_materials=() if rcqcl is None else tuple(text_of(c) for c in rf.children(rcqcl, "clmc")),
        materials_due_on=_opt_date(sx, "rcjzrq"),
        on_commitment=rf.boolean(sx, "gzcn"),
        history=tuple(_step(lcjl) for lcjl in rf.children(sx, "lcjl")),
    )


def _step(lcjl: etree._Element) -> ItemEvent:
    kind = STEP_NAMES.get(rf.text(lcjl, "hjmc"))
    if kind is None:
        raise ValueError("unknown 环节名称 in 流程记录")
    return ItemEvent(on=_date(lcjl, "clrq"), kind=kind)


# Dates: this department writes 20240305, nothing else.


def _opt_date(parent: etree._Element, name: str) -> date | None:
    value = rf.opt_text(parent, name)
    if value is None:
        return None
    if _YMD.fullmatch(value) is None:
        raise ValueError(f"{name} is not a YYYYMMDD date")
    return date(int(value[:4]), int(value[4:6]), int(value[6:]))


def _date(parent: etree._Element, name: str) -> date:
    value = _opt_date(parent, name)
    if value is None:
        raise KeyError(name)
    return value
