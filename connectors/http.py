"""Building the ``httpx.AsyncClient`` a connector is given.

Every department call carries the request id and the case number (办件号)
of the hub request that caused it, as government exchange layers expect:
``X-Request-Id`` and ``X-Case-Number`` headers, taken from the context
variables below by a request event hook. The gateway sets them per request;
code that runs outside a request (an index refresh) gets a fresh request id
and no case number.

The transport under the httpx API is aiohttp's (``httpx-aiohttp``): measured
by ``python -m bench.transport`` at 32 concurrent loopback GETs, httpx's own
transport spent about 3.9 ms of client CPU per request and the aiohttp-backed
one about 0.5 ms, and a matter makes five department calls
(docs/performance.md). Connectors still see only httpx.

Under it, :class:`connectors.tracing.TracingTransport` adds a client span and the
W3C ``traceparent`` to each request while a traced hub request runs.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import TYPE_CHECKING

import httpx
from httpx_aiohttp import AiohttpTransport as _AiohttpTransport

from connectors.tracing import TracingTransport, attempt
from domain.records import HealthReport

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


class AiohttpTransport(_AiohttpTransport):
    """httpx-aiohttp's transport, with aiohttp's errors mapped as httpx's own transport maps them.

    httpx-aiohttp 0.2 reports every ``aiohttp.ClientConnectionError`` (a refused
    connection, a dropped one) as ``httpx.ConnectTimeout``; the pipeline would
    then call a department that is down "slow". Here a refused connection is
    ``ConnectError`` and a dropped one ``ReadError``, as with httpx's transport.
    """

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await super().handle_async_request(request)
        except httpx.TransportError as exc:
            raise _precise(exc, request) from exc.__cause__ or exc
        response.stream = _PreciseStream(response.stream, request)  # type: ignore[arg-type]
        return response


class _PreciseStream(httpx.AsyncByteStream):
    def __init__(self, stream: httpx.AsyncByteStream, request: httpx.Request) -> None:
        self._stream = stream
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except httpx.TransportError as exc:
            raise _precise(exc, self._request) from exc.__cause__ or exc

    async def aclose(self) -> None:
        await self._stream.aclose()


def _precise(exc: httpx.TransportError, request: httpx.Request) -> httpx.TransportError:
    import aiohttp

    cause = exc.__cause__
    message = type(cause).__name__ if cause is not None else type(exc).__name__
    if isinstance(cause, aiohttp.ConnectionTimeoutError | aiohttp.ServerTimeoutError):
        return exc  # a real timeout stays one
    if isinstance(cause, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message, request=request)
    if isinstance(cause, aiohttp.ClientConnectionError):
        return httpx.ReadError(message, request=request)
    return exc


MERGED_URLS = 4_096  # joined request URLs a client keeps, per path string


class _Uncollected(httpx.Cookies):
    """A cookie jar that keeps nothing a response sets."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class DepartmentClient(httpx.AsyncClient):
    """The httpx client connectors use: no cookie jar, request URLs joined once per path.

    Department systems authenticate with headers (API keys, bearer tokens), never
    cookies, and a hub must not carry one caller's session into another's call.
    httpx reads every response's cookies into the client's jar, about 0.04 ms of
    CPU per department call here (0.30 -> 0.26 ms per call, docs/performance.md);
    this client's jar keeps nothing. Cookies passed for one request are still sent.
    Joining the base URL and the path, parsed twice per request, is remembered per
    path (0.30 -> 0.26 ms per call more). The httpx API connectors see is unchanged.
    """

    @property
    def cookies(self) -> httpx.Cookies:
        jar = self.__dict__.get("_uncollected")
        if jar is None:
            jar = self.__dict__["_uncollected"] = _Uncollected()
        return jar

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        return None  # httpx's constructor sets the jar; this client has its own

    def _merge_url(self, url: httpx.URL | str) -> httpx.URL:
        # Connectors ask for the same few paths over and over; httpx parses the path and
        # then the joined URL again on every request. A URL is immutable, so the joined
        # one is kept per path string (bounded: the memo starts over when full).
        if not isinstance(url, str):
            return super()._merge_url(url)
        memo: dict[str, httpx.URL] | None = self.__dict__.get("_merged")
        if memo is None or len(memo) >= MERGED_URLS:
            memo = self.__dict__["_merged"] = {}
        merged = memo.get(url)
        if merged is None:
            merged = memo[url] = super()._merge_url(url)
        return merged


def build_client(
    settings: ConnectorSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """A client for one department: its base URL, headers stamped, bounded pool.

    The per-request httpx timeout is the connector's deadline, a backstop only:
    the call pipeline enforces the deadline across retries. ``transport`` is for
    tests (``httpx.MockTransport``); by default it is :class:`AiohttpTransport`.
    """
    deadline = settings.deadline_s
    if transport is None:
        transport = AiohttpTransport(limits=LIMITS)
    # A client span and ``traceparent`` per request while a traced hub request runs.
    transport = TracingTransport(transport)
    return DepartmentClient(
        base_url=settings.base_url or "",
        timeout=httpx.Timeout(deadline, connect=min(deadline, 5.0)),
        limits=LIMITS,
        headers={"User-Agent": USER_AGENT},
        event_hooks={"request": [_stamp]},
        follow_redirects=False,  # a redirect from a department system is a misconfiguration
        transport=transport,
    )


async def health_check(
    client: httpx.AsyncClient, department: str, deadline_s: float, *, path: str = "/health"
) -> HealthReport:
    """The department's own health answer: 200 UP, 503 MAINTENANCE, anything else DOWN.

    Not through the pipeline on purpose: health reports the department as it
    is now, even while its breaker is open, and is never served from the cache.
    """
    started = time.perf_counter()
    try:
        with attempt(department):
            response = await client.get(path, timeout=deadline_s)
    except httpx.HTTPError as exc:
        return HealthReport(department, "DOWN", None, f"no answer ({type(exc).__name__})")
    latency = (time.perf_counter() - started) * 1000.0
    if response.status_code == 200:
        return HealthReport(department, "UP", latency)
    if response.status_code == 503:
        return HealthReport(department, "MAINTENANCE", latency, "HTTP 503")
    return HealthReport(department, "DOWN", latency, f"HTTP {response.status_code}")
