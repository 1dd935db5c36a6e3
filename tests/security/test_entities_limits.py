"""``_entities`` and list arguments: capped, checked, refused before any department call.

The real app over the five loopback departments (the schema tests' harness);
department calls are counted by the fixture systems themselves (``/_admin/stats``).
"""

from __future__ import annotations

from typing import Any

import pytest

from domain.principal import Role
from fixtures.world import World
from tests.schema import conftest as harness
from tests.schema.conftest import Hub, HubFactory

for _name, _value in vars(harness).items():
    if (
        getattr(_value, "_fixture_function_marker", None)
        or type(_value).__name__ == "FixtureFunctionDefinition"
    ):
        globals()[_name] = _value

ENTITIES = """
query($r: [_Any!]!) { _entities(representations: $r) { ... on Matter { projectCode name } } }
"""


@pytest.fixture
async def real_hub(make_hub: HubFactory) -> Hub:
    return await make_hub()


async def _ask(hub: Hub, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    # Plain JSON: a refused request is still 200 with its errors (graphql-response+json: 400).
    response = await hub.client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Accept": "application/json", "Authorization": f"Bearer {hub.token(Role.WINDOW_STAFF)}"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _entities(hub: Hub, representations: list[Any]) -> dict[str, Any]:
    return await _ask(hub, ENTITIES, {"r": representations})


def _input_error(body: dict[str, Any]) -> str:
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    message: str = error["message"]
    return message


async def test_a_thousand_representations_are_refused_before_any_department_call(
    real_hub: Hub, world: World
) -> None:
    codes = sorted(world.projects)
    await real_hub.reset_stats()
    body = await _entities(
        real_hub, [{"__typename": "Matter", "projectCode": codes[i % len(codes)]} for i in range(1000)]
    )
    assert "1000 representations; at most 500" in _input_error(body)
    assert body["errors"][0]["extensions"]["limit"] == 500
    assert sum((await real_hub.upstream_calls()).values()) == 0


async def test_a_batch_within_the_cap_resolves(real_hub: Hub, world: World) -> None:
    codes = sorted(world.projects)[:3]
    body = await _entities(real_hub, [{"__typename": "Matter", "projectCode": c} for c in codes])
    assert "errors" not in body, body
    assert [e["projectCode"] for e in body["data"]["_entities"]] == codes


@pytest.mark.parametrize(
    ("representation", "message"),
    [
        (
            {"__typename": "matter", "projectCode": "2023-430472-47-03-012345"},
            "'matter' is not an entity type",
        ),
        ({"__typename": "Query"}, "'Query' is not an entity type"),
        ({"projectCode": "2023-430472-47-03-012345"}, "must be an object with a __typename"),
        ("Matter", "must be an object with a __typename"),
    ],
    ids=["lower-case", "not-an-entity", "no-typename", "not-an-object"],
)
async def test_a_bad_representation_is_an_input_error(
    real_hub: Hub, representation: Any, message: str
) -> None:
    await real_hub.reset_stats()
    body = await _entities(real_hub, [representation])
    assert message in _input_error(body)
    assert sum((await real_hub.upstream_calls()).values()) == 0


async def test_a_literal_list_is_checked_too(real_hub: Hub) -> None:
    literal = '{__typename: "Matter", projectCode: "2023-430472-47-03-012345"}, {__typename: "matter"}'
    body = await _ask(real_hub, f"{{ _entities(representations: [{literal}]) {{ __typename }} }}")
    assert "representation 1: 'matter' is not an entity type" in _input_error(body)


def test_every_list_argument_is_capped() -> None:
    import strawberry

    from schema.limits import ListGuard

    @strawberry.type
    class Query:
        @strawberry.field
        def count(self, codes: list[str], nested: list[list[int]] | None = None) -> int:
            return len(codes)

    schema = strawberry.Schema(query=Query, extensions=[lambda: ListGuard(max_items=3, max_entities=3)])
    ok = schema.execute_sync('{ count(codes: ["a", "b", "c"]) }', context_value={})
    assert ok.data == {"count": 3}, ok.errors
    for query, variables in (
        ('{ count(codes: ["a", "b", "c", "d"]) }', None),
        ("query($c: [String!]!) { count(codes: $c) }", {"c": list("abcd")}),
        ("{ count(codes: [], nested: [[1, 2, 3, 4]]) }", None),
    ):
        refused = schema.execute_sync(query, variable_values=variables, context_value={})
        assert refused.data is None
        [error] = refused.errors or []
        assert error.extensions is not None
        assert (error.extensions["code"], error.extensions["limit"]) == ("BAD_USER_INPUT", 3)
        assert "holds 4 items; at most 3" in error.message
