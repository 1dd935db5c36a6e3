"""The warm path in front of GraphQL: hits answered without execution, logged, within scope.

The hub runs in-process over the loopback departments (tests/ops/test_response_cache.py's
``make``); GraphQL execution is counted on the app's schema, so a test can tell a hit
answered before Strawberry from one that went through it.
"""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import select

from domain.principal import Role
from fixtures.world import World
from gateway.auth import AuthenticationError, authenticator_for
from gateway.config import Settings
from gateway.services import Services
from registry import access_log as log
from tests.ops.conftest import MATTER, complete_project, value
from tests.ops.test_response_cache import bearer, make

__all__ = ["make"]


class Executions:
    """Counts the GraphQL executions of an app's schema."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, client: httpx.AsyncClient) -> None:
        transport = client._transport
        assert isinstance(transport, httpx.ASGITransport)
        schema = transport.app.state.schema  # type: ignore[attr-defined]
        self.count = 0
        original = schema.execute

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return await original(*args, **kwargs)

        monkeypatch.setattr(schema, "execute", counted)


async def entries(services: Services) -> list[Any]:
    async with services.registry.sessionmaker() as session:
        return list((await session.execute(select(log.access_log).order_by(log.access_log.c.id))).all())


async def post(
    client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str], request_id: str
) -> httpx.Response:
    return await client.post("/graphql", json=body, headers={**headers, "X-Request-Id": request_id})


async def counted(client: httpx.AsyncClient, operation: str = "Matter") -> float:
    """Requests the metrics have counted under ``operation`` so far (the registry is global)."""
    text = (await client.get("/metrics")).text
    return value(text, "onematter_request_duration_seconds_count", operation=operation)


def matter(code: str) -> dict[str, Any]:
    return {"query": MATTER, "variables": {"code": code}}


async def test_a_hit_skips_execution_and_its_entry_is_in_the_log_when_the_answer_arrives(
    make: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, services, settings = await make()
    executions = Executions(monkeypatch, client)
    code = complete_project(world)
    staff = bearer(settings, Role.WINDOW_STAFF, "staff-1")
    first = await post(client, matter(code), staff, "warm-1")
    assert executions.count == 1
    named = await counted(client)
    second = await post(client, matter(code), {**staff, "X-Case-Number": "HY-2026-110-000777"}, "warm-2")
    assert executions.count == 1  # answered in front of GraphQL
    # The same answer as executing it, byte for byte, with the same status and media type.
    assert second.status_code == first.status_code == 200
    assert second.content == first.content and "errors" not in second.json()
    assert second.headers["x-request-id"] == "warm-2"
    varying = {"x-request-id", "date"}
    assert {k: v for k, v in second.headers.items() if k not in varying} == {
        k: v for k, v in first.headers.items() if k not in varying
    }
    # Read right after the response: the hit's entry is already durable.
    rows = await entries(services)
    hit = [r for r in rows if r.request_id == "warm-2"]
    assert [(r.principal, r.role, r.kind, r.object_id, r.purpose) for r in hit] == [
        ("staff-1", "WINDOW_STAFF", "matter", code, "HY-2026-110-000777")
    ]
    executed = next(r for r in rows if r.request_id == "warm-1")
    assert hit[0].fields == executed.fields and hit[0].request_hash == executed.request_hash
    async with services.registry.sessionmaker() as session:
        assert await log.verify(session) is None
    # Counted under the operation's name, like the executed one.
    assert await counted(client) == named + 1


async def test_a_hit_never_crosses_principals_or_roles(
    make: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _services, settings = await make()
    executions = Executions(monkeypatch, client)
    project = world.projects[complete_project(world)]
    body = matter(project.code)
    await post(client, body, bearer(settings, Role.WINDOW_STAFF, "staff"), "s-1")
    assert executions.count == 1
    # Other window staff share the role's entry ...
    await post(client, body, bearer(settings, Role.WINDOW_STAFF, "staff-2"), "s-2")
    assert executions.count == 1
    # ... but no other role or principal is answered from it.
    owner = bearer(settings, Role.ENTERPRISE, "owner", credit_code=project.enterprise_code)
    agent = bearer(settings, Role.AGENT, "agent", projects=[project.code])
    another = next(c for c in sorted(world.projects) if c != project.code)
    other_agent = bearer(settings, Role.AGENT, "agent", projects=[project.code, another])
    seen = executions.count
    for i, headers in enumerate((owner, agent, other_agent)):
        assert (await post(client, body, headers, f"x-{i}")).status_code == 200
        assert executions.count == seen + 1, f"caller {i} was served another scope's entry"
        seen = executions.count
        await post(client, body, headers, f"y-{i}")  # its own entry, once filled
        assert executions.count == seen
    other = next(e for e in world.enterprises if e != project.enterprise_code)
    refused = await post(
        client, body, bearer(settings, Role.ENTERPRISE, "owner", credit_code=other), "x-other"
    )
    assert refused.json() == {"data": {"matter": None}}  # as for an unknown code: not the owner's answer
    # Never cached at all, even for an answer without errors that window staff would
    # share: auditors, integrators and anonymous callers execute every time.
    plain = {"query": "query Plain { __typename }"}
    await post(client, plain, bearer(settings, Role.WINDOW_STAFF, "staff"), "p-0")
    seen = executions.count
    for caller in (Role.AUDITOR, Role.INTEGRATOR, None):
        headers = bearer(settings, caller, f"{caller.value.lower()}-1") if caller else {}
        for n in range(2):
            answer = await post(client, plain, headers, f"{caller}-{n}")
            assert answer.json() == {"data": {"__typename": "Query"}}
        assert executions.count == seen + 2, f"{caller} was answered from the cache"
        seen = executions.count


async def test_variables_operation_and_document_are_part_of_the_key(
    make: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _services, settings = await make()
    executions = Executions(monkeypatch, client)
    codes = sorted(world.projects)[:2]
    staff = bearer(settings, Role.WINDOW_STAFF, "staff")
    await post(client, matter(codes[0]), staff, "k-1")
    await post(client, matter(codes[1]), staff, "k-2")  # other variables: executed
    assert executions.count == 2
    # Naming the document's one operation is the same request: a hit.
    await post(client, {**matter(codes[0]), "operationName": "Matter"}, staff, "k-3")
    assert executions.count == 2
    await post(client, {**matter(codes[0]), "operationName": "Other"}, staff, "k-4")  # no such operation
    await post(client, {**matter(codes[0]), "query": MATTER + " "}, staff, "k-5")  # other text
    assert executions.count == 4
    # A caller asking for an event stream gets the view's stream, not the cached JSON.
    streamed = await post(client, matter(codes[0]), {**staff, "Accept": "text/event-stream"}, "k-6")
    assert streamed.headers["content-type"].startswith("text/event-stream")


async def test_a_persisted_query_hash_is_answered_and_a_mismatch_is_not(
    make: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _services, settings = await make()
    executions = Executions(monkeypatch, client)
    code = complete_project(world)
    staff = bearer(settings, Role.WINDOW_STAFF, "staff")
    first = await post(client, matter(code), staff, "h-1")
    digest = hashlib.sha256(MATTER.encode()).hexdigest()
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    by_hash = await post(client, {"variables": {"code": code}, "extensions": persisted}, staff, "h-2")
    assert executions.count == 1 and by_hash.content == first.content
    # What the view refuses is refused, not answered from the cache.
    wrong = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
    mismatch = await post(client, {**matter(code), "extensions": wrong}, staff, "h-3")
    assert mismatch.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"
    unknown = {"persistedQuery": {"version": 2, "sha256Hash": digest}}
    other = await post(client, {"variables": {"code": code}, "extensions": unknown}, staff, "h-4")
    assert other.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_SUPPORTED"
    assert executions.count == 1


async def test_no_log_no_data_on_a_hit(make: Any, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    client, services, settings = await make()
    code = complete_project(world)
    staff = bearer(settings, Role.WINDOW_STAFF, "staff")
    await post(client, matter(code), staff, "n-1")
    before = len(await entries(services))

    async def broken(self: Any, reads: Any) -> list[str]:
        raise OSError("disk full")

    monkeypatch.setattr(log.AccessLog, "write", broken)
    answer = (await post(client, matter(code), staff, "n-2")).json()
    assert answer["data"] is None
    assert answer["errors"][0]["extensions"]["code"] == "ACCESS_LOG_UNAVAILABLE"
    monkeypatch.undo()
    assert len(await entries(services)) == before


def test_a_verified_token_is_remembered_until_it_expires() -> None:
    authenticator = authenticator_for(Settings())
    token = authenticator.mint(subject="portal", role=Role.WINDOW_STAFF, ttl_s=60)
    first = authenticator.verify(token)
    assert authenticator.verify(token) is first  # not verified again
    # Its exp, for a subscription's end, comes from the same memo (and the token if let go).
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    assert authenticator.expires_at(f"Bearer {token}") == exp
    authenticator._verified.clear()
    assert authenticator.expires_at(f"Bearer {token}") == exp
    assert authenticator.expires_at(None) is None
    first = authenticator.verify(token)
    clock, now = authenticator.clock, authenticator.clock()
    authenticator.clock = lambda: now + 60 + authenticator.config.leeway_s + 1
    try:
        with pytest.raises(AuthenticationError, match="expired"):
            authenticator.verify(token)
    finally:
        authenticator.clock = clock
    with pytest.raises(AuthenticationError):
        authenticator.verify(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))  # never remembered


@pytest.mark.parametrize("accept_encoding", ["gzip, deflate", "identity"])
async def test_a_hit_is_encoded_as_the_view_encodes_it(
    make: Any, world: World, monkeypatch: pytest.MonkeyPatch, accept_encoding: str
) -> None:
    # The hit sends its entry gzipped once compressed (not compressed again per answer);
    # what arrives, and how it is labelled, is what the view's answer through the gzip
    # middleware was.
    client, _services, settings = await make()
    executions = Executions(monkeypatch, client)
    staff = {**bearer(settings, Role.WINDOW_STAFF, "staff-1"), "Accept-Encoding": accept_encoding}
    body = matter(complete_project(world))
    answers = [await post(client, body, staff, f"enc-{i}") for i in range(3)]
    assert executions.count == 1  # the second and third were hits
    first, *hits = answers
    assert len(first.content) >= 1_024  # big enough for the gzip middleware's default threshold
    for hit in hits:
        assert hit.content == first.content
        for name in ("content-encoding", "vary", "content-type"):
            assert hit.headers.get(name) == first.headers.get(name), name
        sent = int(hit.headers["content-length"])
        assert sent == int(first.headers["content-length"])
    if accept_encoding.startswith("gzip"):
        assert first.headers["content-encoding"] == "gzip"
        assert sent < len(first.content)  # compressed on the wire
    else:
        assert "content-encoding" not in first.headers and sent == len(first.content)
