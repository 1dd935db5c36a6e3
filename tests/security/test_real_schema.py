"""The rules on the hub's own schema: the real app over the five loopback departments.

Uses the schema tests' harness (``tests/schema/conftest.py``): for each role one
thing it reads and one it cannot, lists filtered per caller, masks, the access
log filled by real reads, and entities guarded like fields.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from domain.principal import Role
from fixtures.world import World
from gateway.auth import authenticator_for
from registry.access_log import access_log
from tests.schema import conftest as harness
from tests.schema.conftest import Hub, HubFactory

# The schema tests' harness, reused: the real app over the five loopback departments.
# (The harness's fixtures, whichever it currently has, become this module's.)
for _name, _value in vars(harness).items():
    if (
        getattr(_value, "_fixture_function_marker", None)
        or type(_value).__name__ == "FixtureFunctionDefinition"
    ):
        globals()[_name] = _value


@pytest.fixture
async def real_hub(make_hub: HubFactory) -> Hub:
    return await make_hub()


MATTER = "query($c: String!) { matter(projectCode: $c) { projectCode name agent { name phone } } }"
MATTERS = "{ matters(first: 100) { totalCount nodes { projectCode } } }"


def owner_and_other(world: World) -> tuple[str, list[str], str]:
    """An enterprise with projects, its project codes, and a project of another enterprise."""
    by_owner: dict[str, list[str]] = {}
    for code, project in world.projects.items():
        by_owner.setdefault(project.enterprise_code, []).append(code)
    owner = max(by_owner, key=lambda c: len(by_owner[c]))
    other = next(code for code, p in world.projects.items() if p.enterprise_code != owner)
    return owner, sorted(by_owner[owner]), other


async def ask(hub: Hub, query: str, variables: dict[str, Any] | None = None, **claims: Any) -> dict[str, Any]:
    role = claims.pop("role")
    headers = {"Accept": "application/json"}
    if role is not None:
        token = authenticator_for(hub.settings).mint(subject=f"real-{role.value}", role=role, **claims)
        headers["Authorization"] = f"Bearer {token}"
    response = await hub.client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def codes(body: dict[str, Any]) -> list[str]:
    return [n["projectCode"] for n in body["data"]["matters"]["nodes"]]


def refused(body: dict[str, Any]) -> bool:
    return bool(body.get("errors")) and all(e["extensions"]["code"] == "FORBIDDEN" for e in body["errors"])


async def test_each_role_on_the_real_schema(real_hub: Hub, world: World) -> None:
    owner, own, other = owner_and_other(world)
    agent_project = own[0]
    # ENTERPRISE: its own project, not another's
    assert (await ask(real_hub, MATTER, {"c": own[0]}, role=Role.ENTERPRISE, credit_code=owner))["data"][
        "matter"
    ]
    # another's project: the same answer as an unknown code (tests/security/test_no_oracle.py)
    assert (await ask(real_hub, MATTER, {"c": other}, role=Role.ENTERPRISE, credit_code=owner)) == {
        "data": {"matter": None}
    }
    # AGENT: the assigned project, not another
    assert (await ask(real_hub, MATTER, {"c": agent_project}, role=Role.AGENT, projects=[agent_project]))[
        "data"
    ]["matter"]
    assert refused(await ask(real_hub, MATTER, {"c": other}, role=Role.AGENT, projects=[agent_project]))
    # WINDOW_STAFF: any matter, not the sources
    assert (await ask(real_hub, MATTER, {"c": other}, role=Role.WINDOW_STAFF))["data"]["matter"]
    assert refused(await ask(real_hub, "{ sources { department } }", role=Role.WINDOW_STAFF))
    # INTEGRATOR: the sources, not a matter
    assert (await ask(real_hub, "{ sources { department } }", role=Role.INTEGRATOR))["data"]["sources"]
    assert refused(await ask(real_hub, MATTER, {"c": other}, role=Role.INTEGRATOR))
    # AUDITOR: the access log, not a matter
    assert "errors" not in await ask(real_hub, "{ accessLog { entries { id } } }", role=Role.AUDITOR)
    assert refused(await ask(real_hub, MATTER, {"c": other}, role=Role.AUDITOR))
    assert "errors" not in await ask(real_hub, "{ delegationCoverage { inForce } }", role=Role.AUDITOR)
    assert refused(await ask(real_hub, "{ delegationCoverage { inForce } }", role=Role.WINDOW_STAFF))
    # ADMIN: the ledger it changes, not the access log
    assert "errors" not in await ask(real_hub, "{ departments { code } }", role=Role.ADMIN)
    assert refused(await ask(real_hub, "{ accessLog { entries { id } } }", role=Role.ADMIN))
    # anonymous: the handbook, nothing else
    assert (await ask(real_hub, "{ approvalGuide { name } }", role=None))["data"]["approvalGuide"]
    assert refused(await ask(real_hub, MATTER, {"c": other}, role=None))


async def test_lists_hold_only_what_the_caller_may_read(real_hub: Hub, world: World) -> None:
    owner, own, _ = owner_and_other(world)
    mine = await ask(real_hub, MATTERS, role=Role.ENTERPRISE, credit_code=owner)
    assert sorted(n["projectCode"] for n in mine["data"]["matters"]["nodes"]) == own
    assert mine["data"]["matters"]["totalCount"] == len(own)  # nor does the count leak the others
    agent = await ask(real_hub, MATTERS, role=Role.AGENT, projects=own[:1])
    assert [n["projectCode"] for n in agent["data"]["matters"]["nodes"]] == own[:1]
    staff = await ask(real_hub, "{ matters(first: 5) { totalCount } }", role=Role.WINDOW_STAFF)
    assert staff["data"]["matters"]["totalCount"] == len(world.projects)


async def test_another_enterprise_and_its_entities_are_refused(real_hub: Hub, world: World) -> None:
    owner, _, other = owner_and_other(world)
    other_owner = world.projects[other].enterprise_code
    query = "query($c: String!) { enterprise(creditCode: $c) { name } }"
    assert (await ask(real_hub, query, {"c": owner}, role=Role.ENTERPRISE, credit_code=owner))["data"][
        "enterprise"
    ]
    assert refused(await ask(real_hub, query, {"c": other_owner}, role=Role.ENTERPRISE, credit_code=owner))
    entities = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Matter { projectCode } } }"
    reps = {"r": [{"__typename": "Matter", "projectCode": other}]}
    body = await ask(real_hub, entities, reps, role=Role.ENTERPRISE, credit_code=owner)
    assert body == {"data": {"_entities": [None]}}  # as for an unknown code: no oracle
    assert refused(await ask(real_hub, entities, reps, role=None))


async def test_reads_land_in_the_access_log(real_hub: Hub, world: World) -> None:
    _, own, _ = owner_and_other(world)
    token = authenticator_for(real_hub.settings).mint(subject="clerk-7", role=Role.WINDOW_STAFF)
    response = await real_hub.client.post(
        "/graphql",
        json={"query": MATTER, "variables": {"c": own[0]}},
        headers={"Authorization": f"Bearer {token}", "X-Case-Number": "HY-2026-000042"},
    )
    assert response.status_code == 200 and "errors" not in response.json()
    async with real_hub.services.registry.sessionmaker() as session:
        rows = (await session.execute(select(access_log))).all()
    assert [(r.principal, r.role, r.purpose, r.kind, r.object_id) for r in rows] == [
        ("clerk-7", "WINDOW_STAFF", "HY-2026-000042", "matter", own[0])
    ]
    assert "agent.phone" in rows[0].fields


@pytest.mark.parametrize("role", [Role.ENTERPRISE, Role.WINDOW_STAFF])
async def test_people_working_the_case_see_the_agents_phone(real_hub: Hub, world: World, role: Role) -> None:
    code, project = next((c, p) for c, p in world.projects.items() if p.agent is not None)
    claims = {"credit_code": project.enterprise_code} if role is Role.ENTERPRISE else {}
    body = await ask(real_hub, MATTER, {"c": code}, role=role, **claims)
    assert body["data"]["matter"]["agent"]["phone"] == project.agent.phone  # type: ignore[union-attr]


def _depth_bomb(levels: int) -> str:
    inner = "name"
    for _ in range(levels):
        inner = f"enterprise {{ projects {{ nodes {{ {inner} }} }} }}"
    return f'{{ matter(projectCode: "2023-430472-47-03-000001") {{ {inner} }} }}'


async def test_bad_input_on_the_real_schema_calls_no_department_and_writes_nothing(
    real_hub: Hub, world: World
) -> None:
    """A sample of the corpus against the hub itself: refused at the edge, before any department."""
    owner, own, other = owner_and_other(world)
    cases: list[tuple[str, dict[str, Any] | None, dict[str, Any]]] = [
        (MATTER, {"c": "abc"}, {"role": Role.WINDOW_STAFF}),
        (MATTER, {"c": f"{own[0]}' OR '1'='1"}, {"role": Role.WINDOW_STAFF}),
        (MATTER, {"c": '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'},
         {"role": Role.WINDOW_STAFF}),
        (MATTER, {"c": f"{own[0]}\r\nX-Injected: 1"}, {"role": Role.WINDOW_STAFF}),
        (MATTER, {"c": own[0] + "\n"}, {"role": Role.WINDOW_STAFF}),
        (MATTER, {"c": "../../etc/passwd"}, {"role": Role.WINDOW_STAFF}),
        ("query($c: String!) { enterprise(creditCode: $c) { name } }", {"c": "91350200776049653B"},
         {"role": Role.WINDOW_STAFF}),
        (MATTER, {"c": other}, {"role": Role.AGENT, "projects": own[:1]}),
        ("query($c: String!) { enterprise(creditCode: $c) { name } }",
         {"c": world.projects[other].enterprise_code}, {"role": Role.ENTERPRISE, "credit_code": owner}),
        (MATTER, {"c": other}, {"role": None}),
        ("{ matters(first: 100000) { nodes { items { code } utilities { kind } } } }", None,
         {"role": Role.WINDOW_STAFF}),
        (_depth_bomb(6), None, {"role": Role.WINDOW_STAFF}),
        ("{ " + " ".join(f"a{i}: approvalGuide {{ name }}" for i in range(50)) + " }", None, {"role": None}),
        ('{ matters(after: "bm90LWEtY3Vyc29y") { totalCount } }', None, {"role": Role.WINDOW_STAFF}),
    ]  # fmt: skip
    await real_hub.reset_stats()
    for query, variables, claims in cases:
        body = await ask(real_hub, query, variables, **dict(claims))
        assert body.get("errors"), (query, body)
        assert all(e.get("message") for e in body["errors"])
    assert sum((await real_hub.upstream_calls()).values()) == 0
    async with real_hub.services.registry.sessionmaker() as session:
        assert (await session.execute(select(access_log))).all() == []
