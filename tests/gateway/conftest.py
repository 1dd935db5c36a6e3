"""Fixtures for the gateway tests: a tiny schema served by the real app, in-process.

The HTTP semantics (GraphQL over HTTP, GraphiQL, context) do not depend on the
matter schema, so most tests serve a small schema with prebuilt services; the
end-to-end tests (test_app.py) run the real hub with its embedded departments.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import strawberry
from strawberry.types import Info

from connectors.http import case_number_var, request_id_var
from domain.records import EnterpriseProfile, ProjectProfile
from gateway.app import create_app
from gateway.config import Settings
from gateway.services import Services
from schema.matter_index import MatterIndex


@strawberry.type
class Echo:
    request_id: str
    case_number: str | None
    upstream_request_id: str | None
    upstream_case_number: str | None
    principal: str


@strawberry.type
class Query:
    @strawberry.field
    def hello(self, name: str = "world") -> str:
        return f"hello {name}"

    @strawberry.field
    def echo(self, info: Info) -> Echo:
        context = info.context
        return Echo(
            request_id=context.request_id,
            case_number=context.case_number,
            upstream_request_id=request_id_var.get(),
            upstream_case_number=case_number_var.get(),
            principal=context.principal.subject,
        )

    @strawberry.field
    def broken(self) -> str | None:
        raise RuntimeError("a field error")

    @strawberry.field
    def required(self) -> str:
        raise RuntimeError("a field error on a non-null root field")


@strawberry.type
class Mutation:
    @strawberry.mutation
    def bump(self) -> int:
        return 1


@dataclass
class FakeRegistry:
    closed: bool = False

    async def close(self) -> None:
        self.closed = True


class EmptyDirectory:
    """A project directory for the toy schemas: it knows the projects given (none by default)."""

    def __init__(self, projects: Mapping[str, str] | None = None) -> None:
        # project code -> owner's credit code
        self.profiles = [toy_profile(code, owner) for code, owner in (projects or {}).items()]

    async def fetch_profiles(self, project_codes: Sequence[str]) -> Mapping[str, ProjectProfile]:
        return {p.project_code: p for p in self.profiles if p.project_code in project_codes}

    async def list_profiles(self) -> list[ProjectProfile]:
        return list(self.profiles)

    async def fetch_enterprise(self, credit_code: str) -> EnterpriseProfile | None:
        return None


def toy_profile(code: str, owner: str) -> ProjectProfile:
    return ProjectProfile(
        project_code=code,
        name=f"project {code[-1]}",
        enterprise=EnterpriseProfile(credit_code=owner, name=f"enterprise {owner[-2:]}"),
        site="",
        division="430472",
        parcel_code="",
        floors_above_ground=1,
        foundation_depth_m=1.0,
        ground_floor_area_m2=100.0,
        total_area_m2=100.0,
        is_plant=False,
        special_fire=False,
        phased_mode="NONE",
    )


def empty_index(projects: Mapping[str, str] | None = None) -> MatterIndex:
    """A matter index over the toy projects given (built at once when the lifespan starts it)."""
    return MatterIndex(EmptyDirectory(projects), {})


def toy_schema() -> Any:
    return strawberry.federation.Schema(query=Query, mutation=Mutation)


def toy_services(settings: Settings) -> Services:
    return Services(
        settings=settings,
        connectors={},
        directory=EmptyDirectory(),
        registry=FakeRegistry(),  # type: ignore[arg-type]
        cache=None,  # type: ignore[arg-type]
        matter_index=empty_index(),
    )


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client calling the app in-process, lifespan entered."""
    app = create_app(settings, services=toy_services(settings), schema=toy_schema())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as c:
            yield c


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``onematter serve`` with no configuration: the embedded demo on a loopback port."""
    from tests.gateway.hub import RunningHub

    with RunningHub.start(tmp_path_factory.mktemp("hub")) as running:
        yield running
