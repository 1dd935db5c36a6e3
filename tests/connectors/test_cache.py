"""build_cache: memory by default, Redis when configured, shared by replicas."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiocache import SimpleMemoryCache

from connectors.cache import CacheConfigError, build_cache
from connectors.pipeline import CallPipeline
from connectors.settings import ConnectorSettings
from connectors.testing import FakeClock
from domain.records import DepartmentView
from gateway.config import CacheBackendSettings

REDIS_URL = os.environ.get("ONEMATTER_TEST_REDIS_URL")


def test_memory_is_the_default() -> None:
    cache = build_cache(CacheBackendSettings())
    assert isinstance(cache, SimpleMemoryCache)
    assert cache.namespace == "onematter"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (None, "redis_url is not set"),
        ("http://127.0.0.1:6379", "must start with redis://"),
        ("redis://127.0.0.1:notaport/0", "invalid port"),
        ("redis://127.0.0.1:6379/zero", "numeric database"),
    ],
)
def test_bad_redis_settings_are_named(url: str | None, problem: str) -> None:
    with pytest.raises(CacheConfigError, match=problem):
        build_cache(CacheBackendSettings(backend="redis", redis_url=url))


def test_a_redis_password_never_shows_in_an_error() -> None:
    with pytest.raises(CacheConfigError) as caught:
        build_cache(CacheBackendSettings(backend="redis", redis_url="redis://:s3cret-pw@127.0.0.1:6379/x"))
    assert "s3cret-pw" not in str(caught.value)


async def test_two_pipelines_share_a_memory_cache() -> None:
    cache = build_cache(CacheBackendSettings())
    calls = 0

    async def fetch() -> DepartmentView:
        nonlocal calls
        calls += 1
        return DepartmentView(department="planning", project_code="P1")

    first = CallPipeline("planning", ConnectorSettings(), cache)
    second = CallPipeline("planning", ConnectorSettings(), cache)
    await first.call("project", "P1", fetch)
    assert (await second.call("project", "P1", fetch)).value == DepartmentView("planning", "P1")
    assert calls == 1


@pytest.fixture
async def redis_settings() -> AsyncIterator[Any]:
    if not REDIS_URL:
        pytest.skip("ONEMATTER_TEST_REDIS_URL is not set: no Redis to test the shared cache against")
    settings = CacheBackendSettings(
        backend="redis", redis_url=REDIS_URL, namespace=f"test-{uuid.uuid4().hex}"
    )
    yield settings
    cache = build_cache(settings)
    await cache.clear(namespace=settings.namespace)  # only our keys
    await cache.close()


@pytest.mark.redis
async def test_redis_cache_is_shared_by_replicas(redis_settings: Any) -> None:
    """Two "replicas" (two caches, two pipelines) on one Redis: the second never calls upstream."""
    replica_a, replica_b = build_cache(redis_settings), build_cache(redis_settings)
    clock = FakeClock()
    calls = 0

    async def fetch() -> DepartmentView:
        nonlocal calls
        calls += 1
        return DepartmentView(department="fire", project_code="P1")

    try:
        a = CallPipeline("fire", ConnectorSettings(), replica_a)
        b = CallPipeline("fire", ConnectorSettings(), replica_b)
        clock.install(a)
        clock.install(b)
        fetched = await a.call("project", "P1", fetch)
        again = await b.call("project", "P1", fetch)
        assert calls == 1
        assert again.value == fetched.value and again.meta.fetched_at == fetched.meta.fetched_at
        assert b.stats().cache_hits == 1

        # Stale answers are shared too: past the TTL, a failing department still gets an answer.
        clock.advance(ConnectorSettings().cache.ttl_s + 1)

        async def down() -> DepartmentView:
            import httpx

            raise httpx.ConnectError("down")

        stale = await b.call("project", "P1", down)
        assert stale.meta.stale and stale.value == fetched.value

        keys = await replica_a.raw("keys", f"{redis_settings.namespace}:*")
        assert keys == [f"{redis_settings.namespace}:fire:project:P1".encode()]
    finally:
        await replica_a.close()
        await replica_b.close()


@pytest.mark.redis
async def test_redis_batch_round_trip(redis_settings: Any) -> None:
    cache = build_cache(redis_settings)
    pipeline = CallPipeline("fire", ConnectorSettings(), cache)

    async def fetch_missing(keys: list[str]) -> dict[str, DepartmentView]:
        return {k: DepartmentView(department="fire", project_code=k) for k in keys if k != "unknown"}

    try:
        await pipeline.call_batch("project", ["P1", "P2", "unknown"], fetch_missing)
        got = await pipeline.call_batch("project", ["P1", "P2", "unknown"], fetch_missing)
        assert pipeline.stats().cache_hits == 3
        assert got["P2"].value == DepartmentView("fire", "P2") and got["unknown"].value is None
    finally:
        await cache.close()


async def test_an_unreachable_redis_degrades_to_memory() -> None:
    settings = CacheBackendSettings(backend="redis", redis_url="redis://127.0.0.1:1/0", namespace="nowhere")
    cache = build_cache(settings)
    calls = 0

    async def fetch() -> str:
        nonlocal calls
        calls += 1
        return "answer"

    try:
        pipeline = CallPipeline("fire", ConnectorSettings(), cache)
        assert (await pipeline.call("project", "P1", fetch)).value == "answer"
        assert cache.degraded  # Redis failed: this process's memory stands in
        assert (await pipeline.call("project", "P1", fetch)).value == "answer"
        assert calls == 1  # the second answer came from memory
    finally:
        await cache.close()


async def test_the_shared_cache_is_tried_again_after_its_retry_window() -> None:
    from connectors.cache import FallbackCache

    now = [0.0]

    class Flaky:
        namespace = "flaky"

        def __init__(self) -> None:
            self.up = False
            self.store: dict[str, object] = {}

        async def get(self, key: str, **_: object) -> object:
            if not self.up:
                raise ConnectionError("down")
            return self.store.get(key)

        async def set(self, key: str, value: object, **_: object) -> None:
            if not self.up:
                raise ConnectionError("down")
            self.store[key] = value

        async def close(self) -> None:
            pass

    primary = Flaky()
    cache = FallbackCache(primary, retry_s=5, clock=lambda: now[0])
    await cache.set("k", "in memory")
    assert cache.degraded and await cache.get("k") == "in memory"
    primary.up = True
    assert await cache.get("k") == "in memory"  # within the window Redis is not asked
    now[0] = 6.0
    assert not cache.degraded
    await cache.set("k", "in redis")
    assert primary.store == {"k": "in redis"}
    await cache.close()


def _closed_loopback_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_cache_outage_logs_one_line_per_kind_per_window(caplog: pytest.LogCaptureFixture) -> None:
    from aiocache import RedisCache
    from aiocache.serializers import PickleSerializer

    redis = RedisCache(
        serializer=PickleSerializer(),
        namespace="nowhere",
        endpoint="127.0.0.1",
        port=_closed_loopback_port(),
        timeout=0.25,
        create_connection_timeout=0.25,
    )
    clock = FakeClock()
    pipeline = CallPipeline("fire", ConnectorSettings(), redis, clock=clock.monotonic, now=clock.time)

    async def fetch() -> str:
        return "answer"

    def lines() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "onematter.connectors" and "cache" in r.getMessage()]

    caplog.set_level(logging.WARNING)
    try:
        for _ in range(3):
            assert (await pipeline.call("project", "P1", fetch)).value == "answer"
        await pipeline.call_batch("project", ["P2", "P3"], lambda keys: _views(keys))
        got = lines()
        assert [r.getMessage().split(" for ")[0] for r in got] == ["cache read failed", "cache write failed"]
        assert all(r.exc_info is None and "\n" not in r.getMessage() for r in got)
        assert "fire" in got[0].getMessage()
        clock.advance(6.0)  # the window has gone by: a new outage window, logged again
        await pipeline.call("project", "P1", fetch)
        assert len(lines()) == 4
    finally:
        await redis.close()


async def _views(keys: list[str]) -> dict[str, DepartmentView]:
    return {k: DepartmentView(department="fire", project_code=k) for k in keys}
