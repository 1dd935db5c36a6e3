"""Building the ``httpx.AsyncClient`` a connector is given.

Every department call carries the request id and the case number (办件号)
of the hub request that caused it, as government exchange layers expect:
``X-Request-Id`` and ``X-Case-Number`` headers, taken from the context
variables below by a request event hook. The gateway sets them per request;
code that runs outside a request (an index refresh) gets a fresh request id
and no case number.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from connectors.settings import ConnectorSettings

request_id_var: ContextVar[str | None] = ContextVar("onematter_request_id", default=None)
case_number_var: ContextVar[str | None] = ContextVar("onematter_case_number", default=None)

REQUEST_ID_HEADER = "X-Request-Id"
CASE_NUMBER_HEADER = "X-Case-Number"
USER_AGENT = "onematter-hub/0.1"

# Connection pool per department: enough for a busy replica's fan-out, bounded so
# that one slow department cannot take every socket.
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=50, keepalive_expiry=30.0)

# Header values come from callers: keep a short plain token, nothing that splits a header.
_UNSAFE = re.compile(r"[^\x21-\x7e]")


def _header_value(value: str) -> str:
    return _UNSAFE.sub("", value)[:128]


async def _stamp(request: httpx.Request) -> None:
    request_id = request_id_var.get() or uuid.uuid4().hex
    request.headers[REQUEST_ID_HEADER] = _header_value(request_id) or uuid.uuid4().hex
    case_number = case_number_var.get()
    if case_number:
        safe = _header_value(case_number)
        if safe:
            request.headers[CASE_NUMBER_HEADER] = safe


def build_client(
    settings: ConnectorSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """A client for one department: its base URL, headers stamped, bounded pool.

    The per-request httpx timeout is the connector's deadline, a backstop only:
    the call pipeline enforces the deadline across retries. ``transport`` is for
    tests (``httpx.MockTransport``) and the benchmark's transport choice.
    """
    deadline = settings.deadline_s
    return httpx.AsyncClient(
        base_url=settings.base_url or "",
        timeout=httpx.Timeout(deadline, connect=min(deadline, 5.0)),
        limits=LIMITS,
        headers={"User-Agent": USER_AGENT},
        event_hooks={"request": [_stamp]},
        follow_redirects=False,  # a redirect from a department system is a misconfiguration
        transport=transport,
    )
