"""A simulation of 生态环境局's assessment approval system, in its own style (form posts, pinyin keys).

``simulator`` is what the hub's embedded default starts (``onematter serve``
with no configuration): the same app, answering for the named case
合力叉车南方基地 (its 报告书 approved in 47 days against a 90-day promise, as the
zone's report tells it) and for every fourth of the demo world's projects.
The limits are the zone catalogue's for the three assessment forms.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors.base import SimulatedSystem
from fixtures.faults import FaultInjector, FaultSettings, with_faults

DEMO_API_KEY = "demo-ecology-token"
HELI_CODE = "2023-430472-34-03-000512"  # 合力叉车南方基地 (the fixture world's code for it)
UNKNOWN = "2024-430472-77-01-999999"
STATUSES = (
    "未申报",
    "已申报",
    "已受理",
    "技术评估",
    "审查中",
    "补正",
    "暂停",
    "已批复",
    "已备案",
    "不予批复",
    "已撤回",
)
# (statutory, promised, unit) per form: the zone catalogue's limits (calendar days, as the report counts).
LIMITS: dict[str, tuple[int, int, str]] = {
    "报告书": (180, 90, "自然日"),
    "报告表": (60, 30, "自然日"),
    "登记表": (5, 1, "工作日"),
}


def _compact(day: date | None) -> str:
    return day.strftime("%Y%m%d") if day else ""


def assessment(
    number: str,
    form: str,
    status: str,
    *,
    accepted: date | None = None,
    decided: date | None = None,
    approval: str | None = None,
) -> dict[str, Any]:
    """One 环评文件 as the department's system writes it."""
    statutory, promised, unit = LIMITS[form]
    return {
        "wjbh": number,
        "wjlx": form,
        "spzt": status,
        "sbrq": _compact(accepted - timedelta(days=1) if accepted else None),
        "slrq": _compact(accepted),
        "pfrq": _compact(decided),
        "pfwh": approval or "",
        "fdsx": statutory,
        "cnsx": promised,
        "sxdw": unit,
    }


PROJECTS: dict[str, list[dict[str, Any]]] = {
    # 合力叉车南方基地: accepted 2023-03-01, approved 2023-04-17: 47 days against the 90 promised.
    HELI_CODE: [
        assessment(
            "HP-2023-0031",
            "报告书",
            "已批复",
            accepted=date(2023, 3, 1),
            decided=date(2023, 4, 17),
            approval="衡环评〔2023〕17号",
        )
    ],
}


def simulated_projects(project_codes: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Every fourth of the hub's projects has an assessment: a 报告表 or a 登记表, in some state."""
    found: dict[str, list[dict[str, Any]]] = {}
    start = date(2023, 6, 1)
    for n, code in enumerate(sorted(project_codes)):
        if n % 4 or code in PROJECTS:
            continue
        form = "报告表" if n % 8 == 0 else "登记表"
        status = ("已受理", "技术评估", "补正", "已批复")[(n // 4) % 4]
        if form == "登记表" and status != "已受理":
            status = "已备案"
        accepted = start + timedelta(days=n % 90)
        decided = (
            accepted + timedelta(days=21 if form == "报告表" else 1)
            if status in ("已批复", "已备案")
            else None
        )
        approval = f"衡环评表〔2023〕{n:03d}号" if form == "报告表" and decided else None
        found[code] = [
            assessment(f"HP-{n:06d}", form, status, accepted=accepted, decided=decided, approval=approval)
        ]
    return found


def simulator(project_codes: Sequence[str]) -> SimulatedSystem:
    """The system the embedded default starts, over the demo world's project codes."""
    return SimulatedSystem(
        app=create_app(projects={**simulated_projects(project_codes), **PROJECTS}),
        credentials={"api_key": ("ONEMATTER_ECOLOGY_API_KEY", DEMO_API_KEY)},
    )


def create_app(
    *,
    api_key: str = DEMO_API_KEY,
    faults: FaultSettings | None = None,
    projects: dict[str, list[dict[str, Any]]] | None = None,
) -> FaultInjector:
    """The department's app: form posts with the token among the fields, JSON answers."""
    known = PROJECTS if projects is None else projects

    async def form(request: Request) -> tuple[dict[str, list[str]], JSONResponse | None]:
        if request.headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
            return {}, JSONResponse({"jg": "0", "cwxx": "请求格式错误"}, status_code=400)
        try:
            # Parsed here rather than by request.form(), which needs python-multipart.
            fields = parse_qs(
                (await request.body()).decode("utf-8"), keep_blank_values=True, strict_parsing=False
            )
        except UnicodeDecodeError:
            return {}, JSONResponse({"jg": "0", "cwxx": "请求格式错误"}, status_code=400)
        if fields.get("token") != [api_key]:
            return {}, JSONResponse({"jg": "0", "cwxx": "令牌无效"}, status_code=401)
        return fields, None

    async def one(request: Request) -> JSONResponse:
        fields, refused = await form(request)
        if refused is not None:
            return refused
        code = (fields.get("xmdm") or [""])[0]
        if code not in known:
            return JSONResponse({"jg": "0", "cwxx": "无此项目"}, status_code=404)
        return JSONResponse({"jg": "1", "xm": {"xmdm": code, "hpwj": known[code]}})

    async def many(request: Request) -> JSONResponse:
        fields, refused = await form(request)
        if refused is not None:
            return refused
        codes = fields.get("xmdm", [])
        found = [{"xmdm": c, "hpwj": known[c]} for c in codes if c in known]
        return JSONResponse({"jg": "1", "xmlb": found})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"zt": "正常"})

    app = Starlette(
        routes=[
            Route("/hpsp/xmcx", one, methods=["POST"]),
            Route("/hpsp/plcx", many, methods=["POST"]),
            Route("/health", health),
        ]
    )
    return with_faults(app, faults)
