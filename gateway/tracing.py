"""OpenTelemetry tracing, an option (``[ops] tracing = true``; ``pip install 'onematter-hub[tracing]'``).

With tracing on, each HTTP request to the hub is one ``SERVER`` span that
continues the caller's trace (the ``traceparent`` / ``tracestate`` a federation
router sends, read by the configured propagators, W3C trace context by
default); Strawberry's ``OpenTelemetryExtension`` adds spans for the operation
and its resolvers; every department call is a ``CLIENT`` span that sends the
trace on (connectors/tracing.py), and each call-pipeline call an ``INTERNAL``
span with its cache outcome and attempts. The request id and case number are
attributes of the server and client spans.

The tracer provider is the one already installed (``opentelemetry-instrument``
sets one up), else one built here from the standard variables:
``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES`` (service name
``onematter-hub`` if neither names one), ``OTEL_TRACES_SAMPLER`` /
``OTEL_TRACES_SAMPLER_ARG``, ``OTEL_TRACES_EXPORTER`` (default ``otlp``; a
comma list; ``none`` for no export), ``OTEL_EXPORTER_OTLP_PROTOCOL`` /
``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` (default ``http/protobuf``; ``grpc``
needs ``opentelemetry-exporter-otlp-proto-grpc``), ``OTEL_EXPORTER_OTLP_*ENDPOINT``
and headers, ``OTEL_BSP_*`` for the batch processor, ``OTEL_PROPAGATORS``.
Without the packages the hub logs one warning and runs untraced.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from connectors.http import request_id_var
from connectors.tracing import CallSpans, tracer_var
from gateway.metrics import ResponseStatus

log = logging.getLogger("onematter.tracing")

SERVICE_NAME = "onematter-hub"
# Routes named as themselves in span names; anything else is one name (span names stay few).
ROUTES = frozenset({"/graphql", "/metrics", "/livez", "/readyz", "/healthz", "/"})
_PROTOCOLS = {"http/protobuf": "otlp_proto_http", "grpc": "otlp_proto_grpc"}


@dataclass(frozen=True)
class Tracing:
    """What tracing adds to the app: a middleware, a schema extension, a pipeline observer."""

    provider: Any  # an opentelemetry TracerProvider

    def middleware(self) -> list[Middleware]:
        return [Middleware(TraceMiddleware, provider=self.provider)]

    def extensions(self) -> list[Callable[[], Any]]:
        from strawberry.extensions.tracing import OpenTelemetryExtension

        provider = self.provider
        return [lambda: OpenTelemetryExtension(tracer_provider=provider)]

    def instrument(self, services: Any) -> None:
        """A :class:`~connectors.tracing.CallSpans` observer on every connector's pipeline."""
        for connector in getattr(services, "connectors", {}).values():
            observers = getattr(getattr(connector, "pipeline", None), "observers", None)
            if isinstance(observers, list) and not any(isinstance(o, CallSpans) for o in observers):
                observers.append(CallSpans())


def tracing_for(ops: Any, provider: Any = None) -> Tracing | None:
    """Tracing as ``[ops] tracing`` asks: None when off or when OpenTelemetry is not installed.

    ``provider`` is a tracer provider to use instead of the global one (tests
    pass one with an in-memory exporter).
    """
    if not getattr(ops, "tracing", False):
        return None
    try:
        import opentelemetry.trace  # noqa: F401
        from strawberry.extensions.tracing import OpenTelemetryExtension  # noqa: F401
    except ImportError:
        log.warning(
            "[ops] tracing is on but OpenTelemetry is not installed "
            "(pip install 'onematter-hub[tracing]'): tracing is off"
        )
        return None
    return Tracing(provider if provider is not None else global_provider())


def global_provider() -> Any:
    """The installed tracer provider, or one built from the ``OTEL_*`` variables and installed."""
    from opentelemetry import trace

    current = trace.get_tracer_provider()
    if not isinstance(current, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return current  # opentelemetry-instrument or the embedding program set one up
    provider = build_provider()
    if provider is None:
        return current
    trace.set_tracer_provider(provider)
    return trace.get_tracer_provider()


def build_provider(environ: dict[str, str] | None = None) -> Any:
    """An SDK tracer provider from the ``OTEL_*`` variables; None without opentelemetry-sdk."""
    env = os.environ if environ is None else environ
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning(
            "opentelemetry-sdk is not installed: no spans are exported (pip install 'onematter-hub[tracing]')"
        )
        return None
    resource = Resource.create()  # OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": SERVICE_NAME}))
    provider = TracerProvider(resource=resource)  # the sampler from OTEL_TRACES_SAMPLER
    for exporter in exporters(env):
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def exporters(env: Any) -> list[Any]:
    """The span exporters ``OTEL_TRACES_EXPORTER`` names (entry points ``opentelemetry_traces_exporter``)."""
    names = [n.strip() for n in env.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if n.strip()]
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    found = {ep.name: ep for ep in entry_points(group="opentelemetry_traces_exporter")}
    built = []
    for name in names:
        if name == "none":
            return []
        wanted = _PROTOCOLS.get(protocol, f"otlp_{protocol}") if name == "otlp" else name
        entry = found.get(wanted)
        if entry is None:
            log.warning(
                "OTEL_TRACES_EXPORTER %r (%s) is not installed: its spans are not exported", name, wanted
            )
            continue
        built.append(entry.load()())
    return built


class TraceMiddleware:
    """A ``SERVER`` span per HTTP request, continuing the caller's trace context."""

    def __init__(self, app: ASGIApp, *, provider: Any) -> None:
        from opentelemetry import trace

        self.app = app
        self.tracer = trace.get_tracer("onematter.gateway", tracer_provider=provider)
        self.client_tracer = trace.get_tracer("onematter.connectors", tracer_provider=provider)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from opentelemetry import context, propagate, trace
        from opentelemetry.trace import SpanKind, Status, StatusCode

        from gateway.context import safe_id

        # Every header: OTEL_PROPAGATORS may name formats other than W3C trace context (b3, …).
        carrier = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        case_number = safe_id(carrier.get("x-case-number"))
        parent = propagate.extract(carrier)
        method = scope["method"]
        path = scope["path"]
        route = path if path in ROUTES else None
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": path,
            "url.scheme": scope.get("scheme", "http"),
        }
        if route:
            attributes["http.route"] = route
        request_id = request_id_var.get()
        if request_id:
            attributes["onematter.request_id"] = request_id
        if case_number:
            attributes["onematter.case_number"] = case_number
        span = self.tracer.start_span(
            f"{method} {route}" if route else method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attributes,
        )
        recording = ResponseStatus(send)
        attached = context.attach(trace.set_span_in_context(span, parent))
        traced = tracer_var.set(self.client_tracer)
        try:
            await self.app(scope, receive, recording)
        except BaseException as exc:
            span.record_exception(exc)
            span.set_attribute("error.type", type(exc).__qualname__)
            raise
        finally:
            tracer_var.reset(traced)
            context.detach(attached)
            status = recording.status
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_attribute("error.type", str(status))
                span.set_status(Status(StatusCode.ERROR))
            span.end()
