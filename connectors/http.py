"""Building the ``httpx.AsyncClient`` a connector is given.

Every department call carries the request id and the case number (办件号)
of the hub request that caused it, as government exchange layers expect:
``X-Request-Id`` and ``X-Case-Number`` headers, taken from the context
variables below. The gateway sets them per request; code that runs outside a
request (an index refresh) gets a fresh request id and no case number.

Connectors see only httpx: ``client.get``/``post``/``request`` and an
``httpx.Response``, httpx's exceptions. Underneath, the I/O is aiohttp's
(:class:`AiohttpTransport`, one ``aiohttp.ClientSession`` per department), and
:class:`DepartmentClient` takes a short way to it for the calls connectors
make: the request goes from ``request()``'s arguments straight to aiohttp
(the joined URL kept per path, the headers merged in one multidict, JSON
bodies encoded with orjson, which writes NaN as null where httpx's encoder
refuses it) and the answer comes back as a :class:`DepartmentResponse` built
from aiohttp's without httpx's response machinery (its ``.json()`` parses
with orjson). httpx's own path (building an ``httpx.Request``, auth and
redirect handling, event hooks, the stream wrappers) runs for the rest: a
traced request (a client span and ``traceparent`` per request,
:class:`connectors.tracing.TracingTransport`), another transport (tests'
``httpx.MockTransport``), streaming bodies, files, extensions, cookies (per request or
set on the client), auth other than ``httpx.BasicAuth``, headers or params
not given as a dict, a URL with credentials or a query and params both,
redirects followed, event hooks (other than the stamp), params or proxies
set on the client, a JSON value orjson cannot encode. Both paths send the
same request (the same URL, query string, headers and body:
``tests/connectors/test_department_client_http.py`` compares them over
loopback) and raise the same httpx exceptions.

Measured by ``python -m bench.transport`` (3,000 GETs to the fire system, 32
at a time, this process's CPU per request, before and after alternating,
medians of three rounds): 0.269 ms per call through httpx over aiohttp before,
0.106 ms this way, aiohttp alone 0.094 ms; a cold matter in-process (``python
-m bench.profile cold --concurrency 10 --requests 2000``, six department
calls) 4.08 -> 3.32 ms of CPU (docs/performance.md). While a request is
traced it goes httpx's way (about 0.32 ms per call).
"""

from __future__ import annotations

import datetime
import functools
import json as jsonlib
import re
import ssl
import time
import uuid
from collections.abc import Mapping, MutableMapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import aiohttp
import httpx
import orjson
import yarl
from httpx._client import ClientState, UseClientDefault
from multidict import CIMultiDict

from connectors.tracing import TracingTransport, attempt, tracer_var
from domain.records import HealthReport

if TYPE_CHECKING:
    from httpx._types import (
        AuthTypes,
        CookieTypes,
        HeaderTypes,
        QueryParamTypes,
        RequestContent,
        RequestData,
        RequestExtensions,
        RequestFiles,
        TimeoutTypes,
    )

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


def _stamped(headers: MutableMapping[str, str]) -> None:
    request_id = request_id_var.get() or uuid.uuid4().hex
    headers[REQUEST_ID_HEADER] = _header_value(request_id) or uuid.uuid4().hex
    case_number = case_number_var.get()
    if case_number:
        safe = _header_value(case_number)
        if safe:
            headers[CASE_NUMBER_HEADER] = safe


async def _stamp(request: httpx.Request) -> None:
    """The request event hook of httpx's path: the hub request's id and case number."""
    _stamped(request.headers)


# -- the transport ------------------------------------------------------------------------


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # The verification httpx would do (certifi's roots, SSL_CERT_FILE / SSL_CERT_DIR),
    # built once per process and only when a client first connects.
    return httpx.create_ssl_context()


def _transport_error(exc: aiohttp.ClientError) -> httpx.TransportError | None:
    """aiohttp's error as the httpx one httpx's own transport would raise; None to keep it.

    A refused connection is ``ConnectError`` and a dropped one ``ReadError`` (the
    pipeline tells a department that is down from one that is slow); the message
    is the aiohttp error's class name, never its text (which holds the URL).
    """
    name = type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(name)
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return httpx.ReadTimeout(name)
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return httpx.TimeoutException(name)
    if isinstance(exc, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        return httpx.ProxyError(name)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(name)
    if isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError):
        return httpx.ReadError(name)
    if isinstance(exc, aiohttp.NonHttpUrlClientError | aiohttp.InvalidUrlClientError):
        return httpx.UnsupportedProtocol(name)
    return None


class AiohttpTransport(httpx.AsyncBaseTransport):
    """aiohttp's ``ClientSession`` for one department, under httpx's transport API too.

    :meth:`exchange` is the one place a department request is sent and its body
    read, for :class:`DepartmentClient`'s short path and for httpx's
    (:meth:`handle_async_request`). The session is opened on the first request
    (in the running loop) with the pool ``limits`` (``max_connections`` and
    ``keepalive_expiry``; aiohttp has no separate keep-alive bound), no cookie
    jar (departments authenticate with headers, and one caller's session must
    not reach another's call), no redirects and no decompression (httpx's
    decoders decode a compressed body, as before).
    """

    def __init__(self, limits: httpx.Limits = LIMITS) -> None:
        self.limits = limits
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, float | None, float | None], aiohttp.ClientTimeout] = {}

    @property
    def session(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None:
            limits = self.limits
            connector = aiohttp.TCPConnector(
                limit=limits.max_connections or 0,
                keepalive_timeout=limits.keepalive_expiry,
                ssl=_ssl_context(),
            )
            session = self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False
            )
        return session

    def timeout(self, connect: float | None, read: float | None, pool: float | None) -> aiohttp.ClientTimeout:
        """httpx's connect, read and pool timeouts as aiohttp's (socket connect, socket read, connect)."""
        key = (connect, read, pool)
        timeout = self._timeouts.get(key)
        if timeout is None:
            if len(self._timeouts) >= 64:
                self._timeouts.clear()
            timeout = self._timeouts[key] = aiohttp.ClientTimeout(
                sock_connect=connect, sock_read=read, connect=pool
            )
        return timeout

    async def exchange(
        self,
        method: str,
        url: yarl.URL,
        headers: CIMultiDict[str],
        body: bytes | None,
        timeouts: aiohttp.ClientTimeout,
    ) -> tuple[aiohttp.ClientResponse, bytes]:
        """Send one request and read its whole body; aiohttp's errors raised as httpx's."""
        try:
            response = await self.session.request(
                method, url, headers=headers, data=body, allow_redirects=False, timeout=timeouts
            )
            return response, await response.read()  # read() closes the response on failure
        except aiohttp.ClientError as exc:
            mapped = _transport_error(exc)
            if mapped is None:
                raise
            raise mapped from exc

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        extensions = request.extensions.get("timeout") or {}
        timeout = self.timeout(extensions.get("connect"), extensions.get("read"), extensions.get("pool"))
        body = await request.aread()
        encoding = request.headers.encoding
        headers: CIMultiDict[str] = CIMultiDict(
            (name.decode(encoding), value.decode(encoding))
            for name, value in request.headers.raw
            if name.lower() != b"transfer-encoding"  # the body is whole: aiohttp sends its length
        )
        url = yarl.URL(str(request.url), encoded=True)  # as httpx encoded it
        answer, content = await self.exchange(request.method, url, headers, body or None, timeout)
        return httpx.Response(
            answer.status,
            headers=answer.raw_headers,
            stream=httpx.ByteStream(content),
            request=request,
            extensions=_extensions(answer),
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _extensions(answer: aiohttp.ClientResponse) -> dict[str, Any]:
    extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
    if answer.reason:
        extensions["reason_phrase"] = answer.reason.encode()
    return extensions


# -- the response -------------------------------------------------------------------------


class DepartmentResponse(httpx.Response):
    """An ``httpx.Response`` made from aiohttp's answer, its body already read.

    The same object connectors get from httpx (status, headers, ``content``,
    ``text``, ``json()``, ``raise_for_status()``), built without httpx's
    constructor and stream machinery; ``request`` is built when first asked for.
    ``json()`` parses with orjson; a body orjson refuses (a byte-order mark, NaN,
    another encoding than UTF-8) is parsed by the standard library as httpx would,
    so what parses and what raises ``ValueError`` is as before, except that an
    integer beyond 64 bits comes back as a float (orjson's reading).
    """

    _sent: tuple[str, str, CIMultiDict[str], bytes | None]

    @classmethod
    def of(
        cls,
        answer: aiohttp.ClientResponse,
        content: bytes,
        *,
        default_encoding: Any,
        started: float,
        sent: tuple[str, str, CIMultiDict[str], bytes | None],
    ) -> DepartmentResponse:
        self = cls.__new__(cls)
        # What httpx.Response's constructor and its read of the body would have set.
        self.__dict__.update(
            status_code=answer.status,
            headers=httpx.Headers(answer.raw_headers),
            next_request=None,
            extensions=_extensions(answer),
            history=[],
            is_closed=True,
            is_stream_consumed=True,
            default_encoding=default_encoding,
            stream=httpx.ByteStream(content),
            _content=content,
            _num_bytes_downloaded=len(content),
            _elapsed=datetime.timedelta(seconds=time.perf_counter() - started),
        )
        self._sent = sent
        return self

    @property
    def _request(self) -> httpx.Request | None:
        request: httpx.Request | None = self.__dict__.get("_built_request")
        if request is None:
            method, url, headers, body = self._sent
            request = self.__dict__["_built_request"] = httpx.Request(
                method, url, headers=list(headers.items()), content=body
            )
        return request

    @_request.setter
    def _request(self, request: httpx.Request | None) -> None:
        self.__dict__["_built_request"] = request

    def json(self, **kwargs: Any) -> Any:
        if kwargs:
            return super().json(**kwargs)
        try:
            return orjson.loads(self.content)
        except orjson.JSONDecodeError:
            return jsonlib.loads(self.content)


# -- the client ---------------------------------------------------------------------------

MERGED_URLS = 4_096  # joined request URLs a client keeps, per path string

_FORM = "application/x-www-form-urlencoded"


def _text(value: Any) -> str:
    # httpx's coercion of a query or form value (httpx._utils.primitive_value_to_str).
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    return str(value)


def _pairs(values: Mapping[Any, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in values.items():
        if isinstance(value, list | tuple):
            pairs.extend((str(key), _text(item)) for item in value)
        else:
            pairs.append((str(key), _text(value)))
    return pairs


# What the short way sends: method, URL text, aiohttp's URL, headers, body, timeout.
_Prepared = tuple[str, str, yarl.URL, CIMultiDict[str], bytes | None, aiohttp.ClientTimeout]


class _Uncollected(httpx.Cookies):
    """A cookie jar that keeps nothing a response sets."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class DepartmentClient(httpx.AsyncClient):
    """The httpx client connectors use: no cookie jar, request URLs joined once per path,
    and over :class:`AiohttpTransport` a short way from ``request()`` to aiohttp.

    Department systems authenticate with headers (API keys, bearer tokens), never
    cookies, and a hub must not carry one caller's session into another's call:
    neither this client's jar nor the aiohttp session keeps a cookie a response
    sets. Cookies passed for one request are still sent. ``get``, ``post`` and
    the other verbs go through :meth:`request`; the module docstring says when
    it takes the short way and when httpx's.
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
        if (
            memo is None
            or len(memo) >= MERGED_URLS
            or self.__dict__.get("_merged_base") is not self._base_url
        ):
            memo = self.__dict__["_merged"] = {}
            self.__dict__["_merged_base"] = self._base_url
        merged = memo.get(url)
        if merged is None:
            merged = memo[url] = super()._merge_url(url)
        return merged

    async def request(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        content: RequestContent | None = None,
        data: RequestData | None = None,
        files: RequestFiles | None = None,
        json: Any | None = None,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        cookies: CookieTypes | None = None,
        auth: AuthTypes | UseClientDefault | None = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: bool | UseClientDefault = httpx.USE_CLIENT_DEFAULT,
        timeout: TimeoutTypes | UseClientDefault = httpx.USE_CLIENT_DEFAULT,  # noqa: ASYNC109 (httpx's)
        extensions: RequestExtensions | None = None,
    ) -> httpx.Response:
        transport = self._short_way
        if (
            transport is not None
            and type(url) is str
            and files is None
            and cookies is None
            and extensions is None
            and follow_redirects is not True
            and tracer_var.get() is None
        ):
            prepared = self._prepare(
                transport, method, url, content, data, json, params, headers, auth, timeout
            )
            if prepared is not None:
                return await self._send_short(transport, prepared)
        return await super().request(
            method,
            url,
            content=content,
            data=data,
            files=files,
            json=json,
            params=params,
            headers=headers,
            cookies=cookies,
            auth=auth,
            follow_redirects=follow_redirects,
            timeout=timeout,
            extensions=extensions,
        )

    @functools.cached_property
    def _short_way(self) -> AiohttpTransport | None:
        """The aiohttp transport under this client, when it is the one requests go to."""
        transport = self._transport
        if isinstance(transport, TracingTransport):
            transport = transport.inner
        return transport if isinstance(transport, AiohttpTransport) else None

    def _prepare(
        self,
        transport: AiohttpTransport,
        method: str,
        url: str,
        content: Any,
        data: Any,
        json: Any,
        params: Any,
        headers: Any,
        auth: Any,
        timeout: Any,
    ) -> _Prepared | None:
        """What aiohttp is to send, as httpx would build it; None when httpx's path must run."""
        hooks = self._event_hooks
        stamp = hooks["request"]
        if (
            self._state is ClientState.CLOSED  # httpx's path raises the error
            or hooks["response"]
            or (stamp and stamp != [_stamp])
            or self._mounts
            or self._params
            or self.follow_redirects
            or self.cookies
        ):
            return None
        text, target, queried, credentials = self._target(url)
        if credentials:
            return None  # user and password in the URL: httpx's auth
        if params is not None:
            if type(params) is not dict or queried:
                return None  # params replace a URL's own query, httpx's way
            if params:
                query = urlencode(_pairs(params))
                if not query:
                    return None
                text = f"{text}?{query}"
                target = yarl.URL(text, encoded=True)
        sent = self._default_headers()
        if headers:
            if type(headers) is not dict:
                return None
            for name, value in headers.items():
                if type(name) is not str or type(value) is not str:
                    return None
                sent[name] = value
        body: bytes | None = None
        if content is not None:
            if isinstance(content, bytes):
                body = content
            elif isinstance(content, str):
                body = content.encode()
            else:
                return None  # a stream
        elif data is not None and not isinstance(data, Mapping):
            return None  # raw data: httpx's deprecation path
        elif data:
            body = urlencode(_pairs(data)).encode()
            if "Content-Type" not in sent:
                sent["Content-Type"] = _FORM
        elif json is not None:
            try:
                body = orjson.dumps(json)
            except TypeError:
                return None  # what orjson cannot encode, httpx's encoder tries
            if "Content-Type" not in sent:
                sent["Content-Type"] = "application/json"
        if isinstance(auth, UseClientDefault):
            auth = self._auth
        if auth is not None:
            header = getattr(auth, "_auth_header", None) if type(auth) is httpx.BasicAuth else None
            if not isinstance(header, str):
                return None
            sent["Authorization"] = header
        if stamp:
            _stamped(sent)
        if isinstance(timeout, UseClientDefault):
            timeout = self.timeout
        if isinstance(timeout, httpx.Timeout):
            limits = transport.timeout(timeout.connect, timeout.read, timeout.pool)
        elif timeout is None or type(timeout) in (int, float):
            limits = transport.timeout(timeout, timeout, timeout)
        else:
            return None
        return method.upper(), text, target, sent, body or None, limits

    def _target(self, url: str) -> tuple[str, yarl.URL, bool, bool]:
        """The joined URL for a path as httpx builds it, as aiohttp's URL; has it a query, a user?"""
        memo: dict[str, tuple[str, yarl.URL, bool, bool]] | None = self.__dict__.get("_targets")
        if (
            memo is None
            or len(memo) >= MERGED_URLS
            or self.__dict__.get("_targets_base") is not self._base_url
        ):
            memo = self.__dict__["_targets"] = {}
            self.__dict__["_targets_base"] = self._base_url
        hit = memo.get(url)
        if hit is None:
            merged = self._merge_url(url)
            text = str(merged)
            queried = bool(merged.query) or "?" in text
            hit = memo[url] = (text, yarl.URL(text, encoded=True), queried, bool(merged.userinfo))
        return hit

    def _default_headers(self) -> CIMultiDict[str]:
        """A copy of the client's headers (kept converted while they stay the same)."""
        headers = self.headers
        raw = headers.raw
        kept: tuple[list[tuple[bytes, bytes]], CIMultiDict[str]] | None = self.__dict__.get("_defaults")
        if kept is None or kept[0] != raw:
            encoding = headers.encoding
            converted: CIMultiDict[str] = CIMultiDict(
                (name.decode(encoding), value.decode(encoding)) for name, value in raw
            )
            kept = self.__dict__["_defaults"] = (raw, converted)
        return kept[1].copy()

    async def _send_short(self, transport: AiohttpTransport, prepared: _Prepared) -> httpx.Response:
        self._state = ClientState.OPENED
        method, text, target, headers, body, timeout = prepared
        started = time.perf_counter()
        answer, content = await transport.exchange(method, target, headers, body, timeout)
        coding = answer.headers.get("Content-Encoding")
        if coding and coding.lower() != "identity":  # httpx's decoders, as on its own path
            return httpx.Response(
                answer.status,
                headers=answer.raw_headers,
                content=content,
                request=httpx.Request(method, text, headers=list(headers.items()), content=body),
                extensions=_extensions(answer),
                default_encoding=self._default_encoding,
            )
        return DepartmentResponse.of(
            answer,
            content,
            default_encoding=self._default_encoding,
            started=started,
            sent=(method, text, headers, body),
        )


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
