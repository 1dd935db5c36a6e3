"""The one call pipeline every department call goes through.

::

    cache (fresh TTL) ─ hit ─────────────────────────────────────▶ value
      │ miss
    coalesce: an identical call already in flight? ─ yes ─ share its answer
      │ no
    deadline (asyncio.timeout, the whole call, retries included)
      └ circuit breaker (open: refuse at once)
          └ retry (tenacity; transient failures only, backoff + jitter, Retry-After)
              └ fetch()  ── connector code: httpx calls and parsing
      │ failed with DepartmentUnavailable / DepartmentTimeout?
    stale-if-error: the last good answer within the stale window, marked stale
      │
    counters and observers (metrics)

A connector builds one ``CallPipeline`` and wraps each lookup:
``await self.pipeline.call("project", code, lambda: self._get(code))``.
Inside ``fetch`` it makes httpx calls, passes responses through
``check_response`` and parses with ``parsed``; whatever else escapes is
translated by ``connectors.failures.translate``, the one place department
failures become the error tree of domain/errors.py. Retries compose
tenacity's strategies (stop after N attempts or before the deadline, wait
for Retry-After or an exponential backoff with jitter) with an injectable
``sleep``. docs/connectors.md has the failure-semantics table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from connectors.breaker import BreakerState, CircuitBreaker
from connectors.cache import RETRY_PRIMARY_S, OutageWindow
from connectors.failures import check_response, parsed, translate
from connectors.tracing import Attempt, attempt_var
from domain.errors import (
    ConnectorError,
    DepartmentRejected,
    DepartmentTimeout,
    DepartmentUnavailable,
)
from domain.records import DepartmentView, SourceMeta

if TYPE_CHECKING:
    from aiocache.base import BaseCache

    from connectors.settings import ConnectorSettings

# What a connector module needs from here: the pipeline, its results, and the two
# failure helpers every fetch uses (defined in connectors.failures).
__all__ = [
    "CallEvent",
    "CallPipeline",
    "Fetched",
    "PipelineStats",
    "check_response",
    "parsed",
    "with_source",
    "with_sources",
]

T = TypeVar("T")
log = logging.getLogger("onematter.connectors")

Outcome = Literal["ok", "cache_hit", "coalesced", "stale", "error"]

_skip_fresh_cache: ContextVar[bool] = ContextVar("onematter_skip_fresh_cache", default=False)


@contextlib.contextmanager
def fresh_calls() -> Iterator[None]:
    """Lookups in this block ask the department even when the cache holds a fresh answer.

    For a refresh a department asked for (its webhook said the answer changed); the
    new answer is cached as usual, and a failure still falls back to the stale copy.
    """
    token = _skip_fresh_cache.set(True)
    try:
        yield
    finally:
        _skip_fresh_cache.reset(token)


# -- results and events ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fetched(Generic[T]):
    """A department answer and where it came from (fresh, cached or stale)."""

    value: T
    meta: SourceMeta


def with_source(fetched: Fetched[DepartmentView | None]) -> DepartmentView | None:
    """The fetched record stamped with where it came from, or None (unknown to the department)."""
    return None if fetched.value is None else replace(fetched.value, source=fetched.meta)


def with_sources(found: Mapping[str, Fetched[DepartmentView | None]]) -> dict[str, DepartmentView]:
    """``with_source`` over a batch, leaving out the keys the department does not know."""
    return {key: replace(f.value, source=f.meta) for key, f in found.items() if f.value is not None}


def settled_sources(
    found: Mapping[str, Fetched[DepartmentView | None] | ConnectorError],
) -> dict[str, Fetched[DepartmentView | None] | ConnectorError]:
    """``call_batch_settled``'s answers, each view stamped with where it came from.

    A key the department does not know keeps its ``Fetched(None, meta)``: "not known"
    is an answer too, fresh or a stale copy.
    """
    return {
        key: f if isinstance(f, ConnectorError) or f.value is None else Fetched(with_source(f), f.meta)
        for key, f in found.items()
    }


@dataclass(frozen=True, slots=True)
class CallEvent:
    """What observers see once per ``call`` / ``call_batch``.

    ``attempts`` counts upstream attempts this call made (0 for cache hits and
    coalesced calls); ``elapsed_s`` is measured with the pipeline's clock.
    """

    department: str
    op: str
    outcome: Outcome
    code: str | None  # the error code for "error" and "stale"
    attempts: int
    elapsed_s: float
    breaker: BreakerState
    keys: int = 1
    cache_hits: int = 0
    cache_misses: int = 0


Observer = Callable[[CallEvent], None]


@dataclass(frozen=True, slots=True)
class PipelineStats:
    """A snapshot of one department's counters (``pipeline.stats()``)."""

    department: str
    calls: int
    upstream_calls: int  # calls that went upstream (each may make several attempts)
    attempts: int
    retries: int
    max_attempts: int  # most attempts any one call made
    errors: dict[str, int]  # by error code, counted once per failed upstream call
    cache_hits: int
    cache_misses: int
    stale_served: int
    coalesced: int
    breaker_state: BreakerState
    breaker_opened: int
    consecutive_failures: int
    last_latency_ms: float | None
    last_error: str | None  # the last error code, None after a success
    last_success_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(slots=True)
class _Counters:
    calls: int = 0
    upstream_calls: int = 0
    attempts: int = 0
    retries: int = 0
    max_attempts: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    cache_hits: int = 0
    cache_misses: int = 0
    stale_served: int = 0
    coalesced: int = 0
    last_latency_ms: float | None = None
    last_error: str | None = None
    last_success_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class _Entry:
    """What the cache holds: the value, when it was fetched (wall clock), how long it took."""

    value: Any
    stored_at: float
    latency_ms: float


# -- retry strategies tenacity does not ship ------------------------------------------


# Lowercase like the tenacity strategies they sit beside.
class stop_before_deadline(stop_base):
    """Stop when the next sleep would end at or past ``deadline`` on ``clock``.

    tenacity's own ``stop_before_delay`` measures with ``time.monotonic`` from its
    first attempt; this one uses the pipeline's injectable clock and the call's
    start, so a test's fake clock moves it and the bare first attempt counts.
    """

    def __init__(self, deadline: float, clock: Callable[[], float]) -> None:
        self.deadline = deadline
        self.clock = clock

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.clock() + retry_state.upcoming_sleep >= self.deadline


class wait_retry_after(wait_base):
    """The department's Retry-After when the failure carries one, else ``otherwise``."""

    def __init__(self, *, otherwise: wait_base) -> None:
        self.otherwise = otherwise

    def __call__(self, retry_state: RetryCallState) -> float:
        failure = retry_state.outcome.exception() if retry_state.outcome else None
        after = failure.retry_after if isinstance(failure, ConnectorError) else None
        return self.otherwise(retry_state) if after is None else after


# -- the pipeline ------------------------------------------------------------------


class CallPipeline:
    """Deadline, breaker, retries, cache, coalescing and counters for one department.

    Args:
        department: the connector's name; it names every error and counter.
        settings: the connector's settings (deadline, retry, cache, breaker).
        cache: an aiocache cache (memory or Redis, see connectors/cache.py).
        namespace: key prefix, used only if the cache has no namespace of its own.
        sleep: awaited between retries; tests pass a fake that moves a fake clock.
        clock: monotonic seconds, for deadlines, backoff budget, breaker and latency.
        now: wall-clock seconds, for cache ages (shared by replicas) and ``fetched_at``.

    ``sleep``, ``clock`` and ``now`` are also public attributes, so a test can
    swap them on a connector's pipeline after the connector is built.
    ``observers`` is a list of callables, each called with a ``CallEvent`` after
    every call (gateway metrics append theirs); an observer's exception is logged
    and ignored.
    """

    def __init__(
        self,
        department: str,
        settings: ConnectorSettings,
        cache: BaseCache,
        *,
        namespace: str = "onematter",
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.department = department
        self.settings = settings
        self.cache = cache
        self.sleep = sleep
        self.clock = clock
        self.now = now
        self.observers: list[Observer] = []
        # The cache's own namespace wins (build_cache sets it); else ours.
        self._namespace = None if getattr(cache, "namespace", None) else namespace
        self.breaker = CircuitBreaker(
            failures=settings.breaker.failures,
            reset_s=settings.breaker.reset_s,
            clock=lambda: self.clock(),
            on_change=self._breaker_changed,
        )
        self._counters = _Counters()
        # A cache outage is logged one line per kind (read/write, exception class) per window.
        self._cache_outage = OutageWindow(RETRY_PRIMARY_S, clock=lambda: self.clock())
        self._inflight: dict[tuple[str, str], asyncio.Future[Fetched[Any]]] = {}

    # -- public API --------------------------------------------------------------------

    async def call(
        self,
        op: str,
        key: str,
        fetch: Callable[[], Awaitable[T]],
        *,
        idempotent: bool = True,
        cacheable: bool = True,
    ) -> Fetched[T]:
        """Run ``fetch`` through the pipeline; ``(op, key)`` names the answer for cache and coalescing.

        ``fetch`` returns the parsed answer (``None`` for "not known", which is
        cached too). Calls that change state pass ``idempotent=False``: they are
        never retried, cached or coalesced. Raises a ``ConnectorError``.
        """
        started = self.clock()
        self._counters.calls += 1
        if not idempotent:
            return await self._load(op, None, fetch, idempotent=False, started=started, missed=0)
        cache_key = self._key(op, key) if cacheable and self._caching else None
        missed = 0
        if cache_key is not None:
            # With ttl_s 0 no entry is fresh: only the stale copy is kept, read on a failure.
            entry = await self._cache_get(cache_key) if self.settings.cache.ttl_s > 0 else None
            if entry is not None and self._fresh(entry) and not _skip_fresh_cache.get():
                self._counters.cache_hits += 1
                self._emit(op, "cache_hit", started, cache_hits=1)
                return Fetched(entry.value, self._meta(started, entry.stored_at))
            self._counters.cache_misses += 1
            missed = 1
        shared = self._inflight.get((op, key))
        if shared is not None:
            self._counters.coalesced += 1
            result: Fetched[T] = await asyncio.shield(shared)
            self._emit(op, "coalesced", started, cache_misses=missed)
            meta = result.meta
            return Fetched(
                result.value, self._meta(started, meta.fetched_at.timestamp(), meta.stale, meta.failure)
            )
        task = asyncio.ensure_future(
            self._load(op, cache_key, fetch, idempotent=True, started=started, missed=missed)
        )
        self._share((op, key), task)
        return await asyncio.shield(task)

    async def call_batch(
        self,
        op: str,
        keys: Sequence[str],
        fetch_missing: Callable[[list[str]], Awaitable[Mapping[str, T]]],
    ) -> dict[str, Fetched[T | None]]:
        """Answer many keys with one upstream call for those not fresh in the cache.

        ``fetch_missing(keys)`` returns a mapping; keys it leaves out are cached as
        ``None`` (the department does not know them). Keys already in flight in
        another call are shared, not fetched twice. If the upstream call fails,
        each key falls back to its stale answer; if any key has none, the error
        is raised (the batch is answered whole or not at all; ``call_batch_settled``
        answers each key alone).
        """
        settled = await self.call_batch_settled(op, keys, fetch_missing)
        answered: dict[str, Fetched[T | None]] = {}
        for key, outcome in settled.items():
            if isinstance(outcome, ConnectorError):
                raise outcome
            answered[key] = outcome
        return answered

    async def call_batch_settled(
        self,
        op: str,
        keys: Sequence[str],
        fetch_missing: Callable[[list[str]], Awaitable[Mapping[str, T]]],
    ) -> dict[str, Fetched[T | None] | ConnectorError]:
        """``call_batch``, each key settled on its own: one failure never blanks the batch.

        Each key maps to a ``Fetched`` (fresh, from the cache, or, when the upstream
        call failed, its stale copy: ``meta.stale``, ``meta.fetched_at`` the copy's
        time and ``meta.failure`` why the fresh call failed) or, for a key with no
        copy, the ``ConnectorError``. A caller falls back per key, as a DataLoader
        reports a failure per key.
        """
        started = self.clock()
        self._counters.calls += 1
        wanted = list(dict.fromkeys(keys))
        result: dict[str, Fetched[T | None] | ConnectorError] = {}
        hits = 0
        missing: list[str] = []
        entries: dict[str, _Entry | None] = {}
        # With ttl_s 0 no entry is fresh: skip the read (the stale copy is read on a failure).
        if self._caching and wanted and self.settings.cache.ttl_s > 0:
            entries = dict(
                zip(wanted, await self._cache_multi_get([self._key(op, k) for k in wanted]), strict=True)
            )
        for key in wanted:
            entry = entries.get(key)
            if entry is not None and self._fresh(entry) and not _skip_fresh_cache.get():
                result[key] = Fetched(entry.value, self._meta(started, entry.stored_at))
                hits += 1
            else:
                missing.append(key)
        self._counters.cache_hits += hits
        if self._caching:
            self._counters.cache_misses += len(missing)
        if not missing:
            if wanted:
                self._emit(op, "cache_hit", started, keys=len(wanted), cache_hits=hits)
            return {k: result[k] for k in wanted}

        waiting: dict[str, asyncio.Future[Fetched[Any]]] = {}
        mine: list[str] = []
        for key in missing:
            shared = self._inflight.get((op, key))
            if shared is not None:
                waiting[key] = shared
            else:
                mine.append(key)
        self._counters.coalesced += len(waiting)
        if mine:
            loop = asyncio.get_running_loop()
            futures: dict[str, asyncio.Future[Fetched[Any]]] = {k: loop.create_future() for k in mine}
            for key, future in futures.items():
                self._share((op, key), future)
            task = asyncio.ensure_future(self._load_batch(op, mine, fetch_missing, futures, started, hits))
            task.add_done_callback(_retrieve)
            waiting.update(futures)
        for key, future in waiting.items():
            try:
                result[key] = await asyncio.shield(future)
            except ConnectorError as exc:
                result[key] = exc
        if not mine:
            self._emit(op, "coalesced", started, keys=len(wanted), cache_hits=hits)
        return {k: result[k] for k in wanted}

    def stats(self) -> PipelineStats:
        c = self._counters
        return PipelineStats(
            department=self.department,
            calls=c.calls,
            upstream_calls=c.upstream_calls,
            attempts=c.attempts,
            retries=c.retries,
            max_attempts=c.max_attempts,
            errors=dict(c.errors),
            cache_hits=c.cache_hits,
            cache_misses=c.cache_misses,
            stale_served=c.stale_served,
            coalesced=c.coalesced,
            breaker_state=self.breaker.state,
            breaker_opened=self.breaker.opened_count,
            consecutive_failures=self.breaker.consecutive_failures,
            last_latency_ms=c.last_latency_ms,
            last_error=c.last_error,
            last_success_at=c.last_success_at,
        )

    # -- loading -----------------------------------------------------------------------

    async def _load(
        self,
        op: str,
        cache_key: str | None,
        fetch: Callable[[], Awaitable[T]],
        *,
        idempotent: bool,
        started: float,
        missed: int,
    ) -> Fetched[T]:
        try:
            value, attempts = await self._guarded(fetch, idempotent=idempotent)
        except ConnectorError as exc:
            stale = await self._stale(exc, [cache_key]) if cache_key is not None else {}
            entry = stale.get(cache_key) if cache_key is not None else None
            if entry is None:
                self._emit(op, "error", started, code=exc.code, attempts=exc.attempts, cache_misses=missed)
                raise
            self._counters.stale_served += 1
            self._emit(op, "stale", started, code=exc.code, attempts=exc.attempts, cache_misses=missed)
            return Fetched(entry.value, self._meta(started, entry.stored_at, failure=exc))
        fetched_at = self.now()
        if cache_key is not None:
            await self._cache_set(cache_key, _Entry(value, fetched_at, self._counters.last_latency_ms or 0.0))
        self._emit(op, "ok", started, attempts=attempts, cache_misses=missed)
        return Fetched(value, self._meta(started, fetched_at))

    async def _load_batch(
        self,
        op: str,
        keys: list[str],
        fetch_missing: Callable[[list[str]], Awaitable[Mapping[str, Any]]],
        futures: dict[str, asyncio.Future[Fetched[Any]]],
        started: float,
        hits: int,
    ) -> None:
        try:
            try:
                answer, attempts = await self._guarded(lambda: fetch_missing(list(keys)), idempotent=True)
                if not isinstance(answer, Mapping):
                    raise translate(TypeError("batch answer is not a mapping"), department=self.department)
            except ConnectorError as exc:
                cache_keys = {k: self._key(op, k) for k in keys}
                stale = await self._stale(exc, list(cache_keys.values()))
                served = 0
                for key, future in futures.items():
                    entry = stale.get(cache_keys[key])
                    if entry is None:
                        future.set_exception(exc)
                    else:
                        served += 1
                        future.set_result(
                            Fetched(entry.value, self._meta(started, entry.stored_at, failure=exc))
                        )
                self._counters.stale_served += served
                outcome: Outcome = "stale" if served == len(keys) else "error"
                self._emit(
                    op,
                    outcome,
                    started,
                    code=exc.code,
                    attempts=exc.attempts,
                    keys=len(keys),
                    cache_hits=hits,
                    cache_misses=len(keys),
                )
                return
            fetched_at = self.now()
            latency = self._counters.last_latency_ms or 0.0
            if self._caching:
                await self._cache_multi_set(
                    [(self._key(op, k), _Entry(answer.get(k), fetched_at, latency)) for k in keys]
                )
            for key, future in futures.items():
                future.set_result(Fetched(answer.get(key), self._meta(started, fetched_at)))
            self._emit(
                op, "ok", started, attempts=attempts, keys=len(keys), cache_hits=hits, cache_misses=len(keys)
            )
        except BaseException as exc:  # cancelled or a bug: never leave a waiter hanging
            for future in futures.values():
                if future.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(exc)
            raise

    async def _guarded(self, fetch: Callable[[], Awaitable[T]], *, idempotent: bool) -> tuple[T, int]:
        """Deadline → breaker → retry → fetch. Returns the value and the attempts made."""
        deadline_s = self.settings.deadline_s
        started = self.clock()
        if not self.breaker.allow():
            exc = DepartmentUnavailable(
                f"{self.department} is unavailable: circuit open after repeated failures",
                department=self.department,
            )
            self._failed(exc, attempts=0)
            raise exc
        tries = [0]
        self._counters.upstream_calls += 1
        try:
            async with asyncio.timeout(deadline_s) as scope:
                value = await self._retrying(fetch, tries, started, idempotent=idempotent)
        except TimeoutError as exc:
            if not scope.expired():
                raise
            self.breaker.record_failure()
            error = DepartmentTimeout(
                f"{self.department} did not answer within the {deadline_s:g} s deadline",
                department=self.department,
            )
            self._failed(error, attempts=tries[0])
            raise error from exc
        except ConnectorError as exc:
            if isinstance(exc, DepartmentRejected):
                self.breaker.record_success()  # it answered: the department is up
            else:
                self.breaker.record_failure()
            self._failed(exc, attempts=tries[0])
            raise
        except BaseException:
            self.breaker.release()
            raise
        self.breaker.record_success()
        c = self._counters
        c.last_latency_ms = (self.clock() - started) * 1000.0
        c.last_error = None
        c.last_success_at = datetime.fromtimestamp(self.now(), UTC)
        self._count_attempts(tries[0])
        return value, tries[0]

    async def _retrying(
        self, fetch: Callable[[], Awaitable[T]], tries: list[int], started: float, *, idempotent: bool
    ) -> T:
        async def attempt() -> T:
            tries[0] += 1
            # Tells a traced HTTP request which department call and which try it is.
            marked = attempt_var.set(Attempt(self.department, tries[0]))
            try:
                return await fetch()
            except ConnectorError:
                raise
            except Exception as exc:
                raise translate(exc, department=self.department) from exc
            finally:
                attempt_var.reset(marked)

        # The first attempt runs bare: most calls succeed, and tenacity's machinery
        # costs more CPU than a loopback round trip. A transient failure hands over to
        # tenacity, which counts it as its own first attempt.
        try:
            return await attempt()
        except ConnectorError as exc:
            if not (exc.transient and idempotent):
                raise
            first: ConnectorError | None = exc
        async for trying in self._retry_policy(started):
            with trying:
                if first is not None:
                    failed, first = first, None
                    raise failed
                return await attempt()
        raise AssertionError("tenacity re-raises the last failure")  # pragma: no cover

    def _retry_policy(self, started: float) -> AsyncRetrying:
        """tenacity's strategies over the connector's ``[retry]`` settings, for one call."""
        retry = self.settings.retry
        backoff = wait_exponential(multiplier=retry.backoff_s, max=retry.max_backoff_s)
        return AsyncRetrying(
            stop=stop_after_attempt(retry.attempts)
            | stop_before_deadline(started + self.settings.deadline_s, self.clock),
            wait=wait_retry_after(otherwise=backoff + wait_random(0, retry.jitter_s)),
            retry=retry_if_exception(lambda exc: isinstance(exc, ConnectorError) and exc.transient),
            sleep=self.sleep,
            reraise=True,
        )

    # -- cache -------------------------------------------------------------------------

    @property
    def _caching(self) -> bool:
        c = self.settings.cache
        return c.ttl_s + c.stale_s > 0

    def _key(self, op: str, key: str) -> str:
        return f"{self.department}:{op}:{key}"

    def _fresh(self, entry: _Entry) -> bool:
        return self.now() - entry.stored_at < self.settings.cache.ttl_s

    def _usable_stale(self, entry: _Entry) -> bool:
        c = self.settings.cache
        return self.now() - entry.stored_at < c.ttl_s + c.stale_s

    async def _stale(self, exc: ConnectorError, cache_keys: list[str]) -> dict[str, _Entry]:
        """Entries within the stale window, if ``exc`` is a failure stale answers may cover."""
        if not isinstance(exc, DepartmentUnavailable | DepartmentTimeout) or not self._caching:
            return {}
        # Read again: another caller or replica may have stored a newer answer meanwhile.
        entries = await self._cache_multi_get(cache_keys)
        return {
            k: e for k, e in zip(cache_keys, entries, strict=True) if e is not None and self._usable_stale(e)
        }

    async def _cache_get(self, cache_key: str) -> _Entry | None:
        try:
            entry = await self.cache.get(cache_key, namespace=self._namespace)
        except Exception as exc:  # a cache outage degrades to "miss", never to a failed call
            self._cache_failed("read", exc)
            return None
        return entry if isinstance(entry, _Entry) else None

    async def _cache_multi_get(self, cache_keys: list[str]) -> list[_Entry | None]:
        try:
            entries = await self.cache.multi_get(cache_keys, namespace=self._namespace)
        except Exception as exc:
            self._cache_failed("read", exc)
            return [None] * len(cache_keys)
        return [e if isinstance(e, _Entry) else None for e in entries]

    def _cache_ttl(self) -> float:
        c = self.settings.cache
        # Kept for the fresh TTL plus the stale window; freshness is judged by age.
        return float(math.ceil(c.ttl_s + c.stale_s))

    async def _cache_set(self, cache_key: str, entry: _Entry) -> None:
        try:
            await self.cache.set(cache_key, entry, ttl=self._cache_ttl(), namespace=self._namespace)
        except Exception as exc:
            self._cache_failed("write", exc)

    async def _cache_multi_set(self, pairs: list[tuple[str, _Entry]]) -> None:
        try:
            await self.cache.multi_set(pairs, ttl=self._cache_ttl(), namespace=self._namespace)
        except Exception as exc:
            self._cache_failed("write", exc)

    def _cache_failed(self, kind: str, exc: Exception) -> None:
        # One line, no traceback: an unreachable cache fails the same way on every call.
        self._cache_outage.failed(
            (kind, type(exc).__name__),
            log,
            "cache %s failed for %s (%s); calls go on without the cache; not logged again for %g s",
            kind,
            self.department,
            type(exc).__name__,
            self._cache_outage.window_s,
        )

    # -- bookkeeping -------------------------------------------------------------------

    def _share(self, ident: tuple[str, str], future: asyncio.Future[Fetched[Any]]) -> None:
        self._inflight[ident] = future

        def forget(done: asyncio.Future[Fetched[Any]]) -> None:
            if self._inflight.get(ident) is done:
                del self._inflight[ident]
            _retrieve(done)

        future.add_done_callback(forget)

    def _meta(
        self, started: float, fetched_at: float, stale: bool = False, failure: ConnectorError | None = None
    ) -> SourceMeta:
        """``failure`` marks a stale copy served because the fresh call failed."""
        return SourceMeta(
            fetched_at=datetime.fromtimestamp(fetched_at, UTC),
            latency_ms=(self.clock() - started) * 1000.0,
            stale=stale or failure is not None,
            failure=failure,
        )

    def _count_attempts(self, attempts: int) -> None:
        c = self._counters
        c.attempts += attempts
        c.retries += max(0, attempts - 1)
        c.max_attempts = max(c.max_attempts, attempts)

    def _failed(self, exc: ConnectorError, *, attempts: int) -> None:
        exc.attempts = attempts
        self._count_attempts(attempts)
        self._counters.errors[exc.code] += 1
        self._counters.last_error = exc.code
        log.warning("%s call failed: %s after %d attempt(s)", self.department, exc.code, attempts)

    def _breaker_changed(self, state: BreakerState) -> None:
        level = logging.WARNING if state is BreakerState.OPEN else logging.INFO
        log.log(level, "%s circuit breaker is now %s", self.department, state.value)

    def _emit(
        self,
        op: str,
        outcome: Outcome,
        started: float,
        *,
        code: str | None = None,
        attempts: int = 0,
        keys: int = 1,
        cache_hits: int = 0,
        cache_misses: int = 0,
    ) -> None:
        if not self.observers:
            return
        event = CallEvent(
            department=self.department,
            op=op,
            outcome=outcome,
            code=code,
            attempts=attempts,
            elapsed_s=self.clock() - started,
            breaker=self.breaker.state,
            keys=keys,
            cache_hits=cache_hits,
            cache_misses=cache_misses,
        )
        for observer in list(self.observers):
            try:
                observer(event)
            except Exception:
                log.exception("a call observer failed for %s", self.department)


def _retrieve(future: asyncio.Future[Any]) -> None:
    # Mark a failure as seen: every waiter may have gone (cancelled) before it finished.
    if not future.cancelled():
        future.exception()
