"""OpenTelemetry tracing, an option (``[ops] tracing = true``).

The hub does not depend on OpenTelemetry. When tracing is on and the packages
are installed (``opentelemetry-api``, plus ``opentelemetry-instrumentation-httpx``
for spans around department calls), the schema gets Strawberry's
``OpenTelemetryExtension`` (a span per operation and per resolver) and httpx
clients are instrumented. The exporter and sampler are configured the
standard way, by running the hub under ``opentelemetry-instrument`` or with the
``OTEL_*`` environment variables. Without the packages the hub logs one
warning and runs untraced.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("onematter.tracing")


def tracing_extensions(ops: Any) -> list[Any]:
    """Schema extensions for tracing: none unless enabled and installed."""
    if not getattr(ops, "tracing", False):
        return []
    try:
        from strawberry.extensions.tracing import OpenTelemetryExtension
    except ImportError:
        log.warning("[ops] tracing is on but opentelemetry-api is not installed: tracing is off")
        return []
    _instrument_httpx()
    return [OpenTelemetryExtension]


def _instrument_httpx() -> None:
    try:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor  # type: ignore[import-not-found]
    except ImportError:
        log.info("opentelemetry-instrumentation-httpx is not installed: no spans for department calls")
        return
    instrumentor = HTTPXClientInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()
