"""The rest of the answer survives a refusal: pinned for every role and every root field.

A refused or invalid root field is null with its one error; every other field
of the same document comes back. Root fields that a role rule or an argument
check can refuse are nullable for that (``schema._refusable``); GraphQL would
otherwise null the whole ``data``. Run over the real hub (its schema, its
security extensions) and the loopback departments, as each role.
"""

from __future__ import annotations

from typing import Any

import pytest
from strawberry.permission import PermissionExtension

from domain.principal import Role
from fixtures.world import World
from gateway.auth import authenticator_for
from schema import build_schema
from tests.schema.conftest import GRAPHQL_RESPONSE, Hub, HubFactory, errors_by_path

GUIDE = "approvalGuide { code }"
# Every root query field that can be refused, with a selection that is valid for it.
SELECTIONS = {
    "matter": 'matter(projectCode: "$code") { projectCode }',
    "matters": "matters(first: 1) { totalCount }",
    "enterprise": 'enterprise(creditCode: "$credit") { creditCode }',
    "sources": "sources { department }",
    "promiseKept": "promiseKept { projects }",
    "connectedDepartments": "connectedDepartments { name }",
    "delegationCoverage": "delegationCoverage { inForce }",
    "delegatedItems": "delegatedItems(first: 1) { totalCount }",
    "delegatedItem": 'delegatedItem(code: "430400-XK-SSLJ-901") { code }',
    "accounts": "accounts { id }",
    "departments": "departments { code }",
    "serviceItems": "serviceItems(first: 1) { totalCount }",
    "serviceItem": 'serviceItem(code: "NO-SUCH-ITEM") { code }',
    "reformIndicators": "reformIndicators { key }",
    "sourceBureaus": "sourceBureaus { code }",
    "businessSystems": "businessSystems { code }",
    "accessLog": "accessLog(first: 1) { hasNextPage }",
    "accessLogIntegrity": "accessLogIntegrity { intact }",
}


def readers() -> dict[str, frozenset[Role]]:
    """Root field (GraphQL name) -> the roles its rule lets through, read from the schema itself."""
    found = {}
    for field in build_schema().get_type_by_name("Query").fields:  # type: ignore[union-attr]
        roles = None
        for extension in field.extensions:
            if isinstance(extension, PermissionExtension):
                for permission in extension.permissions:
                    allowed = frozenset(getattr(permission, "roles", ()))
                    roles = allowed if roles is None else roles & allowed
        if roles is not None:
            found[field.graphql_name or _camel(field.python_name)] = roles
    return found


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


READERS = readers()


def test_every_refusable_root_field_is_pinned_and_nullable() -> None:
    from graphql import GraphQLNonNull

    assert set(READERS) == set(SELECTIONS), "add the new root field to SELECTIONS"
    query = build_schema()._schema.query_type
    assert query is not None
    for name in SELECTIONS:
        assert not isinstance(query.fields[name].type, GraphQLNonNull), f"{name} must be nullable"
    # Nothing can refuse the guide (no rule, no argument): it stays non-null.
    assert isinstance(query.fields["approvalGuide"].type, GraphQLNonNull)


@pytest.fixture
async def hub(make_hub: HubFactory) -> Hub:
    return await make_hub()


def selection(name: str, world: World) -> str:
    code = sorted(world.projects)[0]
    credit = world.projects[code].enterprise_code
    return SELECTIONS[name].replace("$code", code).replace("$credit", credit)


async def ask(hub: Hub, world: World, role: Role | None, document: str) -> dict[str, Any]:
    headers = {"Accept": GRAPHQL_RESPONSE}
    if role is not None:
        code = sorted(world.projects)[0]
        token = authenticator_for(hub.settings).mint(
            subject=f"test-{role.value.lower()}",
            role=role,
            credit_code=world.projects[code].enterprise_code if role is Role.ENTERPRISE else None,
            projects=[code] if role is Role.AGENT else None,
        )
        headers["Authorization"] = f"Bearer {token}"
    response = await hub.client.post("/graphql", json={"query": document}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
async def test_a_refused_root_field_fails_alone(hub: Hub, world: World, role: Role) -> None:
    answered, refused = [], []
    for name, roles in READERS.items():
        body = await ask(hub, world, role, f"{{ {GUIDE} {selection(name, world)} }}")
        assert len(body["data"]["approvalGuide"]) == 14, name  # the sibling always survives
        if role in roles and "errors" not in body:
            answered.append(name)
            continue
        refused.append(name)  # by its role rule, or by an object rule on what it returns
        assert body["data"][name] is None
        [error] = body["errors"]
        assert error["path"] == [name] and error["extensions"]["code"] == "FORBIDDEN", error
    assert answered and refused, (answered, refused)
    # Everything the role may read, beside one field it may not: all of it, and one error.
    every = " ".join(selection(name, world) for name in answered)
    body = await ask(hub, world, role, f"{{ {GUIDE} {every} {selection(refused[0], world)} }}")
    assert list(errors_by_path(body)) == [(refused[0],)], body.get("errors")
    assert body["data"][refused[0]] is None
    assert all(name in body["data"] for name in answered)


async def test_anonymous_callers_reach_only_public_fields(hub: Hub, world: World) -> None:
    # Refused before execution, as docs/security.md says: no field of the document runs.
    body = await ask(hub, world, None, f"{{ {GUIDE} }}")
    assert len(body["data"]["approvalGuide"]) == 14
    headers = {"Accept": GRAPHQL_RESPONSE}
    document = f"{{ {GUIDE} {selection('matters', world)} }}"
    response = await hub.client.post("/graphql", json={"query": document}, headers=headers)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "FORBIDDEN", "fields": ["matters"]}


async def test_a_bad_argument_keeps_the_guide(hub: Hub, world: World) -> None:
    body = await ask(hub, world, Role.WINDOW_STAFF, f"{{ {GUIDE} matters(first: -1) {{ totalCount }} }}")
    assert len(body["data"]["approvalGuide"]) == 14
    assert body["data"]["matters"] is None
    [error] = body["errors"]
    assert error["path"] == ["matters"] and error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_refused_mutation_fails_alone(hub: Hub, world: World) -> None:
    document = (
        'mutation { cancelDelegatedItem(itemCode: "430400-XK-SSLJ-901", reason: "no substance", '
        'idempotencyKey: "k1") { code } }'
    )
    body = await ask(hub, world, Role.WINDOW_STAFF, document)
    assert body["data"] == {"cancelDelegatedItem": None}
    [error] = body["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"
