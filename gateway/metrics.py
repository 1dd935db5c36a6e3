"""Prometheus metrics at ``/metrics``.

Series (all prefixed ``onematter_``):

- ``request_duration_seconds{operation,status}`` histogram: every HTTP request,
  labelled by GraphQL operation (``query:matter``, ``mutation:recordTakeover``;
  root fields checked against the schema, so the label set stays bounded) or by
  path for the other routes;
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
answers for all of them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Portal screens answer in milliseconds when warm and in seconds when a department is slow.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)
BREAKER_VALUES = {"CLOSED": 0, "HALF_OPEN": 1, "OPEN": 2}
# Paths labelled as themselves; anything else is "other" (unbounded paths, unbounded labels).
KNOWN_PATHS = frozenset({"/graphql", "/metrics", "/livez", "/readyz", "/healthz", "/"})
OPERATION_STATE_KEY = "graphql_operation"
MAX_ROOT_FIELDS = 4

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
    "Circuit breaker: 0 closed, 1 half-open, 2 open (the worst worker's, with several workers).",
    ["department"],
    multiprocess_mode="max",
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
        state = str(getattr(event.breaker, "value", event.breaker))
        if state != self.breaker:
            self.breaker = state
            self._state.set(BREAKER_VALUES.get(state, 0))
            if state == "OPEN":
                BREAKER_OPENED.labels(self.department).inc()


def instrument(services: Any) -> None:
    """Attach an observer to every connector's call pipeline (once per pipeline)."""
    for name, connector in getattr(services, "connectors", {}).items():
        observers = getattr(getattr(connector, "pipeline", None), "observers", None)
        if isinstance(observers, list) and not any(isinstance(o, PipelineObserver) for o in observers):
            observers.append(PipelineObserver(name))


# -- HTTP requests ---------------------------------------------------------------------


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
        status = 500

        async def recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            path = scope["path"]
            state = scope.get("state") or {}
            operation = state.get(OPERATION_STATE_KEY) or (path if path in KNOWN_PATHS else "other")
            key = (operation, str(status))
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = REQUEST_DURATION.labels(*key)
            child.observe(time.perf_counter() - started)


class OperationLabel(SchemaExtension):
    """Name the operation for the request histogram: ``<type>:<root fields>``."""

    def on_operation(self):  # type: ignore[no-untyped-def]
        context = self.execution_context.context
        state = getattr(getattr(context, "request", None), "state", None)
        if state is not None:
            # Until the document is known to be good: a parse error may leave by an exception.
            setattr(state, OPERATION_STATE_KEY, "invalid")
        yield
        if state is not None:
            setattr(state, OPERATION_STATE_KEY, operation_label(self.execution_context))


def operation_label(execution_context: Any) -> str:
    """``query:matter``; ``invalid`` when the document did not parse or names unknown fields."""
    document = execution_context.graphql_document
    if document is None:
        return "invalid"
    from graphql import FieldNode, OperationDefinitionNode

    wanted = execution_context.operation_name
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = next(
        (o for o in operations if wanted is None or (o.name and o.name.value == wanted)),
        None,
    )
    if chosen is None or (wanted is None and len(operations) > 1):
        return "invalid"
    kind = chosen.operation.value
    root = execution_context.schema._schema.get_root_type(chosen.operation)
    names = set()
    for selection in chosen.selection_set.selections:
        if not isinstance(selection, FieldNode):
            names.add("fragment")
            continue
        name = selection.name.value
        if root is None or (name not in root.fields and not name.startswith("__")):
            return "invalid"
        names.add(name)
    if len(names) > MAX_ROOT_FIELDS:
        return f"{kind}:multiple"
    return f"{kind}:{'+'.join(sorted(names))}"


# -- /metrics and worker processes -------------------------------------------------------


def _registry() -> CollectorRegistry:
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


async def endpoint(request: Request) -> Response:
    """``GET /metrics`` in the Prometheus text format."""
    return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)


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
