"""Work kept with a parsed document (schema/documents.py) answers as if done for each request.

The hub's parser cache hands the same text the same parsed document, so these
run each document several times over the real schema: what is kept must still
follow what changes between requests (variables, the fields merged at a
position), and a refusal must stay a refusal.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from fixtures.world import World
from registry import access_log as log
from schema.documents import DocumentMemo
from tests.schema.conftest import Hub


async def refused(hub: Hub, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    """A refused document's answer (HTTP 400 in the GraphQL response media type)."""
    response = await hub.post(query, variables, **kw)
    assert response.status_code == 400, response.text
    body: dict[str, Any] = response.json()
    return body


async def _fields_logged(hub: Hub) -> list[str]:
    async with hub.services.registry.sessionmaker() as session:
        rows = (await session.execute(select(log.access_log.c.fields).order_by(log.access_log.c.id))).all()
    return [row.fields for row in rows]


async def test_the_fields_logged_follow_the_fields_merged_this_time(hub: Hub, world: World) -> None:
    """The same position may merge more fields when a variable includes them."""
    code = sorted(world.projects)[0]
    query = (
        "query Q($code: String!, $more: Boolean!) { matter(projectCode: $code) { name } "
        "matter(projectCode: $code) @include(if: $more) { site } }"
    )
    for more in (False, True, False):
        body = await hub.query(query, {"code": code, "more": more})
        assert "errors" not in body, body
        assert ("site" in body["data"]["matter"]) is more
    assert await _fields_logged(hub) == ['["name"]', '["name","site"]', '["name"]']


async def test_a_refused_document_is_refused_every_time(hub: Hub) -> None:
    repeated = "{ " + "approvalGuide { code } " * 12 + "}"
    unknown = "{ approvalGuide { code noSuchField } }"
    for _ in range(3):
        too_many = await refused(hub, repeated)
        assert too_many["errors"][0]["extensions"] == {"code": "QUERY_TOO_COMPLEX", "limit": 10}
        invalid = await refused(hub, unknown)
        assert "noSuchField" in invalid["errors"][0]["message"]
        assert invalid.get("data") is None


async def test_a_page_set_by_a_variable_is_costed_each_time(make_hub: Any) -> None:
    hub: Hub = await make_hub(limits={"max_cost": 100})
    query = "query P($n: Int) { matters(first: $n) { edges { node { projectCode name } } } }"
    small = await hub.query(query, {"n": 3})
    assert "errors" not in small, small
    large = await refused(hub, query, {"n": 100})
    assert large["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    again = await hub.query(query, {"n": 3})
    assert "errors" not in again, again


async def test_an_anonymous_caller_is_refused_each_time(hub: Hub) -> None:
    for _ in range(2):
        body = await refused(hub, "{ matters(first: 1) { totalCount } }", role=None)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    public = await hub.query("{ approvalGuide { code } }", role=None)
    assert "errors" not in public


def test_the_memo_goes_by_identity_and_stays_bounded() -> None:
    from graphql import parse

    memo = DocumentMemo(maxsize=2)
    text = "{ a }"
    first, twin = parse(text), parse(text)  # equal content, two documents
    assert memo.get(first, "k", lambda: 1) == 1
    assert memo.get(first, "k", lambda: 2) == 1
    assert memo.get(twin, "k", lambda: 3) == 3
    others = [parse(text) for _ in range(3)]
    for i, other in enumerate(others):
        memo.get(other, "k", lambda i=i: i)  # type: ignore[misc]
    assert len(memo) == 2
    assert memo.get(first, "k", lambda: 4) == 4  # evicted: worked out again
