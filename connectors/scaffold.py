"""``onematter connector new NAME``: write a working external connector package.

The skeleton is a complete, installable package: a connector that calls its
department through the call pipeline, a tiny Starlette fixture of the
department (JSON, an API key, statuses of its own), the entry point that
registers the connector, and a contract test that passes as written. Replace
the fixture's vocabulary and the parsing with the real department's, keep the
contract test green. docs/adding-a-connector.md walks through it.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from string import Template

NAME_HELP = "lower-case letters, digits and _, starting with a letter (e.g. environment)"


@dataclass(frozen=True, slots=True)
class Names:
    """Every spelling of the connector's name the skeleton needs."""

    name: str  # entry-point and config name: environment
    title: str  # the department's own name
    module: str  # onematter_environment
    dist: str  # onematter-environment
    cls: str  # EnvironmentConnector
    env: str  # ONEMATTER_ENVIRONMENT_API_KEY

    @classmethod
    def of(cls, name: str, title: str | None = None) -> Names:
        from connectors.registry import NAME_RULE

        if not NAME_RULE.fullmatch(name):
            raise ValueError(f"invalid connector name {name!r}: {NAME_HELP}")
        camel = "".join(part.capitalize() for part in name.split("_") if part)
        return cls(
            name=name,
            title=title or name,
            module=f"onematter_{name}",
            dist=f"onematter-{name.replace('_', '-')}",
            cls=f"{camel}Connector",
            env=f"ONEMATTER_{name.upper()}_API_KEY",
        )


def render(names: Names) -> dict[str, str]:
    """The skeleton's files: relative path -> text."""
    values = {
        "name": names.name,
        "title": names.title,
        "module": names.module,
        "dist": names.dist,
        "cls": names.cls,
        "env": names.env,
    }
    return {
        Template(path).substitute(values): Template(text).substitute(values)
        for path, text in _TEMPLATES.items()
    }


def write_skeleton(names: Names, output: Path, *, force: bool = False) -> list[Path]:
    """Write the skeleton under ``output``; refuses a non-empty directory unless ``force``."""
    if output.exists() and any(output.iterdir()) and not force:
        raise FileExistsError(f"{output} exists and is not empty (use --force to overwrite)")
    written = []
    for relative, text in render(names).items():
        path = output / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help=f"the connector's name: {NAME_HELP}")
    parser.add_argument("--output", type=Path, default=None, help="directory (default ./onematter-NAME)")
    parser.add_argument("--title", default=None, help="the department's own name, e.g. 生态环境局")
    parser.add_argument("--force", action="store_true", help="overwrite files in a non-empty directory")


def run(args: argparse.Namespace) -> int:
    try:
        names = Names.of(args.name, args.title)
        output = args.output or Path(names.dist)
        written = write_skeleton(names, output, force=args.force)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} files to {output}/")
    print("next:")
    print(f"  pip install -e {output}          # registers the '{names.name}' connector")
    print(f"  pytest {output}/tests            # the connector contract suite")
    print(f"  [connectors.{names.name}] base_url = ...  in the hub's TOML file")
    return 0


_PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "OneMatter Hub connector: $title"
requires-python = ">=3.11"
dependencies = ["onematter-hub"]

[project.optional-dependencies]
dev = ["pytest>=8", "pytest-asyncio>=0.24"]

# This is what registers the connector with the hub: no edit in the hub.
[project.entry-points."onematter.connectors"]
$name = "$module.connector:$cls"

[tool.setuptools.packages.find]
include = ["$module*"]

[tool.pytest.ini_options]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
testpaths = ["tests"]
"""

_README = """\
# $dist

OneMatter Hub connector for $title (`$name`).

    pip install -e .                 # registers the connector through its entry point
    pytest                           # runs the hub's connector contract suite

Configure it in the hub's TOML file:

    [connectors.$name]
    base_url = "http://10.0.0.1:8080"
    deadline_s = 2.0
    credentials = { api_key = "$env" }   # the variable that holds the key

`$module/fixture.py` is a stand-in for the department system; replace its
vocabulary and `$module/connector.py`'s parsing with the real ones, and keep
`tests/test_contract.py` passing.
"""

_INIT = '''\
"""OneMatter Hub connector for $title."""
'''

_CONNECTOR = '''\
"""Connector for $title (`$name`).

The department speaks JSON: ``GET /projects/{code}`` (404 when unknown),
``POST /projects/query`` with ``{"codes": [...]}`` for many at once, and
``GET /health``; an API key goes in the ``X-Api-Key`` header. Every call runs
through the hub's call pipeline (deadline, breaker, retries, cache).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from domain.errors import DepartmentMalformed
from connectors.http import health_check
from connectors.pipeline import CallPipeline, check_response, with_source, with_sources
from domain.records import ApprovalItem, DepartmentView, HealthReport, Lifecycle

if TYPE_CHECKING:
    from aiocache.base import BaseCache

    from connectors.settings import ConnectorSettings

NAME = "$name"

# The department's status vocabulary -> the hub's one lifecycle.
STATUS: dict[str, Lifecycle] = {
    "DRAFT": Lifecycle.NOT_STARTED,
    "RECEIVED": Lifecycle.SUBMITTED,
    "ACCEPTED": Lifecycle.ACCEPTED,
    "IN_REVIEW": Lifecycle.IN_REVIEW,
    "MORE_INFO": Lifecycle.SUPPLEMENT_REQUIRED,
    "ON_HOLD": Lifecycle.SUSPENDED,
    "APPROVED": Lifecycle.APPROVED,
    "REFUSED": Lifecycle.REJECTED,
    "WITHDRAWN": Lifecycle.WITHDRAWN,
}


def normalise_status(raw: str) -> Lifecycle:
    """One raw status to the lifecycle; an unknown one means the answer is not what we know."""
    try:
        return STATUS[raw]
    except KeyError:
        raise DepartmentMalformed(f"{NAME} sent an unknown status", department=NAME) from None


class $cls:
    """$title."""

    name = NAME
    title = "$title"
    normalise_status = staticmethod(normalise_status)

    def __init__(self, *, settings: ConnectorSettings, client: httpx.AsyncClient, cache: BaseCache) -> None:
        self.settings = settings
        self.client = client  # owned by the hub: never closed here
        self.pipeline = CallPipeline(NAME, settings, cache)
        api_key = settings.secret("api_key")
        self._headers = {"X-Api-Key": api_key} if api_key else {}

    async def fetch_project(self, project_code: str) -> DepartmentView | None:
        """What the department knows of one project; None if it does not know it."""
        fetched = await self.pipeline.call("project", project_code, lambda: self._get(project_code))
        return with_source(fetched)

    async def fetch_projects(self, project_codes: Sequence[str]) -> Mapping[str, DepartmentView]:
        """Many projects in one upstream call; unknown ones are absent."""
        found = await self.pipeline.call_batch("project", list(project_codes), self._query)
        return with_sources(found)

    async def health(self) -> HealthReport:
        """The department's own health answer; reports, never raises."""
        return await health_check(self.client, NAME, self.settings.deadline_s)

    async def aclose(self) -> None:
        """Nothing to release: the hub owns the client and the cache."""

    async def _get(self, project_code: str) -> DepartmentView | None:
        response = await self.client.get(f"/projects/{quote(project_code, safe='')}", headers=self._headers)
        if check_response(response, department=NAME, ok=(200, 404)).status_code == 404:
            return None
        return parse_project(response.json())

    async def _query(self, project_codes: list[str]) -> dict[str, DepartmentView]:
        response = await self.client.post(
            "/projects/query", json={"codes": project_codes}, headers=self._headers
        )
        check_response(response, department=NAME)
        views = [parse_project(raw) for raw in response.json()["projects"]]
        return {view.project_code: view for view in views}


def parse_project(raw: Any) -> DepartmentView:
    """One project record; a KeyError or TypeError here becomes DepartmentMalformed in the pipeline."""
    items = tuple(
        ApprovalItem(
            department=NAME,
            kind=f"{NAME}.approval",
            name=str(item["name"]),
            status=normalise_status(item["status"]),
            raw_status=str(item["status"]),
            file_number=item.get("fileNo"),
            statutory_limit_days=item.get("statutoryDays"),
            promised_limit_days=item.get("promisedDays"),
            certificate_number=item.get("approvalNo"),
        )
        for item in raw["items"]
    )
    return DepartmentView(department=NAME, project_code=str(raw["projectCode"]), items=items)
'''

_FIXTURE = '''\
"""A stand-in for $title's system: enough to run the contract suite.

Replace it with a fixture that behaves like the real system (its keys, its
statuses, its paging), or point the tests at a test instance of it.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fixtures.faults import FaultInjector, FaultSettings, with_faults

DEMO_API_KEY = "demo-$name-key"
KNOWN = "2024-430472-77-01-000101"
UNKNOWN = "2024-430472-77-01-999999"
STATUSES = (
    "DRAFT", "RECEIVED", "ACCEPTED", "IN_REVIEW", "MORE_INFO", "ON_HOLD", "APPROVED", "REFUSED", "WITHDRAWN",
)

PROJECTS: dict[str, list[dict[str, Any]]] = {
    KNOWN: [
        {"name": "$title审批", "status": "APPROVED", "fileNo": "$name-2024-0101", "statutoryDays": 60,
         "promisedDays": 30, "approvalNo": "$name-PF-2024-017"},
    ],
    "2024-430472-77-01-000102": [
        {"name": "$title审批", "status": "IN_REVIEW", "fileNo": "$name-2024-0102", "statutoryDays": 60,
         "promisedDays": 30},
    ],
}


def create_app(*, api_key: str = DEMO_API_KEY, faults: FaultSettings | None = None) -> FaultInjector:
    def authorised(request: Request) -> bool:
        return request.headers.get("x-api-key") == api_key

    def unauthorised() -> JSONResponse:
        return JSONResponse({"error": "unauthorized"}, status_code=401)

    async def project(request: Request) -> JSONResponse:
        if not authorised(request):
            return unauthorised()
        code = request.path_params["code"]
        if code not in PROJECTS:
            return JSONResponse({"error": "not_found"}, status_code=404)
        return JSONResponse({"projectCode": code, "items": PROJECTS[code]})

    async def query(request: Request) -> JSONResponse:
        if not authorised(request):
            return unauthorised()
        try:
            codes = (await request.json())["codes"]
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "bad_request"}, status_code=400)
        found = [{"projectCode": c, "items": PROJECTS[c]} for c in codes if c in PROJECTS]
        return JSONResponse({"projects": found})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "UP"})

    app = Starlette(
        routes=[
            Route("/projects/query", query, methods=["POST"]),
            Route("/projects/{code}", project),
            Route("/health", health),
        ]
    )
    return with_faults(app, faults)
'''

_TEST = '''\
"""The hub's connector contract suite, run against the fixture over loopback HTTP."""

from __future__ import annotations

from typing import Any

from connectors.testing import ConnectorContract
from $module.connector import $cls
from $module.fixture import DEMO_API_KEY, KNOWN, STATUSES, UNKNOWN, create_app


class Test${cls}Contract(ConnectorContract):
    connector_class = $cls
    known_project_code = KNOWN
    unknown_project_code = UNKNOWN
    raw_statuses = STATUSES
    credentials = {"api_key": ("$env", DEMO_API_KEY)}

    def make_app(self) -> Any:
        return create_app()
'''

_TEMPLATES: dict[str, str] = {
    "pyproject.toml": _PYPROJECT,
    "README.md": _README,
    "$module/__init__.py": _INIT,
    "$module/py.typed": "",
    "$module/connector.py": _CONNECTOR,
    "$module/fixture.py": _FIXTURE,
    "tests/test_contract.py": _TEST,
}
