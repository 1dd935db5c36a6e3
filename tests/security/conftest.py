"""Fixtures for the security tests: a small schema guarded like the real one, served by the real app.

The schema below uses the same permission classes, object guards, masks and
access log as the hub's own types, over a tiny in-memory world, so the rules
can be tested without departments. It runs behind ``gateway.app.create_app``
(the real view, middleware and extensions) with a real SQLite registry.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import strawberry
from sqlalchemy import func, select, text
from strawberry.tools import merge_types
from strawberry.types import Info

from domain.errors import InvalidInput
from domain.identifiers import credit_check_char, credit_code_problem, project_code_problem
from domain.principal import Role
from gateway.app import create_app
from gateway.auth import authenticator_for
from gateway.config import HubSettings, RegistrySettings, Settings
from gateway.security import extensions as security_extensions
from gateway.services import Services
from registry.access_log import access_log
from registry.store import Registry
from schema import audit
from schema.errors import HubSchema
from schema.permissions import (
    Administrators,
    Authenticated,
    EnterpriseReaders,
    Guarded,
    LedgerReaders,
    Masked,
    MatterReaders,
    SourceReaders,
    guard,
    requires,
)
from tests.gateway.conftest import EmptyDirectory, empty_index


def credit_code(body: str) -> str:
    """A valid credit code from 17 leading characters."""
    return body + credit_check_char(body)


ACME = credit_code("91430400MA4L00001")
BETA = credit_code("91430400MA4L00002")
P1 = "2023-430472-47-03-000001"  # ACME's
P2 = "2023-430472-47-03-000002"  # ACME's
P3 = "2023-430472-47-03-000003"  # BETA's

PROJECTS = {P1: ACME, P2: ACME, P3: BETA}


@strawberry.type
class Item:
    code: str
    status: str


@strawberry.type
class Stage:
    name: str
    items: list[Item]


@strawberry.federation.type(keys=["projectCode"])
class Project:
    project_code: str
    name: str
    credit_code: str
    agent_name: str = strawberry.field(extensions=[Masked("staff_name")])
    agent_phone: str = strawberry.field(extensions=[Masked("phone")])
    stages: list[Stage] = strawberry.field(default_factory=list)

    @strawberry.field(extensions=[Guarded("enterprise")])
    def enterprise(self) -> Enterprise | None:
        return enterprise(self.credit_code)

    @classmethod
    def resolve_reference(cls, info: Info, projectCode: str) -> Project | None:  # representation key
        # Federation entities skip field extensions: the object rule is applied by hand.
        return guard(info, "project", project(projectCode) if projectCode in PROJECTS else None)


@strawberry.type
class Enterprise:
    credit_code: str
    name: str
    liaison_phone: str = strawberry.field(extensions=[Masked("phone")])
    project_codes: strawberry.Private[tuple[str, ...]] = ()

    @strawberry.field(extensions=[Guarded("project")])
    def projects(self) -> list[Project]:
        return [project(code) for code in self.project_codes]


@strawberry.type
class Account:
    system: str
    holder: str = strawberry.field(extensions=[Masked("account_holder")])


def project(code: str) -> Project:
    return Project(
        project_code=code,
        name=f"project {code[-1]}",
        credit_code=PROJECTS[code],
        agent_name="王小明",
        agent_phone="13812345678",
        stages=[Stage(name="施工许可", items=[Item(code="FIRE-01", status="IN_REVIEW")])],
    )


def enterprise(code: str) -> Enterprise:
    return Enterprise(
        credit_code=code,
        name="衡阳某某科技有限公司",
        liaison_phone="0734-8888888",
        project_codes=tuple(p for p, owner in PROJECTS.items() if owner == code),
    )


@dataclass
class Gate:
    """Lets a test hold a resolver until it says so (no sleeps)."""

    event: asyncio.Event = field(default_factory=asyncio.Event)


GATE = Gate()


@strawberry.type
class ToyQuery:
    @strawberry.field(description="public: the handbook")
    def approval_guide(self) -> list[str]:
        return ["建设工程规划许可证", "施工许可"]

    @strawberry.field(extensions=[*requires(MatterReaders), Guarded("project")])
    def matter(self, project_code: str) -> Project | None:
        problem = project_code_problem(project_code)
        if problem:  # identifiers are checked at the edge, as the real schema does
            raise InvalidInput(problem, argument="projectCode")
        return project(project_code) if project_code in PROJECTS else None

    @strawberry.field(extensions=[*requires(MatterReaders), Guarded("project")])
    def matters(self, first: int = 20) -> list[Project]:
        if not 0 <= first <= 100:
            raise InvalidInput("first must be between 0 and 100", argument="first")
        return [project(code) for code in list(PROJECTS)[:first]]

    @strawberry.field(extensions=[*requires(EnterpriseReaders), Guarded("enterprise")])
    def enterprise(self, credit_code: str) -> Enterprise | None:
        problem = credit_code_problem(credit_code)
        if problem:
            raise InvalidInput(problem, argument="creditCode")
        return enterprise(credit_code) if credit_code in PROJECTS.values() else None

    @strawberry.field(extensions=requires(LedgerReaders))
    def accounts(self) -> list[Account]:
        return [Account(system="湖南省政务服务平台", holder="李四")]

    @strawberry.field(extensions=requires(LedgerReaders))
    def delegation_coverage(self) -> float:
        return 1.0

    @strawberry.field(extensions=requires(SourceReaders))
    def sources(self) -> list[str] | None:
        return ["planning"]

    @strawberry.field(extensions=requires(Authenticated))
    def boom(self) -> str | None:
        raise RuntimeError(
            "GET http://10.1.2.3:8080/api?token=s3cr3t failed: Traceback (most recent call last)"
        )

    @strawberry.field(extensions=requires(Authenticated))
    async def slow(self) -> str:
        await GATE.event.wait()
        return "done"


@strawberry.type
class ToyMutation:
    @strawberry.mutation(extensions=requires(Administrators))
    async def cancel_item(self, info: Info, code: str, reason: str) -> str:
        registry = info.context.registry
        async with registry.write() as session:
            await session.execute(
                text(
                    "INSERT INTO idempotency_key (key, operation, request_hash, result, created_at) "
                    "VALUES (:k, 'cancel', :h, :r, CURRENT_TIMESTAMP)"
                ),
                {"k": code[:128], "h": "0" * 64, "r": reason[:200]},
            )
        return "cancelled"


def toy_schema(settings: Settings) -> Any:
    query = merge_types("Query", (ToyQuery, audit.Query))
    return HubSchema(query=query, mutation=ToyMutation, extensions=security_extensions(settings))


@dataclass
class SecureHub:
    client: httpx.AsyncClient
    settings: Settings
    registry: Registry

    def token(self, role: Role, **claims: Any) -> str:
        if role is Role.ENTERPRISE:
            claims.setdefault("credit_code", ACME)
        if role is Role.AGENT:
            claims.setdefault("projects", [P3])
        return authenticator_for(self.settings).mint(
            subject=f"test-{role.value.lower()}", role=role, **claims
        )

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        role: Role | None = None,
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
        **claims: Any,
    ) -> httpx.Response:
        sent = {"Accept": "application/json"}
        if role is not None:
            sent["Authorization"] = f"Bearer {self.token(role, **claims)}"
        sent.update(headers or {})
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        if extensions is not None:
            body["extensions"] = extensions
        return await self.client.post("/graphql", json=body, headers=sent)

    async def query(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        response = await self.post(query, variables, **kw)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def counts(self) -> tuple[int, int]:
        """Rows in the access log and in the registry's idempotency keys (what a write would add)."""
        async with self.registry.sessionmaker() as session:
            logged = (await session.execute(select(func.count()).select_from(access_log))).scalar_one()
            keys = (await session.execute(text("SELECT count(*) FROM idempotency_key"))).scalar_one()
        return int(logged), int(keys)


HubFactory = Callable[..., Awaitable[SecureHub]]


@pytest.fixture
def limits() -> dict[str, Any]:
    """Overrides for [limits]; tests change it before asking for ``secure_hub``."""
    return {}


@pytest.fixture
async def make_secure_hub(tmp_path: Path) -> AsyncIterator[HubFactory]:
    made: list[tuple[Services, Registry, httpx.AsyncClient, Any]] = []

    async def make(
        *, mode: str = "demo", limits: dict[str, Any] | None = None, auth: dict[str, Any] | None = None
    ) -> SecureHub:
        GATE.event = asyncio.Event()
        db = tmp_path / f"registry-{len(made)}.db"
        settings = Settings(
            hub=HubSettings(mode=mode, embedded=False),  # type: ignore[arg-type]
            registry=RegistrySettings(database_url=f"sqlite+aiosqlite:///{db}"),
            limits=limits or {},
            auth=auth or {},
        )
        registry = await Registry.open(settings.registry.database_url)
        services = Services(
            settings=settings,
            connectors={},
            directory=EmptyDirectory(PROJECTS),
            registry=registry,
            cache=None,  # type: ignore[arg-type]
            matter_index=empty_index(PROJECTS),  # the index knows each toy project's owner
        )
        app = create_app(settings, services=services, schema=toy_schema(settings))
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub.test")
        made.append((services, registry, client, lifespan))
        return SecureHub(client=client, settings=settings, registry=registry)

    yield make
    for _services, registry, client, lifespan in reversed(made):
        GATE.event.set()
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
        await registry.close()


@pytest.fixture
async def secure_hub(make_secure_hub: HubFactory, limits: dict[str, Any]) -> SecureHub:
    return await make_secure_hub(limits=limits)
