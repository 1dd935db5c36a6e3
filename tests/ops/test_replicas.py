"""Two hub replicas sharing Redis and PostgreSQL, as real ``onematter serve`` processes.

Needs ONEMATTER_TEST_REDIS_URL and ONEMATTER_TEST_DATABASE_URL (``.ci/run`` sets
both). The replicas get their own PostgreSQL database and Redis key namespace,
both removed afterwards, and point at one set of department systems running on
loopback ports in this test process (in a background thread, so the
synchronous HTTP calls below never block them).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from connectors.discovery import available
from fixtures.world import World
from gateway.config import Settings
from gateway.embedded import FIXTURE_DEPARTMENTS, EmbeddedDepartments, embed_environment, start_embedded
from tests.conftest import AS_OF, PROJECTS, SEED
from tests.gateway.hub import RunningHub
from tests.ops.conftest import MATTER, complete_project, value

PG_ENV = "ONEMATTER_TEST_DATABASE_URL"
REDIS_ENV = "ONEMATTER_TEST_REDIS_URL"
# Department paths that are not lookups. An OAuth2 token is a per-process credential
# (real estate), never shared through the cache, so each replica fetches its own.
NOT_LOOKUPS = ("health", "openapi", "wsdl", "token")

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@dataclass
class Shared:
    database_url: str
    redis_url: str
    namespace: str


def _urls() -> tuple[str, str]:
    database_url, redis_url = os.environ.get(PG_ENV), os.environ.get(REDIS_ENV)
    if not database_url or not redis_url:
        pytest.skip(f"{PG_ENV} and {REDIS_ENV} must both be set: the two-replica test is skipped")
    return database_url, redis_url


async def _create_database(admin_url: str, name: str) -> str:
    import asyncpg
    from sqlalchemy.engine import make_url

    from registry.seed import seed
    from registry.store import Registry

    url = make_url(admin_url).set(drivername="postgresql")
    connection = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    except asyncpg.InsufficientPrivilegeError:
        pytest.skip("the test database user may not CREATE DATABASE: the two-replica test is skipped")
    finally:
        await connection.close()
    database_url = url.set(database=name).render_as_string(hide_password=False)
    async with await Registry.open(database_url) as registry:
        await seed(registry)  # the report's ledger: departments, systems, 346 items
    return database_url


async def _drop_database(admin_url: str, name: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(admin_url).set(drivername="postgresql")
    connection = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def _drop_keys(redis_url: str, namespace: str) -> int:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{namespace}*", count=500)]
        if keys:
            await client.delete(*keys)
        return len(keys)
    finally:
        await client.aclose()


@pytest.fixture(scope="module")
def shared() -> Iterator[Shared]:
    """A fresh, seeded PostgreSQL database and a Redis namespace, removed afterwards."""
    admin_url, redis_url = _urls()
    suffix = uuid.uuid4().hex[:10]
    name = f"onematter_replicas_{suffix}"
    database_url = asyncio.run(_create_database(admin_url, name))
    namespace = f"onematter-replicas-{suffix}"
    try:
        yield Shared(database_url=database_url, redis_url=redis_url, namespace=namespace)
    finally:
        asyncio.run(_drop_keys(redis_url, namespace))
        asyncio.run(_drop_database(admin_url, name))


@pytest.fixture(scope="module")
def departments() -> Iterator[EmbeddedDepartments]:
    """The five department systems over the tests' world, in a background thread."""
    running = start_embedded(list(FIXTURE_DEPARTMENTS), seed=SEED, projects=PROJECTS, as_of=AS_OF)
    try:
        yield running
    finally:
        running.stop()


def replica_env(shared: Shared, departments: EmbeddedDepartments) -> dict[str, str]:
    env = {
        "ONEMATTER__HUB__EMBEDDED": "false",
        "ONEMATTER__REGISTRY__DATABASE_URL": shared.database_url,
        "ONEMATTER__CACHE__BACKEND": "redis",
        "ONEMATTER__CACHE__REDIS_URL": shared.redis_url,
        "ONEMATTER__CACHE__NAMESPACE": shared.namespace,
        "ONEMATTER_UTILITIES_API_KEY": "demo-utilities-key",
        "ONEMATTER_REAL_ESTATE_CLIENT_ID": "onematter-hub",
        "ONEMATTER_REAL_ESTATE_CLIENT_SECRET": "demo-secret",
        **embed_environment(Settings(), departments.urls, departments.as_of),
    }
    for name in FIXTURE_DEPARTMENTS:  # fresh long enough for a slow CI machine
        env[f"ONEMATTER__CONNECTORS__{name.upper()}__CACHE__TTL_S"] = "600"
    for name in available():  # connectors installed beyond the five stay off
        if name not in FIXTURE_DEPARTMENTS:
            env[f"ONEMATTER__CONNECTORS__{name.upper()}__ENABLED"] = "false"
    return env


@pytest.fixture(scope="module")
def replicas(
    shared: Shared, departments: EmbeddedDepartments, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningHub, RunningHub]]:
    """Replica A with two workers, replica B with one, on their own loopback ports."""
    env = replica_env(shared, departments)
    with (
        RunningHub.start(tmp_path_factory.mktemp("replica-a"), workers=2, extra_env=env) as a,
        RunningHub.start(tmp_path_factory.mktemp("replica-b"), workers=1, extra_env=env) as b,
    ):
        yield a, b


def admin(departments: EmbeddedDepartments, name: str, method: str, path: str) -> Any:
    response = httpx.request(method, f"{departments.urls[name]}/_admin/{path}", timeout=10)
    response.raise_for_status()
    return response.json()


def lookups(departments: EmbeddedDepartments) -> dict[str, int]:
    """Lookups each department served since its last reset."""
    counts = {}
    for name in departments.urls:
        paths = admin(departments, name, "GET", "stats")["paths"]
        counts[name] = sum(n for path, n in paths.items() if not any(w in path for w in NOT_LOOKUPS))
    return counts


def test_a_matter_fetched_through_one_replica_is_served_by_the_other_from_the_cache(
    replicas: tuple[RunningHub, RunningHub], departments: EmbeddedDepartments, world: World, shared: Shared
) -> None:
    a, b = replicas
    code = complete_project(world)
    # The replicas' matter indexes, built at startup, warmed the shared cache: start cold.
    asyncio.run(_drop_keys(shared.redis_url, shared.namespace))
    for name in departments.urls:
        admin(departments, name, "POST", "reset")

    through_a = a.query(MATTER, {"code": code})
    assert "errors" not in through_a, through_a["errors"]
    assert through_a["data"]["matter"]["projectCode"] == code
    called = lookups(departments)
    assert all(called[name] >= 1 for name in FIXTURE_DEPARTMENTS), called

    for name in departments.urls:
        admin(departments, name, "POST", "reset")
    through_b = b.query(MATTER, {"code": code})
    assert "errors" not in through_b, through_b["errors"]
    assert lookups(departments) == dict.fromkeys(departments.urls, 0)
    assert through_b["data"] == through_a["data"]


def test_registry_writes_through_both_replicas_stay_consistent(
    replicas: tuple[RunningHub, RunningHub],
) -> None:
    a, b = replicas
    run = uuid.uuid4().hex[:8]
    assign = """
      mutation ($holder: String!, $key: String!) {
        assignAccount(departmentCode: "JSJ", systemCode: "GCJS", holder: $holder, role: "审批",
                      idempotencyKey: $key) { id holder }
      }
    """

    def write(hub: RunningHub, holder: str, key: str) -> dict[str, Any]:
        body = hub.query(assign, {"holder": holder, "key": key}, role="ADMIN")
        assert "errors" not in body, body["errors"]
        account: dict[str, Any] = body["data"]["assignAccount"]
        return account

    # Interleaved writes through both replicas at once, plus one request retried on the
    # other replica with the same idempotency key (a balancer's retry): recorded once.
    jobs = [
        (hub, f"{run}-{hub_name}-{i}", f"{run}-{hub_name}-{i}")
        for i in range(6)
        for hub_name, hub in (("a", a), ("b", b))
    ]
    jobs += [(a, f"{run}-retried", f"{run}-retried"), (b, f"{run}-retried", f"{run}-retried")]
    with ThreadPoolExecutor(max_workers=8) as pool:
        written = list(pool.map(lambda job: write(*job), jobs))

    retried = {w["id"] for w in written if w["holder"] == f"{run}-retried"}
    assert len(retried) == 1
    listing = 'query { accounts(departmentCode: "JSJ") { id holder } }'
    seen_a = a.query(listing, role="AUDITOR")["data"]["accounts"]
    seen_b = b.query(listing, role="AUDITOR")["data"]["accounts"]
    assert seen_a == seen_b
    # Every write is there once, whichever replica took it (holders may be masked for readers).
    ids = {w["id"] for w in written}
    assert len(ids) == len({holder for _, holder, _ in jobs})
    assert ids <= {acc["id"] for acc in seen_a}


def test_replicas_log_json_and_share_one_metrics_view_per_replica(
    replicas: tuple[RunningHub, RunningHub], world: World
) -> None:
    a, _ = replicas
    code = complete_project(world)
    before = httpx.get(f"{a.url}/metrics", timeout=10).text
    for _ in range(4):  # spread over replica A's two workers
        a.query(MATTER, {"code": code})
    after = httpx.get(f"{a.url}/metrics", timeout=10).text
    name = "onematter_request_duration_seconds_count"
    moved = value(after, name, operation="Matter") - value(before, name, operation="Matter")
    assert moved == 4  # every worker's requests, whichever worker answered the scrape

    ready = httpx.get(f"{a.url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"registry": "ok", "cache": "ok", "index": "ok"}

    started = [line for line in a.lines if "Application startup complete" in line]
    assert len(started) == 2
    for line in started:
        entry = json.loads(line)
        assert entry["level"] == "info" and entry["msg"] == "Application startup complete."


def test_apq_documents_are_shared_by_the_replicas(replicas: tuple[RunningHub, RunningHub]) -> None:
    import hashlib

    a, b = replicas
    query = f"query Apq{uuid.uuid4().hex[:8]} {{ __typename }}"
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(query.encode()).hexdigest()}}
    missing = b.post({"extensions": extensions}, role="WINDOW_STAFF")
    assert missing.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    stored = a.post({"query": query, "extensions": extensions}, role="WINDOW_STAFF")
    assert stored.json() == {"data": {"__typename": "Query"}}
    # Stored through A (in Redis), run by hash alone through B.
    assert b.post({"extensions": extensions}, role="WINDOW_STAFF").json() == {"data": {"__typename": "Query"}}
