"""Slow headers, slow bodies and idle connections are cut at the server.

``onematter serve`` runs as a real process on a loopback port with short
timeouts (1 s); raw sockets play the slow or silent client. Each client trickles
for far longer than the timeout (bounded: at most ``TRICKLE`` steps) and checks
that the hub answered 408 or closed while the client was still sending: the
cut is what is asserted, not how long it took.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator

import pytest

from tests.gateway.hub import RunningHub

TIMEOUT_S = "1"
TRICKLE = 60  # steps of PACE_S: 12 s of trickling against 1 s timeouts
PACE_S = 0.2


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    env = {
        "ONEMATTER__LIMITS__HEADER_TIMEOUT_S": TIMEOUT_S,
        "ONEMATTER__LIMITS__BODY_TIMEOUT_S": TIMEOUT_S,
        "ONEMATTER__LIMITS__IDLE_TIMEOUT_S": TIMEOUT_S,
        "ONEMATTER__LIMITS__DEADLINE_S": "3",
        "ONEMATTER__HUB__FIXTURE_PROJECTS": "20",
    }
    with RunningHub.start(tmp_path_factory.mktemp("timeouts"), extra_env=env) as running:
        # uvicorn reports startup complete just before it binds: wait for the socket.
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", int(running.url.rsplit(":", 1)[1])), timeout=1).close()
                break
            except ConnectionRefusedError:
                select.select([], [], [], 0.1)
        yield running


def _connect(hub: RunningHub) -> socket.socket:
    port = int(hub.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    return sock


def _answer(sock: socket.socket) -> bytes:
    """What the hub sent until it closed (or 15 s passed)."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(65_536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _trickle(sock: socket.socket, data: bytes) -> bytes | None:
    """Send ``data`` a byte per PACE_S; what the hub said if it spoke or closed first, else None."""
    for index in range(min(len(data), TRICKLE)):
        readable, _, _ = select.select([sock], [], [], PACE_S)  # paces the client, and listens
        if readable:
            return _answer(sock)
        try:
            sock.sendall(data[index : index + 1])
        except (BrokenPipeError, ConnectionResetError):
            return _answer(sock)
    return None


def test_slow_headers_are_cut_with_408(hub: RunningHub) -> None:
    head = b"POST /graphql HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\nX-Slow: " + b"s" * 200
    with _connect(hub) as sock:
        answer = _trickle(sock, head)
    assert answer is not None, "the hub waited for the whole slow head"
    assert answer.startswith(b"HTTP/1.1 408 ")


def test_a_slow_body_is_cut_with_408(hub: RunningHub) -> None:
    body = b'{"query": "{ __typename }"}' + b" " * 400
    head = (
        b"POST /graphql HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    with _connect(hub) as sock:
        sock.sendall(head)
        answer = _trickle(sock, body)
    assert answer is not None, "the hub waited for the whole slow body"
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"REQUEST_TIMEOUT" in answer


def test_a_silent_connection_is_closed(hub: RunningHub) -> None:
    with _connect(hub) as sock:
        readable, _, _ = select.select([sock], [], [], 15)
        assert readable, "the hub kept a silent connection open"
        assert _answer(sock) == b""


def test_an_idle_keep_alive_connection_is_closed_after_its_answers(hub: RunningHub) -> None:
    request = b"GET /livez HTTP/1.1\r\nHost: hub\r\n\r\n"
    with _connect(hub) as sock:
        for _ in range(2):  # keep-alive works: two requests, one connection
            sock.sendall(request)
            answer = b""
            while not answer.endswith(b'{"status":"ok"}'):
                chunk = sock.recv(65_536)
                assert chunk, "the hub closed a keep-alive connection mid-answer"
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200 ")
        readable, _, _ = select.select([sock], [], [], 15)
        assert readable, "the hub kept an idle connection open"
        assert _answer(sock) == b""


def test_an_oversized_head_is_431(hub: RunningHub) -> None:
    head = b"GET /livez HTTP/1.1\r\nHost: hub\r\n" + b"X-Big: " + b"b" * 40_000 + b"\r\n\r\n"
    with _connect(hub) as sock:
        try:
            sock.sendall(head)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")


def test_a_prompt_request_is_served(hub: RunningHub) -> None:
    body = hub.post({"query": "{ __typename }"}, role="WINDOW_STAFF")
    assert body.status_code == 200 and body.json() == {"data": {"__typename": "Query"}}
