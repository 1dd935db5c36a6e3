"""Trace context on department calls: a client span per HTTP request, ``traceparent`` sent.

OpenTelemetry is optional and this module imports it only when a tracer is
in play. The gateway's tracing middleware (gateway/tracing.py) puts a tracer
in :data:`tracer_var` for the request it serves; every department request the
request causes (JSON or SOAP, retries and OAuth2 token fetches included) then
goes through :class:`TracingTransport`, which

- starts a ``CLIENT`` span named after the HTTP method, a child of the current
  span (the hub's server span, itself continuing the caller's ``traceparent``);
- puts the trace context on the request with the configured propagators
  (W3C ``traceparent`` / ``tracestate`` by default, ``OTEL_PROPAGATORS``);
- records the OpenTelemetry HTTP client attributes (``http.request.method``,
  ``server.address``, ``server.port``, ``url.full`` without its query,
  ``http.response.status_code``, ``error.type``, ``http.request.resend_count``
  for retries) and the hub's own: ``onematter.department``,
  ``onematter.request_id``, ``onematter.case_number``;
- ends when the body has been read (or the request failed).

The call pipeline marks each attempt with :func:`attempt` so a retry's span
says which resend it is; :class:`CallSpans` is a pipeline observer that adds
one ``INTERNAL`` span per pipeline call with its operation, cache outcome,
attempts and error code, so a cache hit (no HTTP request) is visible too.

Outside a traced request :data:`tracer_var` is None and the transport passes
requests through untouched.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from connectors.pipeline import CallEvent

tracer_var: ContextVar[Any] = ContextVar("onematter_tracer", default=None)


@dataclass(frozen=True, slots=True)
class Attempt:
    """The department call an HTTP request belongs to, and which try it is (1 = first)."""

    department: str
    number: int = 1


attempt_var: ContextVar[Attempt | None] = ContextVar("onematter_attempt", default=None)


@contextmanager
def attempt(department: str, number: int = 1) -> Iterator[None]:
    """Mark the HTTP requests made inside as try ``number`` of a call to ``department``."""
    token = attempt_var.set(Attempt(department, number))
    try:
        yield
    finally:
        attempt_var.reset(token)


class TracingTransport(httpx.AsyncBaseTransport):
    """Wraps a connector client's transport: a client span and trace headers per request."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        tracer = tracer_var.get()
        if tracer is None:
            return await self.inner.handle_async_request(request)
        return await _traced(self.inner, tracer, request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _traced(inner: httpx.AsyncBaseTransport, tracer: Any, request: httpx.Request) -> httpx.Response:
    from opentelemetry import propagate, trace
    from opentelemetry.trace import SpanKind, Status, StatusCode

    from connectors.http import CASE_NUMBER_HEADER, REQUEST_ID_HEADER

    url = request.url
    call = attempt_var.get()
    attributes: dict[str, Any] = {
        "http.request.method": request.method,
        "server.address": url.host,
        "server.port": url.port or (443 if url.scheme == "https" else 80),
        # Without the query: it may carry identifiers or keys the tracing backend must not keep.
        "url.full": str(url.copy_with(query=None, fragment=None)),
    }
    if call is not None:
        attributes["onematter.department"] = call.department
        if call.number > 1:
            attributes["http.request.resend_count"] = call.number - 1
    for attribute, header in (
        ("onematter.request_id", REQUEST_ID_HEADER),
        ("onematter.case_number", CASE_NUMBER_HEADER),
    ):
        value = request.headers.get(header)
        if value:
            attributes[attribute] = value
    span = tracer.start_span(request.method, kind=SpanKind.CLIENT, attributes=attributes)
    with trace.use_span(span, end_on_exit=False):
        propagate.inject(request.headers)
    try:
        response = await inner.handle_async_request(request)
    except BaseException as exc:
        span.set_attribute("error.type", type(exc).__qualname__)
        span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))
        span.end()
        raise
    status = response.status_code
    span.set_attribute("http.response.status_code", status)
    if status >= 400:
        span.set_attribute("error.type", str(status))
        span.set_status(Status(StatusCode.ERROR))
    response.stream = _SpanEndingStream(response.stream, span)
    return response


class _SpanEndingStream(httpx.AsyncByteStream):
    """Ends the client span once the body is read and closed (or failed)."""

    def __init__(self, stream: Any, span: Any) -> None:
        self._stream = stream
        self._span = span
        self._ended = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except BaseException as exc:
            from opentelemetry.trace import Status, StatusCode

            self._span.set_attribute("error.type", type(exc).__qualname__)
            self._span.set_status(Status(StatusCode.ERROR, type(exc).__qualname__))
            self._end()
            raise

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            self._end()

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self._span.end()


class CallSpans:
    """A ``CallPipeline`` observer: one ``INTERNAL`` span per pipeline call, when traced.

    The span is written when the call is over (observers run then), with the
    call's real start and end times; its attributes say what the HTTP spans
    cannot: ``onematter.department.operation``, ``onematter.cache.outcome``
    (``ok`` went upstream; ``cache_hit``, ``coalesced``, ``stale``, ``error``),
    ``onematter.attempts``, ``onematter.retries``, ``onematter.error.code`` and the
    number of keys and cache hits and misses of a batch.
    """

    def __call__(self, event: CallEvent) -> None:
        tracer = tracer_var.get()
        if tracer is None:
            return
        from opentelemetry.trace import SpanKind, Status, StatusCode

        end = time.time_ns()
        start = end - int(event.elapsed_s * 1e9)
        attributes: dict[str, Any] = {
            "onematter.department": event.department,
            "onematter.department.operation": event.op,
            "onematter.cache.outcome": event.outcome,
            "onematter.attempts": event.attempts,
            "onematter.retries": max(0, event.attempts - 1),
            "onematter.keys": event.keys,
            "onematter.cache.hits": event.cache_hits,
            "onematter.cache.misses": event.cache_misses,
            "onematter.breaker.state": str(getattr(event.breaker, "value", event.breaker)),
        }
        if event.code:
            attributes["onematter.error.code"] = event.code
        from connectors.http import case_number_var, request_id_var

        for attribute, var in (
            ("onematter.request_id", request_id_var),
            ("onematter.case_number", case_number_var),
        ):
            value = var.get()
            if value:
                attributes[attribute] = value
        span = tracer.start_span(
            f"{event.department} {event.op}", kind=SpanKind.INTERNAL, attributes=attributes, start_time=start
        )
        if event.outcome == "error":
            span.set_status(Status(StatusCode.ERROR, event.code or "error"))
        span.end(end_time=end)
