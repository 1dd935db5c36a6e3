"""``onematter connector new NAME``: write a working external connector package.

The skeleton is a complete, installable package: a connector that calls its
department through the call pipeline, its part of a matter (a Strawberry type
and the ``Matter`` field that shows the department's own records), a tiny
Starlette simulation of the department (JSON, an API key, statuses of its
own) that the hub's embedded default starts, the entry point that registers
the connector, and tests that pass as written. Replace the simulation's
vocabulary and the parsing with the real department's, keep the tests green.
docs/adding-a-connector.md walks through it.
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
    camel: str  # Environment: the prefix of its GraphQL type names
    field: str  # environment: its field of Matter (GraphQL camelCases it)

    @classmethod
    def of(cls, name: str, title: str | None = None) -> Names:
        from connectors.discovery import NAME_RULE

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
            camel=camel,
            field=name,
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
        "camel": names.camel,
        "field": names.field,
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
    print(f"  pytest {output}/tests            # the contract suite and the part's tests")
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
    pytest                           # the hub's connector contract suite and the part's tests

Installed, it adds `Matter.$field` (its records, `$module/part.py`) to the
hub's schema, and `onematter serve` with no configuration starts its
simulated system (`$module/fixture.py`) beside the five built-in ones.

Configure it in the hub's TOML file:

    [connectors.$name]
    base_url = "http://10.0.0.1:8080"
    deadline_s = 2.0
    credentials = { api_key = "$env" }   # the variable that holds the key

`$module/fixture.py` is a stand-in for the department system; replace its
vocabulary and `$module/connector.py`'s parsing with the real ones, and keep
`tests/` passing.
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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from connectors.http import health_check
from connectors.pipeline import (
    CallPipeline,
    Fetched,
    check_response,
    settled_sources,
    with_source,
    with_sources,
)
from domain.errors import ConnectorError, DepartmentMalformed
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


@dataclass(frozen=True, slots=True)
class Decision:
    """The department's own record of one approval: what ``Matter.$field`` shows.

    It rides in ``DepartmentView.records``; ``ApprovalItem``s (with their clocks)
    go to ``Matter.items`` like every department's.
    """

    file_number: str
    name: str
    status: Lifecycle
    raw_status: str
    decision_number: str | None = None
    decided_on: date | None = None


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
    part = "$module.part:PART"  # its field of Matter (the part module holds the GraphQL)
    simulator = "$module.fixture:simulator"  # what the hub's embedded default starts
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

    async def fetch_answers(
        self, project_codes: Sequence[str]
    ) -> Mapping[str, Fetched[DepartmentView | None] | ConnectorError]:
        """The same call, each project settled alone: with the call failing, a project with a
        stale copy keeps it (marked stale), and only one with none gets the error."""
        found = await self.pipeline.call_batch_settled("project", list(project_codes), self._query)
        return settled_sources(found)

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
    items, decisions = [], []
    for entry in raw["items"]:
        status = normalise_status(entry["status"])
        decided_on = date.fromisoformat(entry["decidedOn"]) if entry.get("decidedOn") else None
        items.append(
            ApprovalItem(
                department=NAME,
                kind=f"{NAME}.approval",
                name=str(entry["name"]),
                status=status,
                raw_status=str(entry["status"]),
                file_number=entry.get("fileNo"),
                decided_on=decided_on,
                statutory_limit_days=entry.get("statutoryDays"),
                promised_limit_days=entry.get("promisedDays"),
                certificate_number=entry.get("approvalNo"),
            )
        )
        decisions.append(
            Decision(
                file_number=str(entry["fileNo"]),
                name=str(entry["name"]),
                status=status,
                raw_status=str(entry["status"]),
                decision_number=entry.get("approvalNo"),
                decided_on=decided_on,
            )
        )
    return DepartmentView(
        department=NAME, project_code=str(raw["projectCode"]), items=tuple(items), records=tuple(decisions)
    )
'''

_FIXTURE = '''\
"""A stand-in for $title's system: enough for the contract suite and the embedded demo.

Replace it with a fixture that behaves like the real system (its keys, its
statuses, its paging), or point the tests at a test instance of it.
``simulator`` is what the hub's embedded default starts (``onematter serve``
with no configuration): the same app, answering for some of the demo world's
projects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors.base import SimulatedSystem
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
         "promisedDays": 30, "approvalNo": "$name-PF-2024-017", "decidedOn": "2024-03-15"},
    ],
    "2024-430472-77-01-000102": [
        {"name": "$title审批", "status": "IN_REVIEW", "fileNo": "$name-2024-0102", "statutoryDays": 60,
         "promisedDays": 30},
    ],
}


def simulated_projects(project_codes: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """What the simulation knows of the hub's projects: every third one has an approval."""
    found: dict[str, list[dict[str, Any]]] = {}
    for n, code in enumerate(sorted(project_codes)):
        if n % 3 == 0:
            status = STATUSES[n % len(STATUSES)]
            found[code] = [
                {"name": "$title审批", "status": status, "fileNo": f"$name-{n:06d}", "statutoryDays": 60,
                 "promisedDays": 30, **({"approvalNo": f"$name-PF-{n:06d}"} if status == "APPROVED" else {})},
            ]
    return found


def simulator(project_codes: Sequence[str]) -> SimulatedSystem:
    """The system the embedded default starts, over the demo world's project codes."""
    return SimulatedSystem(
        app=create_app(projects={**PROJECTS, **simulated_projects(project_codes)}),
        credentials={"api_key": ("$env", DEMO_API_KEY)},
    )


def create_app(
    *,
    api_key: str = DEMO_API_KEY,
    faults: FaultSettings | None = None,
    projects: dict[str, list[dict[str, Any]]] | None = None,
) -> FaultInjector:
    known = PROJECTS if projects is None else projects

    def authorised(request: Request) -> bool:
        return request.headers.get("x-api-key") == api_key

    def unauthorised() -> JSONResponse:
        return JSONResponse({"error": "unauthorized"}, status_code=401)

    async def project(request: Request) -> JSONResponse:
        if not authorised(request):
            return unauthorised()
        code = request.path_params["code"]
        if code not in known:
            return JSONResponse({"error": "not_found"}, status_code=404)
        return JSONResponse({"projectCode": code, "items": known[code]})

    async def query(request: Request) -> JSONResponse:
        if not authorised(request):
            return unauthorised()
        try:
            codes = (await request.json())["codes"]
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "bad_request"}, status_code=400)
        found = [{"projectCode": c, "items": known[c]} for c in codes if c in known]
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

_PART = '''\
"""$title's part of a matter: the ``Matter.$field`` field and the type that shows it.

The connector names this module (``part = "$module.part:PART"``); the hub adds
the field to ``Matter`` when it loads the connector. The field is null, with
the department's error, when the department failed.
"""

from __future__ import annotations

from datetime import date

import strawberry

from domain.records import Lifecycle
from schema import MatterPart, PartInput
from $module.connector import Decision


@strawberry.type(description="$title: one decision, as the department records it.")
class ${camel}Decision:
    file_number: str
    name: str
    status: Lifecycle
    raw_status: str
    decision_number: str | None = strawberry.field(description="The decision's document number.")
    decided_on: date | None


def show(part: PartInput) -> list[${camel}Decision]:
    """The department's decisions for the project ([] when it does not know the project)."""
    records = part.view.records if part.view is not None else ()
    return [
        ${camel}Decision(
            file_number=r.file_number,
            name=r.name,
            status=r.status,
            raw_status=r.raw_status,
            decision_number=r.decision_number,
            decided_on=r.decided_on,
        )
        for r in records
        if isinstance(r, Decision)
    ]


PART = MatterPart(
    field="$field",
    type=list[${camel}Decision],
    show=show,
    description="$title's decisions; null with an error when the department failed.",
)
'''

_PART_TEST = '''\
"""The part: its field in the hub's SDL, and what it shows of a real department answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest
from aiocache import SimpleMemoryCache

from connectors.http import build_client
from connectors.settings import ConnectorSettings
from schema import PartInput, build_schema, load_part
from $module.connector import $cls
from $module.fixture import DEMO_API_KEY, KNOWN, UNKNOWN, create_app, simulator
from $module.part import PART


def test_the_part_adds_its_field_to_matter() -> None:
    sdl = build_schema(parts=[load_part("$name", "$module.part:PART")]).as_str()
    matter = sdl[sdl.index("type Matter ") :].split("}", 1)[0]
    assert "  $field: [${camel}Decision!]" in matter
    assert "type ${camel}Decision {" in sdl


@pytest.fixture
async def connector(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[$cls]:
    from fixtures.serve import serve_app

    monkeypatch.setenv("$env", DEMO_API_KEY)
    server = await serve_app(create_app())
    settings = ConnectorSettings(base_url=server.url, credentials={"api_key": "$env"})
    client = build_client(settings)
    try:
        yield $cls(settings=settings, client=client, cache=SimpleMemoryCache())
    finally:
        await client.aclose()
        await server.stop()


async def test_the_part_shows_the_departments_decisions(connector: $cls) -> None:
    view = await connector.fetch_project(KNOWN)
    shown = PART.show(PartInput(department="$name", view=view, as_of=date(2024, 6, 28)))
    assert [(d.file_number, d.status.value, d.decision_number) for d in shown] == [
        ("$name-2024-0101", "APPROVED", "$name-PF-2024-017")
    ]
    unknown = await connector.fetch_project(UNKNOWN)
    assert PART.show(PartInput(department="$name", view=unknown, as_of=date(2024, 6, 28))) == []


async def test_the_simulator_answers_for_the_hubs_projects() -> None:
    import httpx

    from fixtures.serve import serve_app

    codes = [f"2023-430472-47-03-{n:06d}" for n in range(1, 10)]
    system = simulator(codes)
    assert system.credentials == {"api_key": ("$env", DEMO_API_KEY)}
    server = await serve_app(system.app)
    try:
        async with httpx.AsyncClient(base_url=server.url, headers={"X-Api-Key": DEMO_API_KEY}) as client:
            assert (await client.get(f"/projects/{codes[0]}")).status_code == 200  # every third
            assert (await client.get(f"/projects/{codes[1]}")).status_code == 404
    finally:
        await server.stop()
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
    "$module/part.py": _PART,
    "tests/test_contract.py": _TEST,
    "tests/test_part.py": _PART_TEST,
}
