"""The one place a department's failure becomes one of the hub's errors.

- ``check_response``: an HTTP status the connector did not expect;
- ``parsed``: a body that does not parse (JSON, XML, a missing key, an unknown label);
- ``translate``: whatever else escapes a connector's fetch (httpx exceptions, timeouts,
  parse errors raised outside ``parsed``), called by the call pipeline.

Each raises or returns a ``ConnectorError`` from domain/errors.py; messages name the
department, the status or the exception type, never a URL, a credential or payload text.
docs/connectors.md has the failure-semantics table.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import TypeVar

import httpx

from domain.errors import (
    ConnectorError,
    DepartmentMalformed,
    DepartmentRejected,
    DepartmentTimeout,
    DepartmentUnavailable,
)

__all__ = [
    "PARSE_ERRORS",
    "TRANSIENT_STATUSES",
    "check_response",
    "malformed",
    "parsed",
    "retry_after_s",
    "translate",
]

T = TypeVar("T")
log = logging.getLogger("onematter.connectors")

TRANSIENT_STATUSES = frozenset({408, 429, 502, 503, 504})
# What a parser raises on a body it cannot read: json and int() (ValueError), dict and list
# access (KeyError, IndexError, TypeError, AttributeError), xml.etree / lxml / defusedxml
# (SyntaxError and ValueError subclasses). The department's answer is bad, not the hub.
PARSE_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    SyntaxError,
)


def malformed(department: str, exc: BaseException) -> DepartmentMalformed:
    """The error for an answer that does not parse; names the exception type, never its text."""
    return DepartmentMalformed(
        f"{department} answered a body that does not parse ({type(exc).__name__})", department=department
    )


def parsed(department: str, parse: Callable[[], T]) -> T:
    """Run ``parse``; a body that does not parse becomes ``DepartmentMalformed``."""
    try:
        return parse()
    except PARSE_ERRORS as exc:
        raise malformed(department, exc) from exc


def retry_after_s(response: httpx.Response, *, now: float | None = None) -> float | None:
    """The Retry-After header in seconds (delta-seconds or an HTTP date), if any."""
    raw = response.headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def check_response(
    response: httpx.Response, *, department: str, ok: Sequence[int] = (200,)
) -> httpx.Response:
    """Return ``response`` if its status is in ``ok``; else raise the right error.

    502/503/504/408/429 raise a transient ``DepartmentUnavailable`` (retried,
    429 and 503 honouring Retry-After); 401/403 and other 4xx raise
    ``DepartmentRejected`` (never retried); other statuses raise
    ``DepartmentUnavailable``. Messages carry the status, not the URL or body.
    """
    status = response.status_code
    if status in ok:
        return response
    if status in TRANSIENT_STATUSES:
        what = {429: "rate limited the hub", 503: "is unavailable (maintenance or overload)"}.get(
            status, "did not answer in time" if status in (408, 504) else "answered through a bad gateway"
        )
        raise DepartmentUnavailable(
            f"{department} {what} (HTTP {status})",
            department=department,
            transient=True,
            retry_after=retry_after_s(response),
        )
    if status in (401, 403):
        raise DepartmentRejected(
            f"{department} refused the hub's credentials (HTTP {status})",
            department=department,
            status_code=status,
        )
    if 400 <= status < 500:
        raise DepartmentRejected(
            f"{department} rejected the request (HTTP {status})", department=department, status_code=status
        )
    raise DepartmentUnavailable(f"{department} failed (HTTP {status})", department=department)


def translate(exc: BaseException, *, department: str) -> ConnectorError:
    """The hub's error for anything a connector's fetch raised."""
    if isinstance(exc, ConnectorError):
        return exc
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return DepartmentTimeout(
            f"{department} did not answer in time", department=department, transient=True
        )
    if isinstance(exc, httpx.HTTPStatusError):  # a connector used raise_for_status()
        try:
            check_response(exc.response, department=department, ok=())
        except ConnectorError as mapped:
            return mapped
    if isinstance(exc, httpx.ConnectError):
        return DepartmentUnavailable(
            f"{department} refused the connection", department=department, transient=True
        )
    if isinstance(exc, httpx.DecodingError):
        return DepartmentMalformed(f"{department} sent a body that cannot be decoded", department=department)
    if isinstance(exc, httpx.TransportError):  # read/write errors, dropped connections, protocol errors
        return DepartmentUnavailable(
            f"{department}: the connection failed ({type(exc).__name__})",
            department=department,
            transient=True,
        )
    if isinstance(exc, PARSE_ERRORS):
        return malformed(department, exc)
    log.error("unexpected error in the %s connector", department, exc_info=exc)
    return DepartmentUnavailable(f"{department}: the connector failed unexpectedly", department=department)
