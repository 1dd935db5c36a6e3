"""Structured JSON logs, each line carrying the request id of the hub request behind it.

``RequestIdMiddleware`` (outermost) fixes one id per HTTP request: the caller's
``X-Request-Id`` when it is a short plain token, else a new one. The id is put
in ``request.state.request_id`` (which ``gateway.context`` reads), in
``connectors.http.request_id_var`` (so every department call carries it as
``X-Request-Id``), on the response, and on every log record written while the
request runs. At the end it writes one access line (method, path, status,
duration) unless ``[ops] access_log = false``.

``logging_config(level, fmt)`` is the ``logging.config.dictConfig`` mapping
``onematter serve`` hands to uvicorn, so uvicorn's own lines and its workers'
lines come out as JSON too.
"""

from __future__ import annotations

import logging
import time
import traceback
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connectors.http import request_id_var
from domain.errors import ConfigError
from gateway.config import Settings, describe
from gateway.context import REQUEST_ID_HEADER, safe_id

access_log = logging.getLogger("onematter.access")

_HEADER = REQUEST_ID_HEADER.lower().encode("latin-1")

# Attributes every LogRecord has; anything else was passed as ``extra=`` and is logged as a field.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}


class OpsSettings(BaseModel):
    """The ``[ops]`` section: logs, metrics and tracing."""

    model_config = ConfigDict(extra="forbid")

    log_format: Literal["json", "text"] = "json"
    access_log: bool = Field(True, description="one JSON line per HTTP request")
    metrics: bool = Field(True, description="serve Prometheus metrics at /metrics")
    tracing: bool = Field(
        False, description="OpenTelemetry spans (needs the opentelemetry packages; see docs/deployment.md)"
    )
    response_cache_ttl_s: float = Field(
        2.0,
        ge=0,
        description="whole results kept this long where the scope allows (gateway/response_cache.py); 0: off",
    )


def ops_settings(settings: Settings) -> OpsSettings:
    """The validated ``[ops]`` section; raises :class:`ConfigError` naming the field."""
    try:
        return OpsSettings.model_validate(getattr(settings, "ops", None) or {})
    except ValidationError as exc:
        raise ConfigError(describe(exc, ("ops",))) from None


class RequestIdFilter(logging.Filter):
    """Stamp each record with the current request id (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request_id, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return orjson.dumps(entry, default=str).decode()


def logging_config(level: str = "info", fmt: str = "json") -> dict[str, Any]:
    """A ``dictConfig`` mapping for the hub and uvicorn (uvicorn's access log is ours instead)."""
    level = level.upper()
    formatter = (
        {"()": f"{__name__}.JsonFormatter"}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": f"{__name__}.RequestIdFilter"}},
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


class RequestIdMiddleware:
    """Fix the request id, send it upstream and back, log one access line."""

    def __init__(self, app: ASGIApp, *, access: bool = True) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = None
        for name, value in scope["headers"]:
            if name == _HEADER:
                supplied = safe_id(value.decode("latin-1"))
                break
        request_id = supplied or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        stamp = (_HEADER, request_id.encode("latin-1"))
        started = time.perf_counter()

        async def stamped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                sent = message.get("headers", ())
                for name, _ in sent:
                    if name.lower() == _HEADER:  # the app's own: ours replaces it
                        headers = [(k, v) for k, v in sent if k.lower() != _HEADER]
                        break
                else:
                    headers = list(sent)
                headers.append(stamp)
                message["headers"] = headers
            await send(message)

        token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, stamped)
        finally:
            if self.access:
                access_log.info(
                    "%s %s %d",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            request_id_var.reset(token)
