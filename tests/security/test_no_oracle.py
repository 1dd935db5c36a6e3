"""No oracle: an ENTERPRISE cannot tell another enterprise's project from an unknown code,
and zone-wide counts are not for callers who see only their own.

The real app over the five loopback departments (the schema tests' harness).
"""

from __future__ import annotations

from typing import Any

import pytest

from domain.principal import Role
from fixtures.world import World
from gateway.auth import authenticator_for
from tests.schema import conftest as harness
from tests.schema.conftest import Hub, HubFactory

for _name, _value in vars(harness).items():
    if (
        getattr(_value, "_fixture_function_marker", None)
        or type(_value).__name__ == "FixtureFunctionDefinition"
    ):
        globals()[_name] = _value

MATTER = "query($c: String!) { matter(projectCode: $c) { projectCode name } }"
ENTITIES = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Matter { projectCode } } }"
UNKNOWN = "2023-430472-47-03-999999"


@pytest.fixture
async def real_hub(make_hub: HubFactory) -> Hub:
    hub = await make_hub()
    warm = await ask(hub, "{ matters(first: 0) { totalCount } }", role=Role.WINDOW_STAFF)
    assert warm["data"]["matters"]["totalCount"] > 0  # the matter index is built
    return hub


async def ask(hub: Hub, query: str, variables: dict[str, Any] | None = None, **claims: Any) -> dict[str, Any]:
    role = claims.pop("role")
    token = authenticator_for(hub.settings).mint(subject=f"oracle-{role.value}", role=role, **claims)
    response = await hub.client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Accept": "application/json", "Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _owner_and_foreign(world: World) -> tuple[str, str, str]:
    """An enterprise, one of its projects, and a project of another enterprise."""
    code = sorted(world.projects)[0]
    owner = world.projects[code].enterprise_code
    foreign = next(c for c, p in sorted(world.projects.items()) if p.enterprise_code != owner)
    return owner, code, foreign


async def test_another_enterprises_project_answers_as_an_unknown_code(real_hub: Hub, world: World) -> None:
    owner, own, foreign = _owner_and_foreign(world)
    assert UNKNOWN not in world.projects
    mine = await ask(real_hub, MATTER, {"c": own}, role=Role.ENTERPRISE, credit_code=owner)
    assert mine["data"]["matter"]["projectCode"] == own
    await real_hub.reset_stats()
    theirs = await ask(real_hub, MATTER, {"c": foreign}, role=Role.ENTERPRISE, credit_code=owner)
    unknown = await ask(real_hub, MATTER, {"c": UNKNOWN}, role=Role.ENTERPRISE, credit_code=owner)
    assert theirs == unknown == {"data": {"matter": None}}
    # Neither asked a department: the same work, so the same time, for both.
    assert sum((await real_hub.upstream_calls()).values()) == 0
    by_reference = [
        await ask(
            real_hub,
            ENTITIES,
            {"r": [{"__typename": "Matter", "projectCode": c}]},
            role=Role.ENTERPRISE,
            credit_code=owner,
        )
        for c in (foreign, UNKNOWN)
    ]
    assert by_reference[0] == by_reference[1] == {"data": {"_entities": [None]}}


@pytest.mark.parametrize(
    ("role", "claims", "sees"),
    [
        (Role.WINDOW_STAFF, "none", True),
        (Role.ENTERPRISE, "owner", False),
        (Role.AGENT, "projects", False),
    ],
)
async def test_zone_wide_counts_only_for_roles_that_see_the_zone(
    real_hub: Hub, world: World, role: Role, claims: str, sees: bool
) -> None:
    owner, own, _ = _owner_and_foreign(world)
    extras: dict[str, dict[str, Any]] = {
        "none": {},
        "owner": {"credit_code": owner},
        "projects": {"projects": [own]},
    }
    extra = extras[claims]
    body = await ask(real_hub, "{ matters(first: 1) { index { projects } } }", role=role, **extra)
    assert "errors" not in body, body
    projects = body["data"]["matters"]["index"]["projects"]
    assert projects == (len(world.projects) if sees else None)


@pytest.mark.parametrize(
    "cursor",
    ["x" * 5_000, "bWF0dGVyOg==", "%%%", "bWF0dGVyOj" * 40],
    ids=["long", "empty", "junk", "repeated"],
)
async def test_a_bad_cursor_is_an_input_error(real_hub: Hub, cursor: str) -> None:
    body = await ask(
        real_hub,
        "query($a: String) { matters(after: $a) { totalCount } }",
        {"a": cursor},
        role=Role.WINDOW_STAFF,
    )
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["message"] != "Unexpected error."
