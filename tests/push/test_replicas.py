"""Two hub replicas on one Redis: a change one of them sees reaches a subscriber of the other.

Needs ONEMATTER_TEST_REDIS_URL (``.ci/run`` sets it). Both replicas share the
departments, the Redis cache and change stream under a namespace of their own
(removed afterwards); each has its own registry, matter index and feed. The
planning system notifies replica A only; the subscriber listens on replica B.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from domain.principal import Role
from fixtures.generate import build_world
from fixtures.serve import start_departments
from gateway.config import CacheBackendSettings
from tests.conftest import AS_OF, PROJECTS, SEED
from tests.push.conftest import MATTER_UPDATES, TIANJIA, LiveHub, sse_updates, start_live_hub

REDIS_ENV = "ONEMATTER_TEST_REDIS_URL"

pytestmark = pytest.mark.redis


async def _drop_keys(redis_url: str, namespace: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{namespace}*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def replicas(
    tmp_path: Path, demo_credentials: None, webhook_secrets: None
) -> AsyncIterator[tuple[LiveHub, LiveHub]]:
    redis_url = os.environ.get(REDIS_ENV)
    if not redis_url:
        pytest.skip(f"{REDIS_ENV} is not set: no Redis to share between replicas")
    namespace = f"onematter-push-{uuid.uuid4().hex[:10]}"
    cache = CacheBackendSettings(backend="redis", redis_url=redis_url, namespace=namespace)
    world = build_world(seed=SEED, projects=PROJECTS, as_of=AS_OF)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(_drop_keys, redis_url, namespace)
        departments = await start_departments(world)
        stack.push_async_callback(departments.stop)
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        a = await start_live_hub(tmp_path / "a", stack, world=world, departments=departments, cache=cache)
        b = await start_live_hub(tmp_path / "b", stack, world=world, departments=departments, cache=cache)
        yield a, b


async def test_a_change_seen_by_one_replica_reaches_a_subscriber_of_the_other(
    replicas: tuple[LiveHub, LiveHub],
) -> None:
    a, b = replicas
    from fixtures.advance import Notifier
    from tests.push.conftest import SECRET

    # Only replica A is told (start_live_hub pointed the notifiers at the last hub started).
    a.departments.apps["planning"].notify = Notifier(f"{a.url}/webhooks/planning", SECRET)
    await a.services.matter_index.ready()  # A is up: its index is built, as at startup
    token = b.token(Role.WINDOW_STAFF)
    async with sse_updates(b.url, MATTER_UPDATES, {"code": TIANJIA}, token) as next_event:
        await b.subscribers(1)
        assert a.services.changes.held() == 0  # nobody listens on the replica that is told
        answer = await a.advance("planning", projectCode=TIANJIA)
        assert answer["notified"] is True
        name, data = await next_event()
        assert name == "next" and not data.get("errors"), data
        update = data["data"]["matterUpdates"]
        assert (update["item"], update["newStatus"]) == ("总平面图", "IN_REVIEW")
        assert update["matter"]["projectCode"] == TIANJIA

        # Both replicas' own refreshes now see the same transition: neither announces it again.
        await a.services.matter_index.refresh()
        await b.services.matter_index.refresh()
        await a.advance("planning", projectCode=TIANJIA)
        name, data = await next_event()
        update = data["data"]["matterUpdates"]
        assert (update["oldStatus"], update["newStatus"]) == ("IN_REVIEW", "APPROVED")
