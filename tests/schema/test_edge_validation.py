"""Edge validation (DESIGN rule 4): bad identifiers are refused before any department is called."""

from __future__ import annotations

import pytest

from domain.identifiers import credit_check_char
from fixtures.world import World
from tests.schema.conftest import Hub

GOOD_PREFIX = "91430400MA4L0000"  # 16 characters; a 17th and the check make a code


def wrong_check(code17: str) -> str:
    good = credit_check_char(code17)
    return code17 + ("1" if good != "1" else "2")


CASES = [
    # (query, variables, argument, words the rule must contain)
    (
        "query ($v: String!) { matter(projectCode: $v) { name } }",
        {"v": "2023-43047-47-03-012345"},
        "projectCode",
        "YYYY-DDDDDD",
    ),
    (
        "query ($v: String!) { matter(projectCode: $v) { name } }",
        {"v": "2023-110100-47-03-012345"},
        "projectCode",
        "Hunan",
    ),
    (
        "query ($v: String!) { matter(projectCode: $v) { name } }",
        {"v": "2023-430472-47-03-012345'--"},
        "projectCode",
        "YYYY-DDDDDD",
    ),
    (
        "query ($v: String!) { enterprise(creditCode: $v) { name } }",
        {"v": "91350200776049653"},
        "creditCode",
        "18 characters",
    ),
    (
        "query ($v: String!) { enterprise(creditCode: $v) { name } }",
        {"v": "91350200776049653O"},
        "creditCode",
        "alphabet",
    ),
    (
        "query ($v: String!) { enterprise(creditCode: $v) { name } }",
        {"v": wrong_check(GOOD_PREFIX + "1")},
        "creditCode",
        "check character",
    ),
    (
        "query ($v: String!) { matters(filter: {creditCode: $v}) { totalCount } }",
        {"v": wrong_check(GOOD_PREFIX + "2")},
        "filter.creditCode",
        "check character",
    ),
    ('{ matters(filter: {department: "environment"}) { totalCount } }', {}, "filter.department", "one of"),
    ("{ matters(first: 1000) { totalCount } }", {}, "first", "between 0 and 100"),
    ("{ matters(first: -1) { totalCount } }", {}, "first", "between 0 and 100"),
    ('{ matters(after: "bm90LWEtY3Vyc29y") { totalCount } }', {}, "after", "cursor"),
    (
        "query ($v: _Any!) { _entities(representations: [$v]) { ... on Matter { name } } }",
        {"v": {"__typename": "Matter", "projectCode": "not-a-code"}},
        "projectCode",
        "YYYY-DDDDDD",
    ),
]


@pytest.mark.parametrize(("query", "variables", "argument", "rule"), CASES)
async def test_bad_input_is_refused_without_calling_departments(
    hub: Hub, query: str, variables: dict[str, object], argument: str, rule: str
) -> None:
    await hub.reset_stats()
    response = await hub.post(query, variables)
    assert response.status_code == 200
    body = response.json()
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == argument
    assert rule in error["extensions"]["rule"]
    assert argument in error["message"]
    assert sum((await hub.upstream_calls()).values()) == 0


async def test_valid_codes_pass_the_edge(hub: Hub, world: World) -> None:
    project = world.projects[sorted(world.projects)[0]]
    body = await hub.query(
        "query ($p: String!, $c: String!) { matter(projectCode: $p) { projectCode } "
        "enterprise(creditCode: $c) { creditCode name } }",
        {"p": project.code, "c": project.enterprise_code},
    )
    assert "errors" not in body
    assert body["data"]["matter"]["projectCode"] == project.code
    assert body["data"]["enterprise"]["creditCode"] == project.enterprise_code


async def test_an_unmasked_internal_error_never_leaks(hub: Hub) -> None:
    # A mistyped argument is a validation error from GraphQL itself, reported as such.
    response = await hub.post("{ matter(projectCode: 12) { name } }")
    assert response.status_code in (200, 400)
    assert "Traceback" not in response.text
