"""The department client's short way to aiohttp, over real loopback HTTP.

``DepartmentClient.request`` sends the connectors' calls to aiohttp without
building an ``httpx.Request``. These tests pin that it sends what httpx's own
path sends (compared request by request against a plain ``httpx.AsyncClient``
over the same transport, at a server that echoes what it received), that the
answer reads as httpx's does, that aiohttp's failures arrive as the httpx
exceptions the pipeline expects, and that the pool, cookies, tracing and
``aclose`` behave as before.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest

from connectors.failures import translate
from connectors.http import (
    LIMITS,
    USER_AGENT,
    AiohttpTransport,
    DepartmentClient,
    DepartmentResponse,
    _stamp,
    build_client,
    case_number_var,
    request_id_var,
)
from connectors.settings import ConnectorSettings
from connectors.tracing import TracingTransport, tracer_var
from domain.errors import DepartmentTimeout, DepartmentUnavailable
from fixtures.serve import serve_app

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def department(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Echoes what it received under /echo; a few fixed answers elsewhere."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    body = await _body(receive)
    if path.startswith("/echo") or path.startswith("/base/echo"):
        seen = {
            "method": scope["method"],
            "target": scope["raw_path"].decode("latin-1") + "?" + scope["query_string"].decode("latin-1"),
            "headers": sorted([k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]),
            "body": body.decode("latin-1"),
        }
        await _answer(send, 200, [(b"content-type", b"application/json")], orjson.dumps(seen))
    elif path == "/text":
        await _answer(send, 200, [(b"content-type", b"text/plain; charset=gbk")], "不是 JSON".encode("gbk"))
    elif path == "/lenient":  # JSON the standard library reads and orjson does not
        await _answer(send, 200, [(b"content-type", b"application/json")], b'\xef\xbb\xbf{"a": NaN, "b": 1}')
    elif path == "/gzip":
        packed = gzip.compress(json.dumps({"项目": "压缩"}).encode())
        await _answer(
            send, 200, [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")], packed
        )
    elif path == "/busy":
        headers = [(b"retry-after", b"7"), (b"x-multi", b"a"), (b"x-multi", b"b")]
        await _answer(send, 503, headers, b"")
    elif path == "/cookie":
        cookie = dict(scope["headers"]).get(b"cookie", b"").decode()
        headers = [(b"set-cookie", b"session=abc; Path=/"), (b"content-type", b"application/json")]
        await _answer(send, 200, headers, orjson.dumps({"cookie": cookie}))
    else:
        await _answer(send, 404, [(b"content-type", b"application/json")], b'{"error": "not found"}')


@pytest.fixture
async def server_url() -> AsyncIterator[str]:
    server = await serve_app(department)
    try:
        yield server.url
    finally:
        await server.stop()


def _settings(url: str) -> ConnectorSettings:
    return ConnectorSettings.model_validate({"base_url": url, "deadline_s": 5.0})


def _reference(url: str) -> httpx.AsyncClient:
    """httpx's own path, configured as build_client configures the department client."""
    return httpx.AsyncClient(
        base_url=url,
        timeout=httpx.Timeout(5.0),
        headers={"User-Agent": USER_AGENT},
        event_hooks={"request": [_stamp]},
        follow_redirects=False,
        transport=AiohttpTransport(),
    )


CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/echo/plain", {}),
    ("GET", "echo/relative", {}),
    ("GET", "/echo/a%2Fb/%E4%B8%AD", {}),
    ("GET", "/echo/own?query=1&x=%20", {}),
    (
        "GET",
        "/echo/params",
        {
            "params": {
                "q": "中文 a+b&c=d/e?f#g%h",
                "n": 3,
                "t": True,
                "f": False,
                "none": None,
                "list": ["x", "y z"],
                "x": 1.5,
            }
        },
    ),
    ("GET", "/echo/empty-params", {"params": {}}),
    (
        "GET",
        "/echo/headers",
        {"headers": {"X-Api-Key": "k-1", "user-agent": "override/1", "X-Request-Id": "x"}},
    ),
    ("GET", "/echo/timeout", {"timeout": 3}),
    ("POST", "/echo/json", {"json": {"projectCodes": ["2024-A", "中"], "n": 1, "nested": {"x": None}}}),
    (
        "POST",
        "/echo/json-typed",
        {"json": [1], "headers": {"Content-Type": "application/json; charset=utf-8"}},
    ),
    (
        "POST",
        "/echo/form",
        {"data": {"grant_type": "client_credentials", "xmdm": ["1", "2 3"], "flag": True}},
    ),
    ("POST", "/echo/basic", {"data": {"a": "b"}, "auth": httpx.BasicAuth("hub", "sécret:1")}),
    (
        "POST",
        "/echo/xml",
        {"content": b"<cx><xmdm>1</xmdm></cx>", "headers": {"Content-Type": "application/xml"}},
    ),
    ("POST", "/echo/bytes", {"content": b"\x00\x01raw"}),
    ("POST", "/echo/text", {"content": "文本"}),
    ("POST", "/echo/empty", {"content": b""}),
    ("PUT", "/echo/put", {"json": {"a": 1}}),
    ("DELETE", "/echo/delete", {}),
]


@pytest.mark.parametrize(("method", "path", "options"), CALLS, ids=[c[1] for c in CALLS])
async def test_the_short_way_sends_what_httpx_sends(
    server_url: str, method: str, path: str, options: dict[str, Any]
) -> None:
    client = build_client(_settings(server_url))
    reference = _reference(server_url)
    request_id = request_id_var.set("req-7\r\nInjected: 1")
    case_number = case_number_var.set("BJ-2024-001")
    try:
        async with client, reference:
            short = await client.request(method, path, **options)
            plain = await reference.request(method, path, **options)
    finally:
        request_id_var.reset(request_id)
        case_number_var.reset(case_number)
    assert isinstance(short, DepartmentResponse)
    assert not isinstance(plain, DepartmentResponse)
    assert short.json() == plain.json()
    seen = dict(short.json()["headers"])
    assert seen["x-request-id"] == "req-7Injected:1"  # stamped, and nothing splits a header
    assert seen["x-case-number"] == "BJ-2024-001"
    assert short.status_code == plain.status_code == 200
    assert short.headers == plain.headers
    assert short.reason_phrase == plain.reason_phrase == "OK"
    assert short.http_version == plain.http_version
    assert short.content == plain.content and short.text == plain.text
    assert str(short.request.url) == str(plain.request.url)


async def test_the_verbs_and_the_stamp_outside_a_request(server_url: str) -> None:
    async with build_client(_settings(server_url)) as client:
        answers = [await client.get("/echo/get", params={"a": "1"}), await client.post("/echo/post", json={})]
    first, second = (dict(a.json()["headers"]) for a in answers)
    assert [a.json()["method"] for a in answers] == ["GET", "POST"]
    assert answers[0].json()["target"] == "/echo/get?a=1"
    assert first["user-agent"] == USER_AGENT and "x-case-number" not in first
    assert len(first["x-request-id"]) == 32 and first["x-request-id"] != second["x-request-id"]  # fresh ids


async def test_answers_read_as_httpx_reads_them(server_url: str) -> None:
    async with build_client(_settings(server_url)) as client:
        text = await client.get("/text")
        lenient = await client.get("/lenient")
        packed = await client.get("/gzip")
        busy = await client.get("/busy")
        missing = await client.get("/nowhere")
    assert text.text == "不是 JSON" and text.encoding == "gbk"
    with pytest.raises(ValueError):
        text.json()
    got = lenient.json()  # orjson refuses the BOM and NaN; the standard library reads them, as httpx did
    assert got["b"] == 1 and got["a"] != got["a"]
    assert packed.json() == {"项目": "压缩"}  # httpx's decoders, as before
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "7"
    assert busy.headers.get("retry-after") == "7" and busy.headers.get_list("x-multi") == ["a", "b"]
    assert busy.content == b"" and busy.elapsed.total_seconds() >= 0
    with pytest.raises(httpx.HTTPStatusError) as raised:
        missing.raise_for_status()
    assert raised.value.request.url == httpx.URL(f"{server_url}/nowhere")
    assert raised.value.response is missing
    missing.status_code = 503  # connectors may rewrite a status (mapped.py)
    assert missing.status_code == 503 and missing.is_server_error


async def test_a_cookie_a_department_sets_is_not_sent_again(server_url: str) -> None:
    # By name, not IP: aiohttp's own jar keeps no cookie for an IP address anyway.
    by_name = server_url.replace("127.0.0.1", "localhost")
    async with build_client(_settings(by_name)) as client:
        await client.get("/cookie")
        short = await client.get("/cookie")
        slow = await client.get("/cookie", extensions={})  # httpx's path, same transport
    assert isinstance(short, DepartmentResponse) and not isinstance(slow, DepartmentResponse)
    assert short.json() == slow.json() == {"cookie": ""}
    assert not list(client.cookies.jar)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def _raw_server(handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]) -> Any:
    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def _read_head(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")


async def test_aiohttps_failures_are_httpxs_exceptions_on_both_ways() -> None:
    hold = asyncio.Event()

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_head(reader)
        writer.close()

    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_head(reader)
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"partial":')
        await writer.drain()
        writer.close()

    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_head(reader)
        await hold.wait()
        writer.close()

    servers = [await _raw_server(handler) for handler in (drop, cut, stall)]
    dropped, cut_short, stalled = (f"http://127.0.0.1:{s.sockets[0].getsockname()[1]}" for s in servers)
    cases: list[tuple[str, dict[str, Any], type[httpx.TransportError]]] = [
        (f"http://127.0.0.1:{_free_port()}/x", {}, httpx.ConnectError),  # refused
        (f"{dropped}/x", {}, httpx.ReadError),  # closed without an answer
        (f"{cut_short}/x", {}, httpx.ReadError),  # the body stops short
        (f"{stalled}/x", {"timeout": httpx.Timeout(5.0, read=0.2)}, httpx.ReadTimeout),  # no answer
        ("ftp://127.0.0.1/x", {}, httpx.UnsupportedProtocol),
    ]
    client = build_client(_settings("http://127.0.0.1:1"))
    try:
        for url, options, expected in cases:
            ways: list[dict[str, Any]] = [{}, {"extensions": {}}]  # the short way, httpx's
            for way in ways:
                with pytest.raises(httpx.TransportError) as raised:
                    await client.get(url, **options, **way)
                assert type(raised.value) is expected, (url, way)
                assert "127.0.0.1" not in str(raised.value)  # no address in the message
    finally:
        hold.set()
        await client.aclose()
        for server in servers:
            server.close()
            await server.wait_closed()
    refused = translate(httpx.ConnectError("ClientConnectorError"), department="fire")
    assert isinstance(refused, DepartmentUnavailable) and refused.transient
    assert isinstance(translate(httpx.ReadTimeout("x"), department="fire"), DepartmentTimeout)


async def test_the_pool_is_bounded_and_aclose_closes_the_session(server_url: str) -> None:
    client = build_client(_settings(server_url))
    assert isinstance(client, DepartmentClient)
    tracing = client._transport
    assert isinstance(tracing, TracingTransport) and isinstance(tracing.inner, AiohttpTransport)
    await client.get("/echo/open")
    session = tracing.inner.session
    assert session.connector is not None
    assert session.connector.limit == LIMITS.max_connections
    assert not session.closed
    await client.aclose()
    assert session.closed
    with pytest.raises(RuntimeError, match="client has been closed"):
        await client.get("/echo/again")


async def test_a_traced_request_takes_httpxs_way_with_its_span(server_url: str) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    token = tracer_var.set(provider.get_tracer("test"))
    try:
        async with build_client(_settings(server_url)) as client:
            traced = await client.get("/echo/traced", params={"secret": "1"})
    finally:
        tracer_var.reset(token)
    assert not isinstance(traced, DepartmentResponse)
    headers = dict(traced.json()["headers"])
    (span,) = exporter.get_finished_spans()
    assert span.context is not None
    assert headers["traceparent"].split("-")[2] == f"{span.context.span_id:016x}"
    assert span.attributes is not None and span.attributes["url.full"] == f"{server_url}/echo/traced"
    assert span.attributes["http.response.status_code"] == 200
