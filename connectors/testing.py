"""The connector contract suite: what every connector, built-in or external, must pass.

A test module subclasses ``ConnectorContract`` (the class name must start with
``Test`` for pytest to collect it) and says what to test::

    from connectors.testing import ConnectorContract
    from my_package.connector import EnvironmentConnector
    from my_package.fixture import create_app

    class TestEnvironmentContract(ConnectorContract):
        connector_class = EnvironmentConnector
        known_project_code = "2023-430472-47-03-012345"
        unknown_project_code = "2023-430472-47-03-999999"
        raw_statuses = ("受理", "审查中", "批复", "不予批复")

        def make_app(self):
            return create_app()           # the department's app (wrapped by with_faults or not)

        def normalise_status(self, raw):
            return normalise_status(raw)  # the connector's own mapping

Every test runs over real loopback HTTP: the department app is served by
uvicorn on an ephemeral port, wrapped by ``fixtures.faults.with_faults`` so the
suite can switch faults on (503 bursts, 429, hangs, malformed bodies,
maintenance). The connector gets an ordinary client (``connectors.http.build_client``)
whose transport counts requests and can script one answer (a 400, a 401);
time is a ``FakeClock`` installed on ``connector.pipeline``, so backoff,
breaker reset and cache ages never wait. The one test that needs real time,
the hang, waits for the connector's deadline (``hang_deadline_s``).

The suite asks of a connector: ``name``/``title`` class attributes; the
``(settings=, client=, cache=)`` constructor; every call through
``self.pipeline``; ``fetch_project`` returning a ``DepartmentView`` stamped with
``source=fetched.meta`` (so stale answers are visible), or None; ``health()``
that reports rather than raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar

import httpx
import pytest
import pytest_asyncio
from aiocache import SimpleMemoryCache

from connectors.breaker import BreakerState
from connectors.http import (
    CASE_NUMBER_HEADER,
    REQUEST_ID_HEADER,
    build_client,
    case_number_var,
    request_id_var,
)
from connectors.settings import BreakerSettings, CacheSettings, ConnectorSettings, RetrySettings
from domain.errors import (
    ConnectorError,
    DepartmentMalformed,
    DepartmentRejected,
    DepartmentTimeout,
    DepartmentUnavailable,
)
from domain.records import DepartmentView, HealthReport, Lifecycle, SourceMeta

__all__ = ["ConnectorContract", "ContractHarness", "FakeClock", "ScriptedTransport"]


class FakeClock:
    """Monotonic and wall time that move only when told (or when the pipeline sleeps).

    Install on a pipeline with ``clock.install(pipeline)``. ``sleeps`` records
    every backoff the pipeline asked for; ``on_sleep`` hooks run after each
    (a test heals a department there, between two attempts).
    """

    def __init__(self, *, monotonic: float = 1_000.0, wall: float = 1_780_000_000.0) -> None:
        self._monotonic = monotonic
        self._wall = wall
        self.sleeps: list[float] = []
        self.on_sleep: list[Callable[[float], Awaitable[None] | None]] = []

    def monotonic(self) -> float:
        return self._monotonic

    def time(self) -> float:
        return self._wall

    def advance(self, seconds: float) -> None:
        self._monotonic += seconds
        self._wall += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
        for hook in list(self.on_sleep):
            result = hook(seconds)
            if result is not None:
                await result
        await asyncio.sleep(0)  # still yield, as a real sleep would

    def install(self, pipeline: Any) -> None:
        pipeline.clock = self.monotonic
        pipeline.now = self.time
        pipeline.sleep = self.sleep


class ScriptedTransport(httpx.AsyncBaseTransport):
    """A real HTTP transport that counts requests and can answer the next ones itself."""

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport()
        self.requests: list[httpx.Request] = []
        self.script: list[httpx.Response] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.script:
            return self.script.pop(0)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class ContractHarness:
    """One running department and the connectors built against it in one test."""

    def __init__(self, contract: ConnectorContract, injector: Any, url: str) -> None:
        self.contract = contract
        self.injector = injector  # fixtures.faults.FaultInjector
        self.url = url
        self.clock = FakeClock()
        self.transport = ScriptedTransport()  # the last built connector's transport
        self._closers: list[Callable[[], Awaitable[None]]] = []

    def faults(self, **changes: Any) -> None:
        """Change the department's fault settings now (as ``PUT /_admin/faults`` does)."""
        self.injector.configure(replace(self.injector.settings, **changes))

    async def connector(self, **overrides: Any) -> Any:
        """A connector against the running department; ``overrides`` replace settings fields."""
        settings = self.contract.connector_settings(self.url).model_copy(update=overrides)
        self.transport = ScriptedTransport()
        client = build_client(settings, transport=self.transport)
        connector = self.contract.connector_class(settings=settings, client=client, cache=SimpleMemoryCache())
        self.clock.install(connector.pipeline)
        self._closers += [client.aclose, connector.aclose]
        return connector

    async def aclose(self) -> None:
        for close in reversed(self._closers):
            with contextlib.suppress(Exception):
                await close()


class ConnectorContract:
    """Subclass as ``Test<Name>Contract`` and fill in the class attributes and hooks below."""

    connector_class: ClassVar[Any]  # the connector class (its own factory)
    known_project_code: ClassVar[str]  # a project the department knows
    unknown_project_code: ClassVar[str]  # a well-formed code it does not know
    raw_statuses: ClassVar[Sequence[str]] = ()  # every raw status value the department uses
    # credential name -> (environment variable, a value the department accepts)
    credentials: ClassVar[Mapping[str, tuple[str, str]]] = {}
    deadline_s: ClassVar[float] = 2.0  # generous: loopback calls, fake backoff
    hang_deadline_s: ClassVar[float] = 0.5  # the one test that waits in real time
    options: ClassVar[Mapping[str, Any]] = {}

    # -- hooks ---------------------------------------------------------------------------

    def make_app(self) -> Any:
        """The department's ASGI app (build the world once per module, not per test)."""
        raise NotImplementedError("a ConnectorContract subclass must define make_app()")

    def normalise_status(self, raw: str) -> Lifecycle:
        """The connector's mapping of one raw status; default: ``connector_class.normalise_status``."""
        normalise = getattr(self.connector_class, "normalise_status", None)
        if normalise is None:
            raise NotImplementedError("define normalise_status(raw) on the contract subclass")
        result: Lifecycle = normalise(raw)
        return result

    def connector_settings(self, base_url: str) -> ConnectorSettings:
        """Settings for the connector under test; override to add options."""
        return ConnectorSettings(
            base_url=base_url,
            deadline_s=self.deadline_s,
            retry=RetrySettings(attempts=3, backoff_s=0.05, max_backoff_s=0.2, jitter_s=0.01),
            cache=CacheSettings(ttl_s=30, stale_s=600),
            breaker=BreakerSettings(failures=3, reset_s=10),
            credentials={name: env for name, (env, _) in self.credentials.items()},
            options=dict(self.options),
        )

    # -- fixtures ------------------------------------------------------------------------

    @pytest.fixture
    def contract_credentials(self, monkeypatch: pytest.MonkeyPatch) -> Mapping[str, tuple[str, str]]:
        for env, value in self.credentials.values():
            monkeypatch.setenv(env, value)
        return self.credentials

    @pytest_asyncio.fixture
    async def harness(self, contract_credentials: Any) -> AsyncIterator[ContractHarness]:
        from fixtures.faults import FaultInjector, with_faults
        from fixtures.serve import serve_app

        app = self.make_app()
        injector = app if isinstance(app, FaultInjector) else with_faults(app)
        injector.reset(settings=True)
        injector.configure(replace(injector.settings, latency_ms=0, jitter_ms=0))
        server = await serve_app(injector)
        harness = ContractHarness(self, injector, server.url)
        try:
            yield harness
        finally:
            await harness.aclose()
            await server.stop()

    # -- helpers -------------------------------------------------------------------------

    @property
    def department(self) -> str:
        return str(self.connector_class.name)

    def assert_clean_error(self, exc: BaseException, harness: ContractHarness, *secrets: str) -> None:
        """The error names the department and the failure; never a URL or a credential."""
        assert isinstance(exc, ConnectorError), f"expected a ConnectorError, got {type(exc).__name__}"
        assert exc.department == self.department
        shown = " ".join([str(exc), repr(exc), repr(exc.extensions())])
        host = harness.url.split("//", 1)[1]
        assert host not in shown, f"the error shows the department's address: {shown}"
        assert "http://" not in shown and "https://" not in shown, f"the error shows a URL: {shown}"
        for secret in secrets:
            assert secret not in shown, "the error shows a credential"

    # -- the contract --------------------------------------------------------------------

    def test_every_raw_status_normalises(self) -> None:
        assert self.raw_statuses, "list the department's raw status values in raw_statuses"
        for raw in self.raw_statuses:
            assert isinstance(self.normalise_status(raw), Lifecycle), raw

    @pytest.mark.asyncio
    async def test_connector_is_registered_shape(self, harness: ContractHarness) -> None:
        from connectors.base import Connector

        connector = await harness.connector()
        assert isinstance(connector, Connector)
        assert isinstance(self.connector_class.title, str) and self.connector_class.title

    @pytest.mark.asyncio
    async def test_known_project_normalises(self, harness: ContractHarness) -> None:
        connector = await harness.connector()
        view = await connector.fetch_project(self.known_project_code)
        assert isinstance(view, DepartmentView)
        assert view.department == self.department
        assert view.project_code == self.known_project_code
        for item in view.items:
            assert isinstance(item.status, Lifecycle)
            assert item.raw_status, "the raw status is kept beside the normalised one"
        assert isinstance(view.source, SourceMeta) and not view.source.stale

    @pytest.mark.asyncio
    async def test_unknown_project_is_none(self, harness: ContractHarness) -> None:
        connector = await harness.connector()
        assert await connector.fetch_project(self.unknown_project_code) is None

    @pytest.mark.asyncio
    async def test_batch_lookup_and_cache(self, harness: ContractHarness) -> None:
        connector = await harness.connector()
        found = await connector.fetch_projects([self.known_project_code, self.unknown_project_code])
        assert set(found) == {self.known_project_code}
        assert found[self.known_project_code].project_code == self.known_project_code
        before = len(harness.transport.requests)
        again = await connector.fetch_projects([self.known_project_code, self.unknown_project_code])
        assert set(again) == {self.known_project_code}
        single = await connector.fetch_project(self.known_project_code)
        assert single is not None
        assert len(harness.transport.requests) == before, "fresh answers must come from the cache"
        assert connector.pipeline.stats().cache_hits >= 3

    @pytest.mark.asyncio
    async def test_calls_carry_request_id_and_case_number(self, harness: ContractHarness) -> None:
        connector = await harness.connector()
        rid, case = request_id_var.set("contract-req-1"), case_number_var.set("BJ2024000123")
        try:
            await connector.fetch_project(self.known_project_code)
        finally:
            request_id_var.reset(rid)
            case_number_var.reset(case)
        sent = harness.transport.requests
        assert sent, "the connector must use the client it was given"
        assert all(r.headers.get(REQUEST_ID_HEADER) == "contract-req-1" for r in sent)
        assert all(r.headers.get(CASE_NUMBER_HEADER) == "BJ2024000123" for r in sent)

    @pytest.mark.asyncio
    async def test_auth_failure_is_rejected_not_retried(
        self, harness: ContractHarness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        if self.credentials:
            for name, (env, _) in self.credentials.items():
                monkeypatch.setenv(env, f"wrong-{name}-contract")
            connector = await harness.connector()
        else:  # no credentials to get wrong: the department says 401 anyway
            connector = await harness.connector()
            harness.transport.script.append(httpx.Response(401, json={"error": "unauthorized"}))
        with pytest.raises(DepartmentRejected) as caught:
            await connector.fetch_project(self.known_project_code)
        self.assert_clean_error(caught.value, harness)
        assert connector.pipeline.stats().retries == 0

    @pytest.mark.asyncio
    async def test_other_4xx_is_rejected_not_retried(self, harness: ContractHarness) -> None:
        connector = await harness.connector()
        harness.transport.script.append(httpx.Response(400, json={"error": "bad_request"}))
        with pytest.raises(DepartmentRejected) as caught:
            await connector.fetch_project(self.known_project_code)
        self.assert_clean_error(caught.value, harness)
        assert connector.pipeline.stats().retries == 0
        assert harness.clock.sleeps == []

    @pytest.mark.asyncio
    async def test_malformed_body_is_malformed(self, harness: ContractHarness) -> None:
        connector = await harness.connector()
        harness.faults(malformed_rate=1.0)
        with pytest.raises(DepartmentMalformed) as caught:
            await connector.fetch_project(self.known_project_code)
        self.assert_clean_error(caught.value, harness)

    @pytest.mark.asyncio
    async def test_hang_becomes_timeout_within_deadline(self, harness: ContractHarness) -> None:
        connector = await harness.connector(deadline_s=self.hang_deadline_s)
        harness.faults(hang_rate=1.0, hang_s=120.0)
        # The guard only catches a connector that ignores its deadline; it is not a timing assertion.
        async with asyncio.timeout(self.hang_deadline_s + 30):
            with pytest.raises(DepartmentTimeout) as caught:
                await connector.fetch_project(self.known_project_code)
        self.assert_clean_error(caught.value, harness)
        assert connector.pipeline.stats().errors.get("DEPARTMENT_TIMEOUT") == 1

    @pytest.mark.asyncio
    async def test_503_burst_is_retried_and_succeeds(self, harness: ContractHarness) -> None:
        connector = await harness.connector()
        harness.faults(error_rate=1.0, error_status=503)
        harness.clock.on_sleep.append(lambda _s: harness.faults(error_rate=0.0))  # the burst ends
        view = await connector.fetch_project(self.known_project_code)
        assert view is not None and view.project_code == self.known_project_code
        stats = connector.pipeline.stats()
        assert stats.retries >= 1 and stats.max_attempts <= connector.settings.retry.attempts
        assert harness.injector.stats()["faults"].get("error", 0) >= 1

    @pytest.mark.asyncio
    async def test_429_waits_for_retry_after(self, harness: ContractHarness) -> None:
        connector = await harness.connector()
        harness.faults(rate_limit_rate=1.0, retry_after_s=1.0)
        harness.clock.on_sleep.append(lambda _s: harness.faults(rate_limit_rate=0.0))
        view = await connector.fetch_project(self.known_project_code)
        assert view is not None
        assert harness.clock.sleeps[0] == 1.0, "the first wait honours Retry-After"

    @pytest.mark.asyncio
    async def test_breaker_opens_and_recovers(self, harness: ContractHarness) -> None:
        connector = await harness.connector(
            retry=RetrySettings(attempts=1),
            cache=CacheSettings(ttl_s=0, stale_s=0),
            breaker=BreakerSettings(failures=2, reset_s=10),
        )
        pipeline = connector.pipeline
        harness.faults(maintenance=True)
        for _ in range(2):
            with pytest.raises(DepartmentUnavailable):
                await connector.fetch_project(self.known_project_code)
        assert pipeline.stats().breaker_state is BreakerState.OPEN
        sent = len(harness.transport.requests)
        with pytest.raises(DepartmentUnavailable) as caught:
            await connector.fetch_project(self.known_project_code)
        self.assert_clean_error(caught.value, harness)
        assert len(harness.transport.requests) == sent, "an open breaker refuses without calling"

        harness.clock.advance(10)  # half-open: one probe; it fails, the breaker opens again
        with pytest.raises(DepartmentUnavailable):
            await connector.fetch_project(self.known_project_code)
        assert pipeline.stats().breaker_state is BreakerState.OPEN
        assert pipeline.stats().breaker_opened == 2

        harness.faults(maintenance=False)
        harness.clock.advance(10)  # the next probe succeeds and closes it
        assert await connector.fetch_project(self.known_project_code) is not None
        assert pipeline.stats().breaker_state is BreakerState.CLOSED

    @pytest.mark.asyncio
    async def test_stale_if_error_serves_last_good_answer(self, harness: ContractHarness) -> None:
        connector = await harness.connector()
        fresh = await connector.fetch_project(self.known_project_code)
        assert fresh is not None
        harness.clock.advance(connector.settings.cache.ttl_s + 1)  # no longer fresh, still in the window
        harness.faults(error_rate=1.0, error_status=503)
        stale = await connector.fetch_project(self.known_project_code)
        assert stale == fresh
        assert stale.source is not None and stale.source.stale
        assert connector.pipeline.stats().stale_served == 1

        harness.clock.advance(connector.settings.cache.stale_s)  # past the window: the error shows
        with pytest.raises(DepartmentUnavailable):
            await connector.fetch_project(self.known_project_code)

    @pytest.mark.asyncio
    async def test_a_failed_batch_settles_each_project(self, harness: ContractHarness) -> None:
        from connectors.base import AnswersEachProject

        connector = await harness.connector()
        if not isinstance(connector, AnswersEachProject):
            pytest.skip(f"{self.department} has no fetch_answers: its batch is all or nothing")
        known, unknown = self.known_project_code, self.unknown_project_code
        never_asked = next(c for c in (unknown[:-1] + d for d in "987654321") if c not in (known, unknown))
        fresh = await connector.fetch_answers([known, unknown])
        first, nothing = fresh[known], fresh[unknown]
        assert not isinstance(first, ConnectorError) and first.value is not None and not first.meta.stale
        assert not isinstance(nothing, ConnectorError) and nothing.value is None  # "not known" answers too
        harness.clock.advance(self.connector_settings("").cache.ttl_s + 1)  # stale, still in the window
        harness.faults(error_rate=1.0, error_status=503)

        answers = await connector.fetch_answers([known, unknown, never_asked])
        copy, empty_copy, failed = answers[known], answers[unknown], answers[never_asked]
        assert not isinstance(copy, ConnectorError) and copy.value == first.value
        assert copy.meta.stale and copy.meta.fetched_at == first.meta.fetched_at  # the copy's time
        assert isinstance(copy.meta.failure, DepartmentUnavailable)  # why the fresh call failed
        assert copy.value.source is not None and copy.value.source.stale
        assert not isinstance(empty_copy, ConnectorError) and empty_copy.value is None
        assert empty_copy.meta.stale and empty_copy.meta.fetched_at == nothing.meta.fetched_at
        assert isinstance(failed, DepartmentUnavailable), failed  # no copy: this project alone fails

    @pytest.mark.asyncio
    async def test_wrong_credential_never_leaks(
        self, harness: ContractHarness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        if not self.credentials:
            pytest.skip(f"{self.department} takes no credentials")
        secrets = []
        for name, (env, _) in self.credentials.items():
            secret = f"Wr0ng-{name}-{os.urandom(6).hex()}"
            monkeypatch.setenv(env, secret)
            secrets.append(secret)
        caplog.set_level(logging.DEBUG)
        connector = await harness.connector()
        with pytest.raises(ConnectorError) as caught:
            await connector.fetch_project(self.known_project_code)
        self.assert_clean_error(caught.value, harness, *secrets)
        with contextlib.suppress(ConnectorError):
            await connector.fetch_projects([self.known_project_code])
        report = await connector.health()
        shown = repr(report) + repr(connector.pipeline.stats()) + repr(connector.settings)
        formatter = logging.Formatter()
        for record in caplog.records:
            shown += record.getMessage()
            if record.exc_info:
                shown += formatter.formatException(record.exc_info)
        for secret in secrets:
            assert secret not in shown, "a credential appeared in an error, a log record or the settings"

    @pytest.mark.asyncio
    async def test_health(self, harness: ContractHarness) -> None:
        connector = await harness.connector()
        report = await connector.health()
        assert isinstance(report, HealthReport)
        assert report.department == self.department and report.status == "UP"
        harness.faults(maintenance=True)
        report = await connector.health()  # reports, never raises
        assert report.status in ("MAINTENANCE", "DOWN")
