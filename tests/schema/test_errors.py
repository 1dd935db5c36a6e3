"""The one masking extension: HubErrors reports what was raised on purpose, masks the rest."""

from __future__ import annotations

import functools
from typing import Any

import pytest
import strawberry
from graphql import GraphQLError

from domain.errors import DepartmentTimeout, InvalidInput
from gateway.config import Settings
from gateway.security import extensions as security_extensions
from schema.errors import HubErrors, HubSchema, with_one_masking


@strawberry.type
class Query:
    @strawberry.field
    def bug(self) -> str | None:
        raise RuntimeError("GET http://10.1.2.3:8080/api?token=s3cr3t failed")

    @strawberry.field
    def slow(self) -> str | None:
        raise DepartmentTimeout("fire did not answer in time", department="fire")

    @strawberry.field
    def bad(self) -> str | None:
        raise InvalidInput("see http://docs.example/rules", argument="code")

    @strawberry.field
    def refused(self) -> str | None:
        raise GraphQLError("not for you", extensions={"code": "FORBIDDEN"})

    @strawberry.field
    def uncoded(self) -> str | None:
        raise GraphQLError("internal detail at redis://:pw@cache:6379/0")

    @strawberry.field
    def fine(self) -> str:
        return "ok"


def run(schema: HubSchema, field: str) -> dict[str, Any]:
    result = schema.execute_sync(f"{{ {field} fine }}")
    assert result.data == {field: None, "fine": "ok"}  # the sibling survives
    [error] = result.errors or []
    return dict(error.formatted)


@pytest.fixture(params=[False, True], ids=["demo", "production"])
def scrubbing(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def schema(scrubbing: bool) -> HubSchema:
    return HubSchema(query=Query, extensions=[functools.partial(HubErrors, scrub=scrubbing)])


@pytest.mark.parametrize("field", ["bug", "uncoded"])
def test_what_was_not_raised_on_purpose_is_masked_in_every_mode(schema: HubSchema, field: str) -> None:
    error = run(schema, field)
    assert error["message"] == "Unexpected error."
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert error["path"] == [field]


def test_hub_errors_keep_their_message_and_extensions(schema: HubSchema) -> None:
    error = run(schema, "slow")
    assert error["message"] == "fire did not answer in time"
    assert error["extensions"] == {"code": "DEPARTMENT_TIMEOUT", "department": "fire", "retryable": True}


def test_coded_graphql_errors_pass(schema: HubSchema) -> None:
    assert run(schema, "refused")["extensions"] == {"code": "FORBIDDEN"}


def test_scrubbing_strips_urls_only_when_configured(schema: HubSchema, scrubbing: bool) -> None:
    error = run(schema, "bad")
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert ("http://" in error["message"]) is not scrubbing


def test_a_schema_runs_exactly_one_masking_extension_first() -> None:
    configured = functools.partial(HubErrors, scrub=True)
    other = object()
    assert with_one_masking([other]) == [HubErrors, other]
    assert with_one_masking([HubErrors, other, configured]) == [configured, other]
    production = Settings.model_validate({"hub": {"mode": "demo"}, "limits": {"mask_errors": True}})
    factories = with_one_masking([HubErrors, *security_extensions(production)])
    masking = [f for f in factories if isinstance(f, functools.partial) and f.func is HubErrors]
    assert factories[0] is masking[0] and len(masking) == 1 and HubErrors not in factories
