"""Prometheus metrics at ``/metrics``.

Series (all prefixed ``onematter_``):

- ``request_duration_seconds{operation,status}`` histogram: every HTTP request,
  labelled by GraphQL operation or by path for the other routes. The
  ``operation`` values stay few whatever callers send (:func:`operation_label`):
  the operation's name (names admitted first come, from signed-in callers, at
  most ``MAX_OPERATION_NAMES`` per process, then ``other``), a trusted
  document's name or ``document:<sha256 prefix>``, ``anonymous`` for an
  unnamed operation, ``invalid`` for a document that did not parse or validate;
- ``department_calls_total{department,outcome}``: pipeline calls by outcome
  (ok, cache_hit, coalesced, stale, error);
- ``department_call_duration_seconds{department,outcome}`` histogram;
- ``department_upstream_attempts_total{department}``, ``department_retries_total{department}``;
- ``department_errors_total{department,code}``;
- ``department_cache_total{department,result}``: per key, hit or miss;
- ``department_breaker_state{department}``: 0 closed, 1 half-open, 2 open;
  ``department_breaker_opened_total{department}``.

Department series come from the call pipeline's observers
(``CallPipeline.observers``, one ``CallEvent`` per call), so nothing here
touches connector code. With ``onematter serve --workers N`` each worker is a
process: ``prepare_workers()`` points prometheus_client's multiprocess mode at a
shared directory before the workers start, and any worker's ``/metrics``
answers for all of them. The breaker gauge is live-only (``liveall``: one
series per live worker, label ``pid``): a worker that exits removes its own
(:func:`worker_exiting`), and a scrape removes those of workers that died
(:func:`forget_dead_workers`). ``/metrics`` answers in the OpenMetrics format
when the scraper's ``Accept`` asks for ``application/openmetrics-text``.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.context import Context
    from gateway.services import Services

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Portal screens answer in milliseconds when warm and in seconds when a department is slow.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)
BREAKER_VALUES = {"CLOSED": 0, "HALF_OPEN": 1, "OPEN": 2}
# Paths labelled as themselves; anything else is "other" (unbounded paths, unbounded labels).
KNOWN_PATHS = frozenset({"/graphql", "/metrics", "/livez", "/readyz", "/healthz", "/"})
OPERATION_STATE_KEY = "graphql_operation"
# Operation names kept as label values per process; later ones are "other".
MAX_OPERATION_NAMES = 64
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")

REQUEST_DURATION = Histogram(
    "onematter_request_duration_seconds",
    "HTTP request latency by GraphQL operation (or path) and status.",
    ["operation", "status"],
    buckets=LATENCY_BUCKETS,
)
DEPARTMENT_CALLS = Counter(
    "onematter_department_calls",
    "Department calls through the pipeline, by outcome.",
    ["department", "outcome"],
)
DEPARTMENT_DURATION = Histogram(
    "onematter_department_call_duration_seconds",
    "Department call latency as the pipeline saw it (cache, retries and waits included).",
    ["department", "outcome"],
    buckets=LATENCY_BUCKETS,
)
DEPARTMENT_ATTEMPTS = Counter(
    "onematter_department_upstream_attempts", "HTTP attempts made to a department.", ["department"]
)
DEPARTMENT_RETRIES = Counter(
    "onematter_department_retries", "Attempts beyond the first (transient failures).", ["department"]
)
DEPARTMENT_ERRORS = Counter(
    "onematter_department_errors", "Failed department calls by error code.", ["department", "code"]
)
DEPARTMENT_CACHE = Counter(
    "onematter_department_cache", "Cache lookups per key: hit or miss.", ["department", "result"]
)
BREAKER_STATE = Gauge(
    "onematter_department_breaker_state",
    "Circuit breaker: 0 closed, 1 half-open, 2 open (with several workers, one series per live worker).",
    ["department"],
    # Each live worker's own state (label pid); a dead worker's series go with it.
    multiprocess_mode="liveall",
)
BREAKER_OPENED = Counter(
    "onematter_department_breaker_opened", "Times the circuit breaker opened.", ["department"]
)


# -- department calls ------------------------------------------------------------------


class PipelineObserver:
    """A ``CallPipeline`` observer that turns each ``CallEvent`` into series."""

    def __init__(self, department: str) -> None:
        self.department = department
        self.breaker = "CLOSED"
        self._calls: dict[str, Any] = {}
        self._durations: dict[str, Any] = {}
        self._attempts = DEPARTMENT_ATTEMPTS.labels(department)
        self._retries = DEPARTMENT_RETRIES.labels(department)
        self._hits = DEPARTMENT_CACHE.labels(department, "hit")
        self._misses = DEPARTMENT_CACHE.labels(department, "miss")
        self._state = BREAKER_STATE.labels(department)
        self._state.set(0)

    def __call__(self, event: Any) -> None:
        outcome = str(event.outcome)
        calls = self._calls.get(outcome)
        if calls is None:  # label children cached: .labels() is the costly part
            calls = self._calls[outcome] = DEPARTMENT_CALLS.labels(self.department, outcome)
            self._durations[outcome] = DEPARTMENT_DURATION.labels(self.department, outcome)
        calls.inc()
        self._durations[outcome].observe(event.elapsed_s)
        if event.attempts:
            self._attempts.inc(event.attempts)
            if event.attempts > 1:
                self._retries.inc(event.attempts - 1)
        if event.code and outcome in ("error", "stale"):
            DEPARTMENT_ERRORS.labels(self.department, str(event.code)).inc()
        if event.cache_hits:
            self._hits.inc(event.cache_hits)
        if event.cache_misses:
            self._misses.inc(event.cache_misses)
        state = event.breaker.value
        if state != self.breaker:
            self.breaker = state
            self._state.set(BREAKER_VALUES.get(state, 0))
            if state == "OPEN":
                BREAKER_OPENED.labels(self.department).inc()


def instrument(services: Services) -> None:
    """Attach an observer to every connector's call pipeline (once per pipeline)."""
    for name, connector in services.connectors.items():
        observers = connector.pipeline.observers
        if not any(isinstance(o, PipelineObserver) for o in observers):
            observers.append(PipelineObserver(name))


# -- HTTP requests ---------------------------------------------------------------------


class ResponseStatus:
    """An ASGI ``send`` that remembers the response's status (500 until one is sent)."""

    __slots__ = ("send", "status")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self.send(message)


class MetricsMiddleware:
    """Time every HTTP request; the GraphQL extension below names its operation."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._children: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        recording = ResponseStatus(send)
        try:
            await self.app(scope, receive, recording)
        finally:
            path = scope["path"]
            state = scope.get("state") or {}
            operation = state.get(OPERATION_STATE_KEY) or (path if path in KNOWN_PATHS else "other")
            key = (operation, str(recording.status))
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = REQUEST_DURATION.labels(*key)
            child.observe(time.perf_counter() - started)


class OperationNames:
    """The operation names that may become label values: at most ``limit``, first come.

    A name is admitted only from a signed-in caller whose document validated;
    an anonymous caller may use an admitted name but never adds one. Past the
    limit every new name is ``other``. Per process: with N workers, at most N
    times ``limit`` (in practice the same few names in each).
    """

    def __init__(self, limit: int | None = None) -> None:
        self.limit = MAX_OPERATION_NAMES if limit is None else limit
        self.admitted: set[str] = set()

    def label(self, name: str, *, authenticated: bool) -> str:
        if name in self.admitted:
            return name
        if authenticated and len(self.admitted) < self.limit and _NAME.fullmatch(name):
            self.admitted.add(name)
            return name
        return "other"


class OperationLabel(SchemaExtension):
    """Name the operation for the request histogram (see :func:`operation_label`)."""

    def __init__(self, *, names: OperationNames, trusted: frozenset[str] | None = None) -> None:
        self.names = names
        self.trusted = trusted
        self.validated = False

    def on_validate(self):  # type: ignore[no-untyped-def]
        yield
        # Later, execution errors land in the same list: read it now.
        self.validated = not self.execution_context.pre_execution_errors

    def on_operation(self):  # type: ignore[no-untyped-def]
        context: Context | None = self.execution_context.context
        state = context.request.state if context is not None else None
        if state is not None:
            # Until the document is known to be good: a parse error may leave by an exception.
            setattr(state, OPERATION_STATE_KEY, "invalid")
        yield
        if context is not None and state is not None:
            authenticated = context.principal.authenticated
            label = (
                operation_label(
                    self.execution_context,
                    names=self.names,
                    trusted=self.trusted,
                    authenticated=authenticated,
                )
                if self.validated
                else "invalid"
            )
            setattr(state, OPERATION_STATE_KEY, label)


def operation_labels(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """The schema extension that names operations, with one name book per app."""
    from gateway.security import limits_settings
    from schema.limits import load_trusted_documents

    path = limits_settings(settings).trusted_documents
    trusted = frozenset(load_trusted_documents(path)) if path is not None else None
    return [functools.partial(OperationLabel, names=OperationNames(), trusted=trusted)]


def operation_label(
    execution_context: Any,
    *,
    names: OperationNames,
    trusted: frozenset[str] | None = None,
    authenticated: bool = False,
) -> str:
    """The ``operation`` label: a bounded set of values, whatever callers send.

    ``invalid`` when the document did not parse (the extension also uses it for a
    document that did not validate or was refused before execution); for one of the
    trusted documents, its operation's name, else ``document:`` and the first 12
    hex digits of its sha256 (both bounded by the trusted set); for any other
    document ``anonymous`` if the operation has no name, the name if
    :class:`OperationNames` admits it, else ``other``.
    """
    document = execution_context.graphql_document
    if document is None:
        return "invalid"
    from graphql import OperationDefinitionNode

    wanted = execution_context.operation_name
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = next(
        (o for o in operations if wanted is None or (o.name and o.name.value == wanted)),
        None,
    )
    if chosen is None or (wanted is None and len(operations) > 1):
        return "invalid"
    name = chosen.name.value if chosen.name else None
    if trusted:
        digest = hashlib.sha256((execution_context.query or "").encode()).hexdigest()
        if digest in trusted:
            return name or f"document:{digest[:12]}"
    if name is None:
        return "anonymous"
    return names.label(name, authenticated=authenticated)


# -- /metrics and worker processes -------------------------------------------------------


def _registry() -> CollectorRegistry:
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        from prometheus_client import multiprocess

        forget_dead_workers(folder)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


async def endpoint(request: Request) -> Response:
    """``GET /metrics``: Prometheus text, or OpenMetrics when the scraper's Accept asks for it."""
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(_registry()), headers={"Content-Type": content_type})


_LIVE_FILE = re.compile(r"gauge_live[a-z]*_(\d+)\.db")


def forget_dead_workers(folder: str) -> list[int]:
    """Drop the live-only gauges of worker processes that are gone; returns their pids.

    uvicorn replaces a worker that died without telling the others; its
    breaker gauge would otherwise stay in every scrape. Counters and
    histograms of a dead worker are kept: their totals must never go back.
    """
    from prometheus_client import multiprocess

    gone: list[int] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return gone
    for name in names:
        match = _LIVE_FILE.fullmatch(name)
        if match and not _alive(int(match[1])):
            gone.append(int(match[1]))
            multiprocess.mark_process_dead(int(match[1]), folder)  # type: ignore[no-untyped-call]
    return gone


def worker_exiting() -> None:
    """A worker's last step (lifespan shutdown): its live-only gauges go with it."""
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid(), folder)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def prepare_workers(workers: int) -> Callable[[], None]:
    """Before uvicorn starts N > 1 workers: a fresh multiprocess directory; returns its cleanup.

    Must run before the workers import prometheus_client (they inherit the
    environment). A directory set by the operator is used as is, and kept.
    """
    if workers <= 1 or os.environ.get(MULTIPROC_ENV):
        return lambda: None
    folder = tempfile.mkdtemp(prefix="onematter-metrics-")
    os.environ[MULTIPROC_ENV] = folder

    def cleanup() -> None:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)

    return cleanup
