"""Connector for real-estate registration (不动产登记): JSON behind OAuth2 client credentials.

The department wraps every answer in ``{"code": "0000", "message", "data"}``,
names fields with the uppercase pinyin abbreviations of the registration
database standard (YWH 业务号, BDCDYH 不动产单元号, DJLX 登记类型, BDCQZH
不动产权证号, XMDM 项目代码), writes times as ``"yyyy-MM-dd HH:mm:ss"`` and
finds registrations by project code (``by-project``, ``batch-query``).

Tokens: ``POST /oauth/token`` (``grant_type=client_credentials``, the client
authenticated by HTTP Basic) with ``settings.secret("client_id")`` and
``settings.secret("client_secret")``. A token is kept in this connector (not in
the shared cache: a bearer token is a credential) until ``token_margin_s``
before its ``expires_in``; a 401 from the API drops it, fetches a new one and
tries once more; a second 401 is ``DepartmentRejected``. The token request
runs inside the pipeline call of the lookup that needs it, so it shares that
call's deadline, breaker and retries: issuing a token changes nothing at the
department, so it is idempotent in effect and retried like a read.
Credentials never appear in errors or logs: errors name only the HTTP status.

Status labels (raw kept)::

    未申请 -> NOT_STARTED  申请 -> SUBMITTED  受理 -> ACCEPTED
    审核 / 登簿 / 缮证 -> IN_REVIEW (the certificate is not out yet)  发证 -> APPROVED
    补正 -> SUPPLEMENT_REQUIRED  中止 -> SUSPENDED  不予登记 -> REJECTED  撤回 -> WITHDRAWN

Registration types: 首次 FIRST, 变更 CHANGE, 转移 TRANSFER, 抵押 MORTGAGE,
注销 CANCELLATION, 更正 CORRECTION, 异议 OBJECTION, 预告 ADVANCE_NOTICE, 查封 SEIZURE.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from connectors.http import health_check
from connectors.pipeline import CallPipeline, check_response, with_source, with_sources
from domain.errors import DepartmentMalformed, DepartmentRejected
from domain.identifiers import unit_number_problem
from domain.records import (
    ApprovalItem,
    DepartmentView,
    HealthReport,
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
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    renew_at: float  # pipeline clock

    def __repr__(self) -> str:  # never print a bearer token
        return f"_Token(renew_at={self.renew_at})"


class RealEstateConnector:
    """The real-estate registration centre's query API."""

    name = NAME
    title = "不动产登记中心"

    def __init__(self, *, settings: ConnectorSettings, client: httpx.AsyncClient, cache: BaseCache) -> None:
        self.settings = settings
        self.client = client
        self.pipeline = CallPipeline(NAME, settings, cache)
        self.token_path = str(settings.options.get("token_path", TOKEN_PATH))
        self.token_margin_s = float(settings.options.get("token_margin_s", TOKEN_MARGIN_S))
        self.batch_size = int(settings.options.get("batch_size", MAX_BATCH))
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()
        self.token_requests = 0  # how many tokens this connector asked for (for tests and stats)

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

    async def health(self) -> HealthReport:
        """``GET /health`` (no token needed): 200 UP, 503 MAINTENANCE, anything else DOWN."""
        return await health_check(self.client, NAME, self.settings.deadline_s)

    async def aclose(self) -> None:
        """Forget the token; the hub owns the client and the cache."""
        self._token = None

    # -- tokens ------------------------------------------------------------------------

    async def _bearer(self, *, stale: _Token | None = None) -> _Token:
        """A live token: the kept one, or a new one if it is missing, due or ``stale``."""
        async with self._token_lock:  # concurrent lookups share one token request
            token = self._token
            if token is not None and token is not stale and self.pipeline.clock() < token.renew_at:
                return token
            self._token = None
            token = await self._request_token()
            self._token = token
            return token

    async def _request_token(self) -> _Token:
        client_id = self.settings.secret("client_id", default_env="ONEMATTER_REAL_ESTATE_CLIENT_ID")
        secret = self.settings.secret("client_secret", default_env="ONEMATTER_REAL_ESTATE_CLIENT_SECRET")
        if not client_id or not secret:
            raise DepartmentRejected(f"{NAME}: no client credentials are configured", department=NAME)
        self.token_requests += 1
        started = self.pipeline.clock()
        response = await self.client.post(
            self.token_path,
            data={"grant_type": "client_credentials"},
            auth=httpx.BasicAuth(client_id, secret),
        )
        check_response(response, department=NAME)  # 401 invalid_client -> DepartmentRejected
        body = _parsed(response.json)
        value, expires_in = _parsed(functools.partial(_token_fields, body))
        margin = min(self.token_margin_s, expires_in / 10)
        return _Token(value, started + expires_in - margin)

    async def _authorised(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One API request with a bearer token; on 401 a new token and one more try."""
        token = await self._bearer()
        response = await self.client.request(method, url, headers=_auth(token), **kwargs)
        if response.status_code == 401:
            token = await self._bearer(stale=token)
            response = await self.client.request(method, url, headers=_auth(token), **kwargs)
            if response.status_code == 401:
                self._token = None
        return response

    # -- upstream calls (inside the pipeline) -----------------------------------------

    async def _by_project(self, project_code: str) -> DepartmentView | None:
        url = f"{API}/registrations/by-project"
        response = await self._authorised("GET", url, params={"xmdm": project_code})
        if response.status_code == 404 and _envelope_code(response) == NOT_FOUND_CODE:
            return None
        check_response(response, department=NAME)
        data = _parsed(functools.partial(_data, response))
        return _parsed(functools.partial(parse_project, data))

    async def _batch_query(self, project_codes: list[str]) -> dict[str, DepartmentView]:
        views: dict[str, DepartmentView] = {}
        for start in range(0, len(project_codes), self.batch_size):
            chunk = project_codes[start : start + self.batch_size]
            url = f"{API}/registrations/batch-query"
            response = await self._authorised("POST", url, json={"XMDMLIST": chunk})
            check_response(response, department=NAME)
            data = _parsed(functools.partial(_data, response))
            for view in _parsed(functools.partial(parse_projects, data)):
                views[view.project_code] = view
        return views


# -- parsing -------------------------------------------------------------------------------


def _auth(token: _Token) -> dict[str, str]:
    return {"Authorization": f"Bearer {token.value}"}


def _token_fields(body: Any) -> tuple[str, float]:
    value = _str(body, "access_token")
    if _str(body, "token_type").lower() != "bearer":
        raise ValueError("not a bearer token")
    expires_in = body.get("expires_in", 3600)
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in <= 0:
        raise ValueError("expires_in is not a positive number")
    return value, float(expires_in)


def _envelope_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


def _data(response: httpx.Response) -> Any:
    body = response.json()
    if _str(body, "code") != OK_CODE:
        raise ValueError("the envelope reports a failure")
    return body["data"]


def parse_projects(data: Any) -> list[DepartmentView]:
    return [parse_project(p) for p in _list(data, "LIST")]


def parse_project(raw: Any) -> DepartmentView:
    """One project's registration record as the department's view of it."""
    return DepartmentView(
        department=NAME,
        project_code=_str(raw, "XMDM"),
        registrations=tuple(parse_registration(r) for r in _list(raw, "DJXX")),
        items=tuple(parse_item(i) for i in _list(raw, "SXXX")),
    )


def parse_registration(raw: Any) -> Registration:
    unit = _str(raw, "BDCDYH")
    if unit_number_problem(unit):
        raise ValueError("BDCDYH is not a real-estate unit number")
    raw_type, raw_status = _str(raw, "DJLX"), _str(raw, "ZT")
    return Registration(
        business_number=_str(raw, "YWH"),
        unit_number=unit,
        type=TYPE_LABELS[raw_type],
        raw_type=raw_type,
        status=STATUS_LABELS[raw_status],
        raw_status=raw_status,
        submitted_on=_opt_datetime(raw, "SQSJ"),
        registered_on=_opt_datetime(raw, "DBSJ"),
        certificate_number=_opt_str(raw, "BDCQZH"),
    )


def parse_item(raw: Any) -> ApprovalItem:
    raw_status = _str(raw, "ZT")
    commitment = _str(raw, "GZCN")
    if commitment not in ("0", "1"):
        raise ValueError("GZCN is not 0 or 1")
    return ApprovalItem(
        department=NAME,
        kind=ITEM_KINDS_BY_CODE[_str(raw, "SXBM")],
        name=_str(raw, "SXMC"),
        status=STATUS_LABELS[raw_status],
        raw_status=raw_status,
        file_number=_opt_str(raw, "SLBH"),
        submitted_on=_opt_date(raw, "SQRQ"),
        accepted_on=_opt_date(raw, "SLRQ"),
        decided_on=_opt_date(raw, "BJRQ"),
        statutory_limit_days=_opt_int(raw, "FDSX"),
        promised_limit_days=_opt_int(raw, "CNSX"),
        paused=tuple((_date(p, "KSRQ"), _opt_date(p, "JSRQ")) for p in _list(raw, "ZTJL")),
        certificate_number=_opt_str(raw, "BDCQZH"),
        missing_materials=tuple(_strs(raw, "RCCL")),
        materials_due_on=_opt_date(raw, "RCJZRQ"),
        on_commitment=commitment == "1",
    )


def _parsed(parse: Callable[[], T]) -> T:
    """Run ``parse``; an answer we cannot read becomes DepartmentMalformed (no payload text)."""
    try:
        return parse()
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DepartmentMalformed(
            f"{NAME} answered a body that does not parse ({type(exc).__name__})", department=NAME
        ) from exc


# Typed getters: each raises TypeError/KeyError/ValueError on a wrong shape.


def _get(raw: Any, key: str) -> Any:
    if not isinstance(raw, dict):
        raise TypeError("expected an object")
    return raw[key]


def _str(raw: Any, key: str) -> str:
    value = _get(raw, key)
    if not isinstance(value, str) or not value:
        raise TypeError(f"{key} is not a non-empty string")
    return value


def _opt_str(raw: Any, key: str) -> str | None:
    return None if _get(raw, key) is None else _str(raw, key)


def _opt_int(raw: Any, key: str) -> int | None:
    value = _get(raw, key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{key} is not an integer")
    return value


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


def _opt_date(raw: Any, key: str) -> date | None:
    value = _opt_str(raw, key)
    if value is None:
        return None
    if len(value) != 10:  # item dates are 2024-03-05, nothing else
        raise ValueError(f"{key} is not a date")
    return date.fromisoformat(value)


def _date(raw: Any, key: str) -> date:
    value = _opt_date(raw, key)
    if value is None:
        raise KeyError(key)
    return value


def _opt_datetime(raw: Any, key: str) -> date | None:
    value = _opt_str(raw, key)
    if value is None:
        return None
    match = _DATETIME.fullmatch(value)
    if match is None:  # registration times are "2024-03-05 09:30:00"
        raise ValueError(f"{key} is not a yyyy-MM-dd HH:mm:ss time")
    return date.fromisoformat(match.group(1))
