"""A simulation of 住房和城乡建设局's permit system, in its own style (XML over HTTP, HTTP Basic).

``simulator`` is what the hub's embedded default starts (``onematter serve``
with no configuration): the same app, answering for the named cases of the
zone's report (天嘉·上河九章's earthwork and foundation-pit permit, the zone's
first phased permit, issued on 2023-09-28; 北方光电's permit in a week;
阳光小学 permitted and jointly accepted) and for every third of the demo
world's projects, whose permits are still under review. The limits are the
zone catalogue's.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.base import SimulatedSystem
from fixtures.faults import FaultInjector, FaultSettings, with_faults

DEMO_USER = "gxq-hub"
DEMO_PASSWORD = "demo-construction-permit"
TIANJIA_CODE = "2023-430472-70-03-000928"  # 天嘉·上河九章 (the fixture world's codes)
BEIFANG_CODE = "2023-430472-40-03-000233"  # 北方光电 plant extension
SUNSHINE_SCHOOL_CODE = "2022-430472-83-01-000066"  # 阳光小学
UNKNOWN = "2024-430472-77-01-999999"
STATUSES = (
    "未申请",
    "已申请",
    "已受理",
    "审查中",
    "补正",
    "挂起",
    "已发证",
    "已登记",
    "已通过",
    "不予许可",
    "已撤回",
)
# (statutory, promised) working days: the zone catalogue's limits.
PERMIT_LIMITS = (7, 3)
SUPERVISION_LIMITS = (5, 2)
ACCEPTANCE_LIMITS = (15, 5)
PHASE_NAMES = {
    "TFJK": "土方开挖及基坑支护阶段",
    "DXS": "基础及地下室（±0.000以下）阶段",
    "SX": "±0.000以下阶段",
    "DSS": "±0.000以上阶段",
    "ZT": "整体",
}

Record = dict[str, Any]


def permit(
    number: str,
    phase: str,
    status: str,
    *,
    accepted: date | None = None,
    issued: date | None = None,
    certificate: str | None = None,
) -> Record:
    statutory, promised = PERMIT_LIMITS
    return {
        "bh": number,
        "jd": phase,
        "mc": PHASE_NAMES[phase],
        "zt": status,
        "sqrq": accepted,
        "slrq": accepted,
        "fzrq": issued,
        "zsbh": certificate,
        "fdsx": statutory,
        "cnsx": promised,
    }


def supervision(kind: str, number: str, registered: date | None) -> Record:
    statutory, promised = SUPERVISION_LIMITS
    status = "已登记" if registered else "已受理"
    accepted = registered - timedelta(days=1) if registered else None
    return {
        "lx": kind,
        "zt": status,
        "bh": number,
        "slrq": accepted,
        "rq": registered,
        "fdsx": statutory,
        "cnsx": promised,
    }


def acceptance(status: str, accepted: date | None = None, passed: date | None = None) -> Record:
    statutory, promised = ACCEPTANCE_LIMITS
    return {"zt": status, "slrq": accepted, "tgrq": passed, "fdsx": statutory, "cnsx": promised}


d = date
PROJECTS: dict[str, Record] = {
    TIANJIA_CODE: {
        "xk": [
            permit(
                "SGXK-2023-0188",
                "TFJK",
                "已发证",
                accepted=d(2023, 9, 25),
                issued=d(2023, 9, 28),
                certificate="430472202309280101",
            ),
            permit("SGXK-2023-0188-2", "DXS", "未申请"),
            permit("SGXK-2023-0188-3", "DSS", "未申请"),
        ],
        "jd": [
            supervision("ZL", "ZJ-2023-0311", d(2023, 9, 22)),
            supervision("AQ", "AJ-2023-0311", d(2023, 9, 22)),
        ],
        "ys": [acceptance("未申请")],
    },
    BEIFANG_CODE: {
        "xk": [
            permit(
                "SGXK-2023-0203",
                "ZT",
                "已发证",
                accepted=d(2023, 10, 9),
                issued=d(2023, 10, 12),
                certificate="430472202310120201",
            )
        ],
        "jd": [
            supervision("ZL", "ZJ-2023-0340", d(2023, 10, 10)),
            supervision("AQ", "AJ-2023-0340", d(2023, 10, 10)),
        ],
        "ys": [acceptance("未申请")],
    },
    SUNSHINE_SCHOOL_CODE: {
        "xk": [
            permit(
                "SGXK-2022-0412",
                "ZT",
                "已发证",
                accepted=d(2022, 11, 14),
                issued=d(2022, 11, 17),
                certificate="430472202211170301",
            )
        ],
        "jd": [
            supervision("ZL", "ZJ-2022-0520", d(2022, 11, 10)),
            supervision("AQ", "AJ-2022-0520", d(2022, 11, 10)),
        ],
        "ys": [acceptance("已通过", d(2023, 8, 1), d(2023, 8, 8))],
    },
}


def simulated_projects(project_codes: Sequence[str]) -> dict[str, Record]:
    """Every third of the hub's projects has applied for its permit, still under review."""
    found: dict[str, Record] = {}
    for n, code in enumerate(sorted(project_codes)):
        if n % 3 or code in PROJECTS:
            continue
        status = ("已受理", "审查中", "补正")[(n // 3) % 3]
        accepted = d(2024, 6, 3) + timedelta(days=n % 14)
        found[code] = {
            "xk": [permit(f"SGXK-2024-{n:04d}", "ZT", status, accepted=accepted)],
            "jd": [],
            "ys": [],
        }
    return found


def simulator(project_codes: Sequence[str]) -> SimulatedSystem:
    """The system the embedded default starts, over the demo world's project codes."""
    return SimulatedSystem(
        app=create_app(projects={**simulated_projects(project_codes), **PROJECTS}),
        credentials={
            "username": ("ONEMATTER_CONSTRUCTION_PERMIT_USERNAME", DEMO_USER),
            "password": ("ONEMATTER_CONSTRUCTION_PERMIT_PASSWORD", DEMO_PASSWORD),
        },
    )


def _element(tag: str, values: Record) -> etree._Element:
    el = etree.Element(tag)
    for key, value in values.items():
        if value is not None:
            el.set(key, value.isoformat() if isinstance(value, date) else str(value))
    return el


def render(code: str, record: Record) -> etree._Element:
    """One project's ``<sgxk>`` element."""
    root = etree.Element("sgxk", xmdm=code)
    for tag in ("xk", "jd", "ys"):
        for values in record.get(tag, ()):
            root.append(_element(tag, values))
    return root


def _xml(root: etree._Element, status_code: int = 200) -> Response:
    body = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return Response(body, status_code=status_code, media_type="application/xml")


def _error(message: str, status_code: int) -> Response:
    el = etree.Element("cw")
    el.text = message
    return _xml(el, status_code)


def create_app(
    *,
    user: str = DEMO_USER,
    password: str = DEMO_PASSWORD,
    faults: FaultSettings | None = None,
    projects: dict[str, Record] | None = None,
) -> FaultInjector:
    """The bureau's app: XML answers, HTTP Basic in front of everything but /health."""
    known = PROJECTS if projects is None else projects
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def authorised(request: Request) -> bool:
        return secrets.compare_digest(request.headers.get("authorization", ""), expected)

    def unauthorised() -> Response:
        response = _error("用户名或密码错误", 401)
        response.headers["WWW-Authenticate"] = 'Basic realm="sgxk"'
        return response

    async def one(request: Request) -> Response:
        if not authorised(request):
            return unauthorised()
        code = request.path_params["code"]
        if code not in known:
            return _error("无此项目", 404)
        return _xml(render(code, known[code]))

    async def many(request: Request) -> Response:
        if not authorised(request):
            return unauthorised()
        try:
            parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
            query = etree.fromstring(await request.body(), parser)
        except etree.XMLSyntaxError:
            return _error("查询格式错误", 400)
        out = etree.Element("sgxklb")
        for el in query.iter("xmdm"):
            code = (el.text or "").strip()
            if code in known:
                out.append(render(code, known[code]))
        return _xml(out)

    async def health(request: Request) -> Response:
        return _xml(etree.Element("zt", value="正常"))

    app = Starlette(
        routes=[
            Route("/sgxk/plcx", many, methods=["POST"]),
            Route("/sgxk/xm/{code}", one),
            Route("/health", health),
        ]
    )
    return with_faults(app, faults)
