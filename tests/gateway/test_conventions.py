"""What routers and operators expect of /graphql: APQ, Cache-Control, gzip, CORS headers.

The real app in-process (toy schema, prebuilt services with a memory cache);
the two-replica APQ check over Redis is in tests/ops/test_replicas.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiocache import SimpleMemoryCache

from gateway.app import create_app
from gateway.config import Settings
from tests.gateway.conftest import toy_schema, toy_services

QUERY = '{ hello(name: "apq") }'
HASH = hashlib.sha256(QUERY.encode()).hexdigest()


def _apq(sha: str = HASH) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha}}


async def _client(settings: Settings, *, guarded: bool = False) -> AsyncIterator[httpx.AsyncClient]:
    services = toy_services(settings)
    services.cache = SimpleMemoryCache()
    schema = toy_schema()
    if guarded:  # the hub's own extensions (trusted documents, limits) around the toy schema
        import strawberry

        from gateway.security import extensions
        from tests.gateway.conftest import Mutation, Query

        schema = strawberry.federation.Schema(query=Query, mutation=Mutation, extensions=extensions(settings))
    app = create_app(settings, services=services, schema=schema)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            yield client


@pytest.fixture
async def hub() -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(Settings()):
        yield client


async def test_apq_round_trip(hub: httpx.AsyncClient) -> None:
    # 1. hash only: not known yet
    first = await hub.post("/graphql", json={"extensions": _apq()})
    assert first.status_code == 200
    assert first.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert first.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    # 2. hash and query: runs and is stored
    second = await hub.post("/graphql", json={"query": QUERY, "extensions": _apq()})
    assert second.json() == {"data": {"hello": "hello apq"}}
    # 3. hash only, POST and GET: runs the stored document
    third = await hub.post("/graphql", json={"extensions": _apq()})
    assert third.json() == {"data": {"hello": "hello apq"}}
    fourth = await hub.get("/graphql", params={"extensions": json.dumps(_apq())})
    assert fourth.json() == {"data": {"hello": "hello apq"}}


@pytest.mark.parametrize(
    ("extensions", "status", "code"),
    [
        (_apq("0" * 64), 400, "PERSISTED_QUERY_HASH_MISMATCH"),
        (_apq("not-a-hash"), 400, "PERSISTED_QUERY_INVALID"),
        ({"persistedQuery": {"version": 2, "sha256Hash": HASH}}, 400, "PERSISTED_QUERY_NOT_SUPPORTED"),
    ],
    ids=["mismatch", "bad-hash", "version"],
)
async def test_bad_apq_requests(hub: httpx.AsyncClient, extensions: Any, status: int, code: str) -> None:
    response = await hub.post("/graphql", json={"query": QUERY, "extensions": extensions})
    assert response.status_code == status
    assert response.json()["errors"][0]["extensions"]["code"] == code
    # nothing was stored under the mismatched hash
    again = await hub.post("/graphql", json={"extensions": _apq("0" * 64)})
    assert again.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_every_graphql_answer_says_private_no_store(hub: httpx.AsyncClient) -> None:
    answers = [
        await hub.post("/graphql", json={"query": QUERY}),
        await hub.post("/graphql", json={"query": "{ nope }"}),  # validation error
        await hub.post("/graphql", content=b"{", headers={"Content-Type": "application/json"}),  # 400
        await hub.get("/graphql", params={"query": "mutation { bump }"}),  # 405
        await hub.post("/graphql", json={"extensions": _apq("1" * 64)}),  # APQ miss
        await hub.put("/graphql", json={"query": QUERY}),  # 405
        await hub.post("/graphql", json={"query": QUERY}, headers={"Authorization": "Bearer junk"}),  # 401
    ]
    for answer in answers:
        assert answer.headers["cache-control"] in ("private, no-store", "no-store"), answer
    assert answers[0].headers["cache-control"] == "private, no-store"


async def test_big_answers_are_gzipped_small_ones_not(hub: httpx.AsyncClient) -> None:
    big = await hub.post(
        "/graphql", json={"query": f'{{ hello(name: "{"x" * 4000}") }}'}, headers={"Accept-Encoding": "gzip"}
    )
    assert big.headers["content-encoding"] == "gzip"
    assert big.json()["data"]["hello"] == "hello " + "x" * 4000  # httpx decodes it
    assert int(big.headers["content-length"]) < 4000
    small = await hub.post("/graphql", json={"query": QUERY}, headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers
    plain = await hub.post(
        "/graphql",
        json={"query": f'{{ hello(name: "{"x" * 4000}") }}'},
        headers={"Accept-Encoding": "identity"},
    )
    assert "content-encoding" not in plain.headers


async def test_apq_off_in_trusted_documents_mode(tmp_path: Any) -> None:
    manifest = tmp_path / "documents.json"
    manifest.write_text(json.dumps({HASH: QUERY}))
    settings = Settings(limits={"trusted_documents": str(manifest), "public_fields": ["hello"]})
    async for client in _client(settings, guarded=True):
        # the manifest's document by hash: the trusted-documents extension answers, not APQ
        known = await client.post("/graphql", json={"extensions": _apq()})
        assert known.json() == {"data": {"hello": "hello apq"}}
        other = '{ hello(name: "other") }'
        sha = hashlib.sha256(other.encode()).hexdigest()
        refused = await client.post("/graphql", json={"query": other, "extensions": _apq(sha)})
        assert refused.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"


async def test_cors_headers_can_be_extended() -> None:
    settings = Settings(
        limits={
            "cors": {
                "allow_origins": ["https://portal.zone"],
                "allow_headers": ["X-Portal-Screen"],
                "expose_headers": ["X-Hub-Version"],
            }
        }
    )
    async for client in _client(settings):
        preflight = await client.options(
            "/graphql",
            headers={
                "Origin": "https://portal.zone",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, x-portal-screen, traceparent",
            },
        )
        assert preflight.status_code == 200
        allowed = {h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")}
        assert {"authorization", "x-portal-screen", "traceparent"} <= allowed
        answer = await client.post(
            "/graphql", json={"query": QUERY}, headers={"Origin": "https://portal.zone"}
        )
        assert "x-hub-version" in answer.headers["access-control-expose-headers"].lower()


ROUTER_SECRET = "router-secret-router-secret-0123456789"


async def test_trusted_documents_let_the_router_run_its_own_queries(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONEMATTER_ROUTER_SECRET", ROUTER_SECRET)
    manifest = tmp_path / "documents.json"
    manifest.write_text(json.dumps({HASH: QUERY}))
    limits = {
        "trusted_documents": str(manifest),
        "router_secret_env": "ONEMATTER_ROUTER_SECRET",
        "public_fields": ["hello", "_service"],
    }
    generated = '{ hello(name: "from the router") }'  # not in the manifest
    async for client in _client(Settings(limits=limits), guarded=True):
        refused = await client.post("/graphql", json={"query": generated})
        assert refused.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"
        wrong = await client.post(
            "/graphql", json={"query": generated}, headers={"X-OneMatter-Router": "x" * len(ROUTER_SECRET)}
        )
        assert wrong.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"
        routed = await client.post(
            "/graphql", json={"query": generated}, headers={"X-OneMatter-Router": ROUTER_SECRET}
        )
        assert routed.json() == {"data": {"hello": "hello from the router"}}
        sdl = await client.post(
            "/graphql", json={"query": "{ _service { sdl } }"}, headers={"X-OneMatter-Router": ROUTER_SECRET}
        )
        assert "hello" in sdl.json()["data"]["_service"]["sdl"]


def test_a_short_router_secret_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from domain.errors import ConfigError
    from gateway.security import extensions

    monkeypatch.setenv("ONEMATTER_ROUTER_SECRET", "short")
    manifest = tmp_path / "documents.json"
    manifest.write_text(json.dumps({HASH: QUERY}))
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        extensions(
            Settings(
                limits={"trusted_documents": str(manifest), "router_secret_env": "ONEMATTER_ROUTER_SECRET"}
            )
        )
