"""Connector for real-estate registration (不动产登记): JSON behind OAuth2 client credentials.

The department wraps every answer in ``{"code": "0000", "message", "data"}``,
names fields with the uppercase pinyin abbreviations of the registration
database standard (YWH 业务号, BDCDYH 不动产单元号, DJLX 登记类型, BDCQZH
不动产权证号, XMDM 项目代码), writes times as ``"yyyy-MM-dd HH:mm:ss"`` and
finds registrations by project code (``by-project``, ``batch-query``).

Tokens: OAuth2 client credentials (connectors/oauth.py), requested inside the
pipeline call of the lookup that needs them: issuing a token changes nothing
at the department, so it is retried like a read. Errors name only the HTTP status.

Status labels (raw kept)::

    未申请 -> NOT_STARTED  申请 -> SUBMITTED  受理 -> ACCEPTED
    审核 / 登簿 / 缮证 -> IN_REVIEW (the certificate is not out yet)  发证 -> APPROVED
    补正 -> SUPPLEMENT_REQUIRED  中止 -> SUSPENDED  不予登记 -> REJECTED  撤回 -> WITHDRAWN

Registration types: 首次 FIRST, 变更 CHANGE, 转移 TRANSFER, 抵押 MORTGAGE,
注销 CANCELLATION, 更正 CORRECTION, 异议 OBJECTION, 预告 ADVANCE_NOTICE, 查封 SEIZURE.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import httpx

from connectors import jsonfields as j
from connectors.failures import check_response, parsed
from connectors.http import health_check
from connectors.oauth import ClientCredentials
from connectors.pipeline import CallPipeline, Fetched, settled_sources, with_source, with_sources
from domain.errors import ConnectorError
from domain.identifiers import unit_number_problem
from domain.records import (
    ApprovalItem,
    DepartmentView,
    EventKind,
    HealthReport,
    ItemEvent,
    Lifecycle,
    Registration,
    RegistrationType,
)

if TYPE_CHECKING:
    from aiocache.base import BaseCache

    from connectors.settings import ConnectorSettings

NAME = "real_estate"
API = "/bdc/api/v1"
TOKEN_PATH = "/oauth/token"
MAX_BATCH = 100  # the department's limit per batch query
TOKEN_MARGIN_S = 30.0  # renew this long before the advertised expiry
OK_CODE = "0000"
NOT_FOUND_CODE = "4040"

STATUS_LABELS: dict[str, Lifecycle] = {
    "未申请": Lifecycle.NOT_STARTED,
    "申请": Lifecycle.SUBMITTED,
    "受理": Lifecycle.ACCEPTED,
    "审核": Lifecycle.IN_REVIEW,
    "补正": Lifecycle.SUPPLEMENT_REQUIRED,
    "中止": Lifecycle.SUSPENDED,
    # 登簿 (recorded) and 缮证 (certificate being prepared): the certificate is not out yet.
    "登簿": Lifecycle.IN_REVIEW,
    "缮证": Lifecycle.IN_REVIEW,
    "发证": Lifecycle.APPROVED,
    "不予登记": Lifecycle.REJECTED,
    "撤回": Lifecycle.WITHDRAWN,
}

TYPE_LABELS: dict[str, RegistrationType] = {
    "首次": RegistrationType.FIRST,
    "变更": RegistrationType.CHANGE,
    "转移": RegistrationType.TRANSFER,
    "抵押": RegistrationType.MORTGAGE,
    "注销": RegistrationType.CANCELLATION,
    "更正": RegistrationType.CORRECTION,
    "异议": RegistrationType.OBJECTION,
    "预告": RegistrationType.ADVANCE_NOTICE,
    "查封": RegistrationType.SEIZURE,
}

ITEM_KINDS_BY_CODE = {"BDCDJ": "real_estate.registration"}

_DATETIME = re.compile(r"(\d{4}-\d{2}-\d{2}) \d{2}:\d{2}:\d{2}")


class RealEstateConnector:
    """The real-estate registration centre's query API."""

    name = NAME
    title = "不动产登记中心"
    part = "schema.departments:REAL_ESTATE"  # its field of Matter (connectors know no GraphQL)
    # [connectors.NAME.options] keys; any other is refused
    option_names = frozenset({"batch_size", "token_path", "token_margin_s"})

    def __init__(self, *, settings: ConnectorSettings, client: httpx.AsyncClient, cache: BaseCache) -> None:
        self.settings = settings
        self.client = client
        self.pipeline = CallPipeline(NAME, settings, cache)
        self.batch_size = settings.option("batch_size", MAX_BATCH, minimum=1)
        self.tokens = ClientCredentials(
            client=client,
            settings=settings,
            department=NAME,
            token_path=settings.option("token_path", TOKEN_PATH),
            margin_s=settings.option("token_margin_s", TOKEN_MARGIN_S, minimum=0),
            clock=lambda: self.pipeline.clock(),
            env_prefix="ONEMATTER_REAL_ESTATE",
        )

    @staticmethod
    def normalise_status(raw: str) -> Lifecycle:
        """The lifecycle status of one of the department's status labels (KeyError if unknown)."""
        return STATUS_LABELS[raw]

    async def fetch_project(self, project_code: str) -> DepartmentView | None:
        """The registrations of one project (``by-project``); None if the department has none."""
        fetched = await self.pipeline.call("project", project_code, lambda: self._by_project(project_code))
        return with_source(fetched)

    async def fetch_projects(self, project_codes: Sequence[str]) -> Mapping[str, DepartmentView]:
        """Batch lookup through ``batch-query``, ``batch_size`` codes per call."""
        codes = list(dict.fromkeys(project_codes))
        if not codes:
            return {}
        found = await self.pipeline.call_batch("project", codes, self._batch_query)
        return with_sources(found)

    async def fetch_answers(
        self, project_codes: Sequence[str]
    ) -> Mapping[str, Fetched[DepartmentView | None] | ConnectorError]:
        """``fetch_projects``, each project settled alone (``connectors.base.AnswersEachProject``)."""
        codes = list(dict.fromkeys(project_codes))
        if not codes:
            return {}
        return settled_sources(await self.pipeline.call_batch_settled("project", codes, self._batch_query))

    async def health(self) -> HealthReport:
        """``GET /health`` (no token needed): 200 UP, 503 MAINTENANCE, anything else DOWN."""
        return await health_check(self.client, NAME, self.settings.deadline_s)

    async def aclose(self) -> None:
        """Forget the token; the hub owns the client and the cache."""
        self.tokens.forget()

    # -- upstream calls (inside the pipeline) -----------------------------------------

    async def _by_project(self, project_code: str) -> DepartmentView | None:
        url = f"{API}/registrations/by-project"
        response = await self.tokens.request("GET", url, params={"xmdm": project_code})
        if response.status_code == 404 and _envelope_code(response) == NOT_FOUND_CODE:
            return None
        check_response(response, department=NAME)
        return parsed(NAME, lambda: parse_project(_data(response)))

    async def _batch_query(self, project_codes: list[str]) -> dict[str, DepartmentView]:
        views: dict[str, DepartmentView] = {}
        for start in range(0, len(project_codes), self.batch_size):
            chunk = project_codes[start : start + self.batch_size]
            url = f"{API}/registrations/batch-query"
            response = await self.tokens.request("POST", url, json={"XMDMLIST": chunk})
            check_response(response, department=NAME)
            for view in parsed(NAME, functools.partial(_parse_batch, response)):
                views[view.project_code] = view
        return views


# -- parsing -------------------------------------------------------------------------------


def _envelope_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


def _data(response: httpx.Response) -> Any:
    body = response.json()
    if j.text(body, "code") != OK_CODE:
        raise ValueError("the envelope reports a failure")
    return body["data"]


def _parse_batch(response: httpx.Response) -> list[DepartmentView]:
    return parse_projects(_data(response))


def parse_projects(data: Any) -> list[DepartmentView]:
    return [parse_project(p) for p in j.array(data, "LIST")]


def parse_project(raw: Any) -> DepartmentView:
    """One project's registration record as the department's view of it."""
    return DepartmentView(
        department=NAME,
        project_code=j.text(raw, "XMDM"),
        registrations=tuple(parse_registration(r) for r in j.array(raw, "DJXX")),
        items=tuple(parse_item(i) for i in j.array(raw, "SXXX")),
    )


def parse_registration(raw: Any) -> Registration:
    unit = j.text(raw, "BDCDYH")
    if unit_number_problem(unit):
        raise ValueError("BDCDYH is not a real-estate unit number")
    raw_type, raw_status = j.text(raw, "DJLX"), j.text(raw, "ZT")
    return Registration(
        business_number=j.text(raw, "YWH"),
        unit_number=unit,
        type=TYPE_LABELS[raw_type],
        raw_type=raw_type,
        status=STATUS_LABELS[raw_status],
        raw_status=raw_status,
        submitted_on=_opt_datetime(raw, "SQSJ"),
        registered_on=_opt_datetime(raw, "DBSJ"),
        certificate_number=j.opt_text(raw, "BDCQZH"),
    )


def parse_item(raw: Any) -> ApprovalItem:
    raw_status = j.text(raw, "ZT")
    commitment = j.text(raw, "GZCN")
    if commitment not in ("0", "1"):
        raise ValueError("GZCN is not 0 or 1")
    return ApprovalItem(
        department=NAME,
        kind=ITEM_KINDS_BY_CODE[j.text(raw, "SXBM")],
        name=j.text(raw, "SXMC"),
        status=STATUS_LABELS[raw_status],
        raw_status=raw_status,
        file_number=j.opt_text(raw, "SLBH"),
        submitted_on=j.opt_iso_date(raw, "SQRQ"),
        accepted_on=j.opt_iso_date(raw, "SLRQ"),
        decided_on=j.opt_iso_date(raw, "BJRQ"),
        statutory_limit_days=j.opt_integer(raw, "FDSX"),
        promised_limit_days=j.opt_integer(raw, "CNSX"),
        paused=tuple((j.iso_date(p, "KSRQ"), j.opt_iso_date(p, "JSRQ")) for p in j.array(raw, "ZTJL")),
        certificate_number=j.opt_text(raw, "BDCQZH"),
        missing_materials=tuple(j.strings(raw, "RCCL")),
        materials_due_on=j.opt_iso_date(raw, "RCJZRQ"),
        on_commitment=commitment == "1",
        history=tuple(_step(step) for step in j.array(raw, "BLGC")) if raw.get("BLGC") is not None else (),
    )


# Dates: items write 2024-03-05 (j.iso_date), registrations "2024-03-05 09:30:00".


# 办理过程 (BLGC): the step's 环节代码 (HJDM) by what happened.
STEPS: dict[str, EventKind] = {
    "01": EventKind.SUBMITTED,
    "02": EventKind.ACCEPTED,
    "03": EventKind.SUPPLEMENT_REQUESTED,
    "04": EventKind.SUPPLEMENT_RETURNED,
    "05": EventKind.SUSPENDED,
    "06": EventKind.RESUMED,
    "07": EventKind.APPROVED,
    "08": EventKind.REJECTED,
    "09": EventKind.WITHDRAWN,
    "10": EventKind.CERTIFICATE_ISSUED,
}


def _step(raw: Any) -> ItemEvent:
    kind = STEPS.get(j.text(raw, "HJDM"))
    on = _opt_datetime(raw, "BLSJ")
    if kind is None or on is None:
        raise ValueError("unknown 环节代码 or a step without a time")
    return ItemEvent(on=on, kind=kind)


def _opt_datetime(raw: Any, key: str) -> date | None:
    value = j.opt_text(raw, key)
    if value is None:
        return None
    match = _DATETIME.fullmatch(value)
    if match is None:
        raise ValueError(f"{key} is not a yyyy-MM-dd HH:mm:ss time")
    return date.fromisoformat(match.group(1))
