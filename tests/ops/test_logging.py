"""Request ids end to end and JSON log lines."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fixtures.world import World
from gateway.logging import JsonFormatter, RequestIdFilter, logging_config
from tests.ops.conftest import MATTER, complete_project
from tests.schema.conftest import HubFactory


class Lines(logging.Handler):
    """The hub's log records as the JSON lines ``onematter serve`` would write."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(RequestIdFilter())
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    logger = logging.getLogger("onematter")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def outbound(hub: Any) -> list[httpx.Headers]:
    """Record the headers of every department request the hub's clients send."""
    seen: list[httpx.Headers] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request.headers)

    for client in hub.services.clients.values():
        client.event_hooks["request"].append(record)  # after the hub's own stamp
    return seen


async def test_a_callers_request_id_reaches_departments_logs_and_response(
    make_hub: HubFactory, world: World, lines: Lines
) -> None:
    hub = await make_hub()
    sent = outbound(hub)
    await hub.fault("fire", error_rate=1.0, error_status=500)  # a logged department failure
    response = await hub.client.post(
        "/graphql",
        json={"query": MATTER, "variables": {"code": complete_project(world)}},
        headers={
            "Authorization": f"Bearer {hub.token()}",
            "X-Request-Id": "portal-42.a",
            "X-Case-Number": "BJ-7",
        },
    )
    assert response.status_code == 200
    assert response.headers["X-Request-Id"] == "portal-42.a"
    assert len(sent) >= 5
    assert {h["X-Request-Id"] for h in sent} == {"portal-42.a"}
    assert {h["X-Case-Number"] for h in sent} == {"BJ-7"}

    access = [line for line in lines.lines if line["logger"] == "onematter.access"]
    assert len(access) == 1
    assert access[0] | {"duration_ms": 0, "ts": ""} == {
        "ts": "",
        "level": "info",
        "logger": "onematter.access",
        "msg": "POST /graphql 200",
        "request_id": "portal-42.a",
        "method": "POST",
        "path": "/graphql",
        "status": 200,
        "duration_ms": 0,
    }
    failures = [line for line in lines.lines if "call failed" in line["msg"]]
    assert failures and {line["request_id"] for line in failures} == {"portal-42.a"}


@pytest.mark.parametrize("supplied", [None, "", "has space", "x" * 200, "new\r\nline", "ünïcode"])
async def test_a_new_request_id_when_none_or_unsafe(
    make_hub: HubFactory, world: World, supplied: str | None
) -> None:
    hub = await make_hub()
    headers = {} if supplied is None else {"X-Request-Id": supplied.encode()}
    sent = outbound(hub)
    response = await hub.client.post(
        "/graphql",
        json={"query": MATTER, "variables": {"code": complete_project(world)}},
        headers={"Authorization": f"Bearer {hub.token()}", **headers},  # type: ignore[arg-type]
    )
    request_id = response.headers["X-Request-Id"]
    assert len(request_id) == 32 and int(request_id, 16) >= 0
    assert sent and {h["X-Request-Id"] for h in sent} == {request_id}


async def test_refusals_carry_a_request_id_too(make_hub: HubFactory) -> None:
    hub = await make_hub()
    response = await hub.client.post(
        "/graphql", json={"query": "{ sources { department } }"}, headers={"Authorization": "Bearer nonsense"}
    )
    assert response.status_code == 401
    assert len(response.headers["X-Request-Id"]) == 32


async def test_two_requests_two_ids(make_hub: HubFactory) -> None:
    hub = await make_hub()
    first = await hub.client.get("/livez")
    second = await hub.client.get("/livez")
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]


def test_json_lines_carry_extras_and_exceptions() -> None:
    formatter = JsonFormatter()
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("onematter.test").makeRecord(
            "onematter.test",
            logging.ERROR,
            __file__,
            1,
            "failed %s",
            ("once",),
            __import__("sys").exc_info(),
            extra={"department": "fire"},
        )
    line = json.loads(formatter.format(record))
    assert line["msg"] == "failed once"
    assert line["level"] == "error"
    assert line["department"] == "fire"
    assert "ValueError: boom" in line["exc"]
    assert "request_id" not in line  # outside a request


def test_logging_config_is_valid_for_dictconfig() -> None:
    from logging.config import DictConfigurator

    for fmt in ("json", "text"):
        config = logging_config("warning", fmt)
        assert config["root"]["level"] == "WARNING"
        DictConfigurator(config)  # parses without touching the process's logging


async def test_client_errors_and_refusals_are_info_lines_without_tracebacks(
    make_hub: HubFactory, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    from domain.principal import Role

    hub = await make_hub()
    code = complete_project(world)
    caplog.set_level(logging.INFO)
    for query, role in (
        ("{ matter(projectCode: ", Role.WINDOW_STAFF),  # does not parse
        ("{ nope }", Role.WINDOW_STAFF),  # does not validate
        ("{ matters(first: 1) { totalCount } }", None),  # anonymous: refused before execution
        ("query($c: String!) { matter(projectCode: $c) { accessLog { id } } }", Role.WINDOW_STAFF),
        ("{ sources { department } }", Role.WINDOW_STAFF),  # a role refusal on a root field
        # (an ENTERPRISE asking for another's project gets null without an error: no oracle)
    ):
        token = hub.token(role) if role else None
        response = await hub.client.post(
            "/graphql",
            json={"query": query, "variables": {"c": code}},
            headers={"Authorization": f"Bearer {token}"} if token else {},
        )
        assert response.json().get("errors"), query
    records = [r for r in caplog.records if r.name.startswith(("strawberry", "onematter"))]
    assert not [r for r in records if r.levelno >= logging.ERROR], [r.getMessage() for r in records]
    assert not [r for r in records if r.exc_info], [r.getMessage() for r in records]
