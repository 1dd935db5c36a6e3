"""The call pipeline: cache, coalescing, deadline, breaker, retries, stale-if-error, counters.

Failure modes are pinned with ``httpx.MockTransport``; the fault-injection
acceptance test runs over real loopback HTTP against a small department app
wrapped by ``fixtures.faults.with_faults``. Time is a ``FakeClock``: backoff
and breaker resets never wait.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from aiocache import SimpleMemoryCache
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors.breaker import BreakerState
from connectors.failures import check_response, retry_after_s
from connectors.http import build_client, case_number_var, request_id_var
from connectors.pipeline import CallEvent, CallPipeline, Fetched
from connectors.settings import BreakerSettings, CacheSettings, ConnectorSettings, RetrySettings
from connectors.testing import FakeClock
from domain.errors import (
    ConnectorError,
    DepartmentMalformed,
    DepartmentRejected,
    DepartmentTimeout,
    DepartmentUnavailable,
)

DEPT = "testdept"
URL = "http://10.9.8.7:8443"


def make_settings(**changes: Any) -> ConnectorSettings:
    base = ConnectorSettings(
        base_url=URL,
        deadline_s=2.0,
        retry=RetrySettings(attempts=3, backoff_s=0.1, max_backoff_s=0.4, jitter_s=0.0),
        cache=CacheSettings(ttl_s=30, stale_s=600),
        breaker=BreakerSettings(failures=3, reset_s=10),
    )
    return base.model_copy(update=changes)


class Dept:
    """A department behind a MockTransport: answers from a script, counts requests."""

    def __init__(self, settings: ConnectorSettings | None = None) -> None:
        self.settings = settings or make_settings()
        self.script: list[Callable[[httpx.Request], httpx.Response] | httpx.Response | Exception] = []
        self.requests: list[httpx.Request] = []
        self.clock = FakeClock()
        self.client = build_client(self.settings, transport=httpx.MockTransport(self._handle))
        self.pipeline = CallPipeline(DEPT, self.settings, SimpleMemoryCache(timeout=None))
        self.clock.install(self.pipeline)
        self.events: list[CallEvent] = []
        self.pipeline.observers.append(self.events.append)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.script.pop(0) if self.script else httpx.Response(200, json={"value": request.url.path})
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            return step
        return step(request)

    async def fetch(self, path: str = "/x") -> Any:
        response = check_response(await self.client.get(path), department=DEPT, ok=(200, 404))
        return None if response.status_code == 404 else response.json()["value"]

    async def call(self, key: str = "k", **kwargs: Any) -> Any:
        return await self.pipeline.call("op", key, lambda: self.fetch(f"/{key}"), **kwargs)


@pytest.fixture
async def dept() -> AsyncIterator[Dept]:
    d = Dept()
    yield d
    await d.client.aclose()


def assert_clean(exc: BaseException) -> None:
    text = str(exc) + repr(exc)
    assert DEPT in str(exc)
    assert "10.9.8.7" not in text and "http" not in text


# -- cache -----------------------------------------------------------------------------


async def test_fresh_answer_comes_from_cache(dept: Dept) -> None:
    first = await dept.call()
    second = await dept.call()
    assert first.value == second.value == "/k"
    assert len(dept.requests) == 1
    stats = dept.pipeline.stats()
    assert (stats.cache_hits, stats.cache_misses, stats.calls, stats.upstream_calls) == (1, 1, 2, 1)
    assert [e.outcome for e in dept.events] == ["ok", "cache_hit"]
    assert second.meta.fetched_at == first.meta.fetched_at and not second.meta.stale


async def test_not_found_is_cached_too(dept: Dept) -> None:
    dept.script.append(httpx.Response(404))
    assert (await dept.call()).value is None
    assert (await dept.call()).value is None
    assert len(dept.requests) == 1


async def test_answer_expires_after_ttl(dept: Dept) -> None:
    await dept.call()
    dept.clock.advance(31)
    await dept.call()
    assert len(dept.requests) == 2


async def test_not_cacheable_always_goes_upstream(dept: Dept) -> None:
    await dept.call(cacheable=False)
    await dept.call(cacheable=False)
    assert len(dept.requests) == 2


async def test_ttl_zero_never_fresh_but_still_stale_if_error() -> None:
    d = Dept(make_settings(cache=CacheSettings(ttl_s=0, stale_s=60), retry=RetrySettings(attempts=1)))
    await d.call()
    await d.call()
    assert len(d.requests) == 2
    d.script.append(httpx.Response(503))
    got = await d.call()
    assert got.meta.stale and got.value == "/k"


async def test_a_broken_cache_degrades_to_misses(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(SimpleMemoryCache):  # type: ignore[misc]
        async def get(self, *a: Any, **k: Any) -> Any:
            raise ConnectionError("cache down")

        async def set(self, *a: Any, **k: Any) -> Any:
            raise ConnectionError("cache down")

    d = Dept()
    d.pipeline.cache = Broken()
    assert (await d.call()).value == "/k"
    assert (await d.call()).value == "/k"
    assert len(d.requests) == 2
    assert any("cache read failed" in r.getMessage() for r in caplog.records)


# -- coalescing ------------------------------------------------------------------------


async def test_concurrent_identical_calls_share_one_request(dept: Dept) -> None:
    gate = asyncio.Event()
    upstream = 0

    async def slow() -> str:
        nonlocal upstream
        upstream += 1
        await gate.wait()
        return "answer"

    calls = [asyncio.ensure_future(dept.pipeline.call("op", "same", slow)) for _ in range(10)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*calls)
    assert upstream == 1
    assert {r.value for r in results} == {"answer"}
    assert dept.pipeline.stats().coalesced == 9


async def test_a_cancelled_caller_does_not_cancel_the_shared_call(dept: Dept) -> None:
    gate = asyncio.Event()

    async def slow() -> str:
        await gate.wait()
        return "answer"

    first = asyncio.ensure_future(dept.pipeline.call("op", "same", slow))
    second = asyncio.ensure_future(dept.pipeline.call("op", "same", slow))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    gate.set()
    assert (await second).value == "answer"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_different_keys_are_not_coalesced(dept: Dept) -> None:
    await asyncio.gather(dept.call("a"), dept.call("b"))
    assert len(dept.requests) == 2


# -- retries ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [502, 503, 504, 429])
async def test_transient_statuses_are_retried(dept: Dept, status: int) -> None:
    dept.script += [httpx.Response(status), httpx.Response(status)]
    assert (await dept.call()).value == "/k"
    stats = dept.pipeline.stats()
    assert (stats.attempts, stats.retries, stats.max_attempts) == (3, 2, 3)
    assert dept.events[-1].attempts == 3


async def test_backoff_is_exponential_and_capped(dept: Dept) -> None:
    dept.settings.retry.attempts = 5
    dept.script += [httpx.Response(503)] * 4
    await dept.call()
    assert dept.clock.sleeps == [0.1, 0.2, 0.4, 0.4]


async def test_jitter_stays_within_its_bound() -> None:
    d = Dept(make_settings(retry=RetrySettings(attempts=2, backoff_s=0.1, jitter_s=0.05)))
    d.script.append(httpx.Response(503))
    await d.call()
    assert 0.1 <= d.clock.sleeps[0] <= 0.15


async def test_retry_after_seconds_is_honoured(dept: Dept) -> None:
    dept.script.append(httpx.Response(429, headers={"Retry-After": "1"}))
    await dept.call()
    assert dept.clock.sleeps == [1.0]


async def test_retry_after_http_date_is_honoured(dept: Dept) -> None:
    when = datetime.fromtimestamp(dept.clock.time(), UTC) + timedelta(seconds=1)
    response = httpx.Response(503, headers={"Retry-After": format_datetime(when, usegmt=True)})
    assert retry_after_s(response, now=dept.clock.time()) == pytest.approx(1.0, abs=1.0)


async def test_retry_after_beyond_the_deadline_gives_up_at_once(dept: Dept) -> None:
    dept.script.append(httpx.Response(429, headers={"Retry-After": "30"}))
    with pytest.raises(DepartmentUnavailable) as caught:
        await dept.call()
    assert "rate limited" in str(caught.value)
    assert dept.clock.sleeps == [] and len(dept.requests) == 1
    assert_clean(caught.value)


async def test_backoff_never_sleeps_into_the_deadline() -> None:
    d = Dept(
        make_settings(
            deadline_s=1.0, retry=RetrySettings(attempts=10, backoff_s=0.2, max_backoff_s=5, jitter_s=0)
        )
    )
    d.script += [httpx.Response(503)] * 10
    with pytest.raises(DepartmentUnavailable):
        await d.call()
    assert d.clock.sleeps == [0.2, 0.4]  # the next (0.8) would pass the 1.0 s deadline
    assert sum(d.clock.sleeps) <= 1.0
    assert d.events[-1].attempts == 3 and d.events[-1].elapsed_s <= 1.0


@pytest.mark.parametrize("status", [400, 401, 403, 409, 422])
async def test_other_4xx_are_rejected_and_never_retried(dept: Dept, status: int) -> None:
    dept.script.append(httpx.Response(status, json={"secret": "payload"}))
    with pytest.raises(DepartmentRejected) as caught:
        await dept.call()
    assert caught.value.status_code == status
    assert len(dept.requests) == 1 and dept.clock.sleeps == []
    assert "payload" not in str(caught.value)
    assert_clean(caught.value)


async def test_500_is_unavailable_and_not_retried(dept: Dept) -> None:
    dept.script.append(httpx.Response(500))
    with pytest.raises(DepartmentUnavailable) as caught:
        await dept.call()
    assert len(dept.requests) == 1
    assert not caught.value.transient


async def test_calls_that_change_state_are_never_retried_cached_or_coalesced(dept: Dept) -> None:
    dept.script.append(httpx.Response(503))
    with pytest.raises(DepartmentUnavailable):
        await dept.call(idempotent=False)
    assert len(dept.requests) == 1
    await dept.call(idempotent=False)
    await dept.call(idempotent=False)
    assert len(dept.requests) == 3


async def test_connect_errors_are_retried_then_unavailable(dept: Dept) -> None:
    dept.script += [httpx.ConnectError(f"cannot connect to {URL}")] * 3
    with pytest.raises(DepartmentUnavailable) as caught:
        await dept.call()
    assert len(dept.requests) == 3
    assert_clean(caught.value)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_read_timeouts_are_retried_then_timeout(dept: Dept) -> None:
    dept.script += [httpx.ReadTimeout("read timed out"), httpx.ReadTimeout("read timed out")]
    assert (await dept.call()).value == "/k"
    dept.script += [httpx.ReadTimeout("read timed out")] * 3
    with pytest.raises(DepartmentTimeout) as caught:
        await dept.call("other")
    assert_clean(caught.value)


async def test_a_body_that_does_not_parse_is_malformed(dept: Dept) -> None:
    dept.script.append(httpx.Response(200, content=b'{"value": "trunc'))
    with pytest.raises(DepartmentMalformed) as caught:
        await dept.call()
    assert len(dept.requests) == 1
    assert "trunc" not in str(caught.value)
    assert_clean(caught.value)


async def test_an_unexpected_connector_error_is_reported_as_the_departments(
    dept: Dept, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken() -> Any:
        raise RuntimeError("bug")

    with pytest.raises(DepartmentUnavailable) as caught:
        await dept.pipeline.call("op", "k", broken)
    assert caught.value.department == DEPT
    assert any(r.levelno == logging.ERROR for r in caplog.records)


# -- deadline --------------------------------------------------------------------------


async def test_a_hang_becomes_a_timeout_at_the_deadline() -> None:
    d = Dept(make_settings(deadline_s=0.05))

    async def hang() -> Any:
        await asyncio.Event().wait()

    async with asyncio.timeout(10):  # a guard against a missing deadline, not a timing assertion
        with pytest.raises(DepartmentTimeout) as caught:
            await d.pipeline.call("op", "k", hang)
    assert "0.05 s deadline" in str(caught.value)
    assert caught.value.extensions() == {"code": "DEPARTMENT_TIMEOUT", "department": DEPT, "retryable": True}
    assert d.pipeline.stats().errors == {"DEPARTMENT_TIMEOUT": 1}


# -- breaker ---------------------------------------------------------------------------


async def test_breaker_opens_refuses_and_recovers_through_one_probe() -> None:
    d = Dept(
        make_settings(
            retry=RetrySettings(attempts=1),
            cache=CacheSettings(ttl_s=0, stale_s=0),
            breaker=BreakerSettings(failures=2, reset_s=10),
        )
    )
    d.script += [httpx.Response(503)] * 2
    for _ in range(2):
        with pytest.raises(DepartmentUnavailable):
            await d.call()
    assert d.pipeline.stats().breaker_state is BreakerState.OPEN
    with pytest.raises(DepartmentUnavailable) as caught:
        await d.call()
    assert "circuit open" in str(caught.value)
    assert len(d.requests) == 2  # refused without calling

    d.clock.advance(9.9)
    with pytest.raises(DepartmentUnavailable):
        await d.call()
    assert len(d.requests) == 2

    d.clock.advance(0.1)  # half-open: exactly one probe goes; the others are refused meanwhile
    gate, entered = asyncio.Event(), asyncio.Event()

    async def probe() -> str:
        entered.set()
        await gate.wait()
        return "ok"

    first = asyncio.ensure_future(d.pipeline.call("op", "a", probe))
    await entered.wait()
    assert d.pipeline.stats().breaker_state is BreakerState.HALF_OPEN
    with pytest.raises(DepartmentUnavailable):
        await d.pipeline.call("op", "b", probe)
    gate.set()
    assert (await first).value == "ok"
    stats = d.pipeline.stats()
    assert stats.breaker_state is BreakerState.CLOSED and stats.breaker_opened == 1


async def test_a_failed_probe_opens_the_breaker_again() -> None:
    d = Dept(make_settings(retry=RetrySettings(attempts=1), breaker=BreakerSettings(failures=1, reset_s=5)))
    d.script += [httpx.Response(503), httpx.Response(503)]
    with pytest.raises(DepartmentUnavailable):
        await d.call("a")
    d.clock.advance(5)
    with pytest.raises(DepartmentUnavailable):
        await d.call("b")
    assert len(d.requests) == 2
    assert d.pipeline.stats().breaker_state is BreakerState.OPEN
    assert d.pipeline.stats().breaker_opened == 2


async def test_rejections_do_not_open_the_breaker() -> None:
    d = Dept(make_settings(breaker=BreakerSettings(failures=1, reset_s=5)))
    d.script.append(httpx.Response(401))
    with pytest.raises(DepartmentRejected):
        await d.call()
    assert d.pipeline.stats().breaker_state is BreakerState.CLOSED


async def test_a_timeout_counts_as_a_breaker_failure() -> None:
    d = Dept(make_settings(deadline_s=0.01, breaker=BreakerSettings(failures=1, reset_s=5)))

    async def hang() -> Any:
        await asyncio.Event().wait()

    with pytest.raises(DepartmentTimeout):
        await d.pipeline.call("op", "k", hang)
    assert d.pipeline.stats().breaker_state is BreakerState.OPEN


# -- stale-if-error ----------------------------------------------------------------------


async def test_stale_if_error_serves_the_last_good_answer_marked_stale(dept: Dept) -> None:
    fresh = await dept.call()
    dept.clock.advance(100)
    dept.script += [httpx.Response(503)] * 3
    stale = await dept.call()
    assert stale.value == fresh.value
    assert stale.meta.stale and stale.meta.fetched_at == fresh.meta.fetched_at
    assert dept.pipeline.stats().stale_served == 1
    assert dept.events[-1].outcome == "stale" and dept.events[-1].code == "DEPARTMENT_UNAVAILABLE"


async def test_no_stale_answer_past_the_window(dept: Dept) -> None:
    await dept.call()
    dept.clock.advance(631)
    dept.script += [httpx.Response(503)] * 3
    with pytest.raises(DepartmentUnavailable):
        await dept.call()


async def test_no_stale_answer_for_a_rejection(dept: Dept) -> None:
    await dept.call()
    dept.clock.advance(100)
    dept.script.append(httpx.Response(403))
    with pytest.raises(DepartmentRejected):
        await dept.call()


async def test_stale_answer_while_the_breaker_is_open() -> None:
    d = Dept(make_settings(retry=RetrySettings(attempts=1), breaker=BreakerSettings(failures=1, reset_s=60)))
    await d.call()
    d.clock.advance(31)
    d.script.append(httpx.Response(503))
    assert (await d.call()).meta.stale
    assert d.pipeline.stats().breaker_state is BreakerState.OPEN
    assert (await d.call()).meta.stale  # refused by the breaker, still answered
    assert len(d.requests) == 2


# -- batches ---------------------------------------------------------------------------


class Batch:
    def __init__(self, d: Dept) -> None:
        self.d = d
        self.asked: list[list[str]] = []
        self.fail: Exception | None = None

    async def __call__(self, keys: list[str]) -> dict[str, str]:
        self.asked.append(keys)
        if self.fail is not None:
            raise self.fail
        return {k: f"v-{k}" for k in keys if not k.startswith("unknown")}


async def test_batch_fetches_only_what_is_not_cached(dept: Dept) -> None:
    fetch = Batch(dept)
    await dept.pipeline.call("op", "a", lambda: asyncio.sleep(0, "single-a"))
    got = await dept.pipeline.call_batch("op", ["a", "b", "unknown1", "b"], fetch)
    assert fetch.asked == [["b", "unknown1"]]
    assert list(got) == ["a", "b", "unknown1"]
    assert got["a"].value == "single-a" and got["b"].value == "v-b" and got["unknown1"].value is None
    again = await dept.pipeline.call_batch("op", ["a", "b", "unknown1"], fetch)
    assert len(fetch.asked) == 1 and again["unknown1"].value is None
    assert (await dept.pipeline.call("op", "b", lambda: asyncio.sleep(0, "x"))).value == "v-b"


async def test_batch_failure_falls_back_to_stale_per_key(dept: Dept) -> None:
    fetch = Batch(dept)
    await dept.pipeline.call_batch("op", ["a", "b"], fetch)
    dept.clock.advance(60)
    fetch.fail = httpx.ConnectError("down")
    got = await dept.pipeline.call_batch("op", ["a", "b"], fetch)
    assert all(f.meta.stale for f in got.values()) and got["a"].value == "v-a"
    assert dept.pipeline.stats().stale_served == 2
    with pytest.raises(DepartmentUnavailable):  # "c" has no stale answer: the batch fails whole
        await dept.pipeline.call_batch("op", ["a", "c"], fetch)


async def test_a_settled_batch_answers_each_key_alone(dept: Dept) -> None:
    fetch = Batch(dept)
    first = await dept.pipeline.call_batch_settled("op", ["a", "unknown1"], fetch)
    copy_time = first["a"].meta.fetched_at  # type: ignore[union-attr]
    dept.clock.advance(60)  # past the fresh TTL, within the stale window
    await dept.pipeline.call("op", "fresh", lambda: asyncio.sleep(0, "f"))
    fetch.fail = httpx.ConnectError("down")
    got = await dept.pipeline.call_batch_settled("op", ["a", "unknown1", "c", "fresh"], fetch)
    assert list(got) == ["a", "unknown1", "c", "fresh"]
    a, unknown, c, fresh = (got[k] for k in ("a", "unknown1", "c", "fresh"))
    # A stale copy says so, with the copy's time and why the fresh call failed.
    assert isinstance(a, Fetched) and a.value == "v-a" and a.meta.stale
    assert a.meta.fetched_at == copy_time and isinstance(a.meta.failure, DepartmentUnavailable)
    # "Not known here" from a copy is stale too, not a fresh answer.
    assert isinstance(unknown, Fetched) and unknown.value is None and unknown.meta.stale
    # No copy: that key alone carries the error.
    assert isinstance(c, DepartmentUnavailable) and c.department == DEPT
    # A fresh cached answer stays fresh.
    assert isinstance(fresh, Fetched) and fresh.value == "f" and not fresh.meta.stale
    assert fresh.meta.failure is None
    assert fetch.asked[-1] == ["a", "unknown1", "c"]
    with pytest.raises(DepartmentUnavailable):  # the strict form still fails whole
        await dept.pipeline.call_batch("op", ["a", "c"], fetch)


async def test_a_single_stale_answer_carries_its_failure(dept: Dept) -> None:
    await dept.call()
    dept.clock.advance(60)
    dept.script += [httpx.Response(503)] * 3
    stale = await dept.call()
    assert stale.meta.stale and isinstance(stale.meta.failure, DepartmentUnavailable)
    assert stale.meta.failure.attempts == 3


async def test_batch_shares_keys_already_in_flight(dept: Dept) -> None:
    gate, entered = asyncio.Event(), asyncio.Event()

    async def slow() -> str:
        entered.set()
        await gate.wait()
        return "single"

    single = asyncio.ensure_future(dept.pipeline.call("op", "a", slow))
    await entered.wait()
    fetch = Batch(dept)
    batch = asyncio.ensure_future(dept.pipeline.call_batch("op", ["a", "b"], fetch))
    for _ in range(50):  # let the batch reach its upstream call (no timing involved)
        await asyncio.sleep(0)
    assert fetch.asked == [["b"]]
    gate.set()
    got = await batch
    assert fetch.asked == [["b"]] and got["a"].value == "single"
    assert (await single).value == "single"


async def test_empty_batch(dept: Dept) -> None:
    assert await dept.pipeline.call_batch("op", [], Batch(dept)) == {}


async def test_batch_answer_must_be_a_mapping(dept: Dept) -> None:
    async def bad(keys: list[str]) -> Any:
        return ["not", "a", "mapping"]

    with pytest.raises(DepartmentMalformed):
        await dept.pipeline.call_batch("op", ["a"], bad)


# -- observers, stats, headers ---------------------------------------------------------


async def test_a_failing_observer_is_ignored(dept: Dept, caplog: pytest.LogCaptureFixture) -> None:
    def boom(event: CallEvent) -> None:
        raise ValueError("observer bug")

    dept.pipeline.observers.insert(0, boom)
    assert (await dept.call()).value == "/k"
    assert dept.events and any("observer failed" in r.getMessage() for r in caplog.records)


async def test_stats_snapshot(dept: Dept) -> None:
    dept.script.append(httpx.Response(503))
    await dept.call()
    dept.script.append(httpx.Response(400))
    with pytest.raises(DepartmentRejected):
        await dept.call("b")
    stats = dept.pipeline.stats().as_dict()
    assert stats["errors"] == {"DEPARTMENT_REJECTED": 1}
    assert stats["retries"] == 1 and stats["last_error"] == "DEPARTMENT_REJECTED"
    assert stats["breaker_state"] == "CLOSED" and stats["department"] == DEPT


async def test_requests_carry_request_id_and_case_number(dept: Dept) -> None:
    token = request_id_var.set("req-42"), case_number_var.set("BJ-2024-001\r\nX-Evil: 1")
    try:
        await dept.call()
    finally:
        request_id_var.reset(token[0])
        case_number_var.reset(token[1])
    sent = dept.requests[-1].headers
    assert sent["X-Request-Id"] == "req-42"
    assert sent["X-Case-Number"] == "BJ-2024-001X-Evil:1"  # no header splitting
    await dept.call("other")
    assert len(dept.requests[-1].headers["X-Request-Id"]) == 32  # generated when unset
    assert "X-Case-Number" not in dept.requests[-1].headers


@pytest.mark.parametrize(
    ("status", "error", "transient"),
    [
        (502, DepartmentUnavailable, True),
        (503, DepartmentUnavailable, True),
        (504, DepartmentUnavailable, True),
        (429, DepartmentUnavailable, True),
        (408, DepartmentUnavailable, True),
        (500, DepartmentUnavailable, False),
        (404, DepartmentRejected, False),
        (401, DepartmentRejected, False),
        (302, DepartmentUnavailable, False),
    ],
)
def test_check_response_maps_statuses(status: int, error: type[ConnectorError], transient: bool) -> None:
    with pytest.raises(error) as caught:
        check_response(httpx.Response(status), department=DEPT)
    assert caught.value.transient is transient
    assert check_response(httpx.Response(status), department=DEPT, ok=(status,)).status_code == status


# -- acceptance: 503 on 30% of calls ---------------------------------------------------


def _department_app() -> Starlette:
    async def item(request: Request) -> JSONResponse:
        return JSONResponse({"key": request.path_params["key"]})

    return Starlette(routes=[Route("/items/{key}", item)])


async def test_a_department_failing_30_percent_still_answers_every_lookup() -> None:
    """200 lookups against a department answering 503 on 30% of requests all succeed,
    none with more attempts than configured, none past its deadline (by the pipeline's clock)."""
    from fixtures.faults import FaultSettings, with_faults
    from fixtures.serve import serve_app

    injector = with_faults(_department_app(), FaultSettings(error_rate=0.3, error_status=503, seed=2023))
    server = await serve_app(injector)
    settings = ConnectorSettings(
        base_url=server.url,
        deadline_s=2.0,
        retry=RetrySettings(attempts=8, backoff_s=0.02, max_backoff_s=0.25, jitter_s=0.02),
        cache=CacheSettings(ttl_s=0, stale_s=0),  # every lookup goes to the department
    )
    client = build_client(settings)
    pipeline = CallPipeline(DEPT, settings, SimpleMemoryCache(timeout=None))
    clock = FakeClock()
    clock.install(pipeline)
    events: list[CallEvent] = []
    pipeline.observers.append(events.append)

    async def lookup(key: str) -> str:
        response = check_response(await client.get(f"/items/{key}"), department=DEPT)
        return str(response.json()["key"])

    try:
        for n in range(200):
            key = f"P{n:03d}"
            started = clock.monotonic()
            fetched = await pipeline.call("item", key, lambda key=key: lookup(key))  # type: ignore[misc]
            assert fetched.value == key
            assert clock.monotonic() - started <= settings.deadline_s
    finally:
        await client.aclose()
        await server.stop()

    stats = pipeline.stats()
    faults = injector.stats()["faults"]
    assert stats.errors == {} and stats.calls == 200
    assert stats.max_attempts <= settings.retry.attempts
    assert all(e.outcome == "ok" and e.attempts <= 8 and e.elapsed_s <= 2.0 for e in events)
    assert stats.retries == faults["error"] > 30  # every injected 503 was retried, and there were many
    assert stats.attempts == 200 + stats.retries == injector.stats()["total"]
