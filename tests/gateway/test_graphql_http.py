"""GraphQL over HTTP (graphql/graphql-over-http): methods, media types, status codes.

In-process tests pin each point of the spec the hub relies on; the last test
runs graphql-http's own server audits (node) against the hub on a loopback port.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.serve import serve_app
from gateway.app import create_app
from gateway.config import Settings
from gateway.view import GRAPHQL_RESPONSE_JSON, JSON, negotiate
from tests.gateway.conftest import toy_schema, toy_services

GRJ = {"accept": GRAPHQL_RESPONSE_JSON}
NODE_TOOLS = Path(__file__).parents[1] / "federation"


def media(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


# -- requests that succeed ------------------------------------------------------------


async def test_post_json_query(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ hello }"})
    assert response.status_code == 200
    assert media(response) == JSON
    assert response.json() == {"data": {"hello": "hello world"}}


async def test_get_query_with_variables_and_operation_name(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql",
        params={
            "query": "query A { a: hello } query B($n: String!) { hello(name: $n) }",
            "variables": '{"n": "hub"}',
            "operationName": "B",
        },
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"hello": "hello hub"}}


async def test_graphql_response_json_when_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ hello }"}, headers=GRJ)
    assert response.status_code == 200
    assert media(response) == GRAPHQL_RESPONSE_JSON
    assert response.json() == {"data": {"hello": "hello world"}}


async def test_json_charset_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        content=b'{"query": "{ hello }"}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200


# -- request errors: 400 with graphql-response+json, 200 with legacy json --------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"query": "{ hello"}, "Syntax Error"),
        ({"query": "{ nope }"}, "Cannot query field"),
        ({"query": "query($n: String!) { hello(name: $n) }", "variables": {"n": 5}}, "Variable"),
        ({"query": "query($n: String!) { hello(name: $n) }"}, "Variable"),
    ],
    ids=["unparseable", "invalid", "bad-variable", "missing-variable"],
)
async def test_request_errors(client: httpx.AsyncClient, body: dict[str, object], message: str) -> None:
    strict = await client.post("/graphql", json=body, headers=GRJ)
    assert strict.status_code == 400
    assert media(strict) == GRAPHQL_RESPONSE_JSON
    assert "data" not in strict.json()
    assert message in strict.json()["errors"][0]["message"]

    legacy = await client.post("/graphql", json=body)
    assert legacy.status_code == 200
    assert media(legacy) == JSON
    assert legacy.json()["errors"]


async def test_field_error_is_200_with_partial_data(client: httpx.AsyncClient) -> None:
    # Execution started: the answer is 200 with data, whatever failed inside.
    response = await client.post("/graphql", json={"query": "{ hello broken }"}, headers=GRJ)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"hello": "hello world", "broken": None}
    assert body["errors"][0]["path"] == ["broken"]


async def test_field_error_nulling_data_is_still_200(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ required }"}, headers=GRJ)
    assert response.status_code == 200
    assert response.json()["data"] is None
    assert response.json()["errors"][0]["path"] == ["required"]


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b'{"query": 1}',
        b'{"query": "{ hello }", "variables": [1]}',
        b'{"query": "{ hello }", "operationName": 3}',
        b"{}",
    ],
    ids=["bad-json", "query-not-string", "variables-not-object", "operation-name-not-string", "no-query"],
)
async def test_malformed_requests_are_400(client: httpx.AsyncClient, content: bytes) -> None:
    response = await client.post("/graphql", content=content, headers={"content-type": JSON, **GRJ})
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"]


async def test_unknown_operation_name_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": "query A { hello }", "operationName": "B"}, headers=GRJ
    )
    assert response.status_code == 400


# -- methods and media types ----------------------------------------------------------


async def test_mutation_over_get_is_405(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": "mutation { bump }"})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert "mutations" in response.json()["errors"][0]["message"]


async def test_mutation_over_post(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "mutation { bump }"})
    assert response.json() == {"data": {"bump": 1}}


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_other_methods_are_405(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, "/graphql", json={"query": "{ hello }"})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1", None],
)
async def test_wrong_content_type_is_415(client: httpx.AsyncClient, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post("/graphql", content=b'{"query": "{ hello }"}', headers=headers)
    assert response.status_code == 415


async def test_unacceptable_accept_is_406(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ hello }"}, headers={"accept": "text/csv"})
    assert response.status_code == 406


async def test_get_without_query_is_400_for_api_clients(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"accept": "application/json"})
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/json", JSON),
        (GRAPHQL_RESPONSE_JSON, GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON}, {JSON};q=0.9", GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON}, {JSON}, multipart/mixed", GRAPHQL_RESPONSE_JSON),  # GraphiQL
        (f"{JSON}, {GRAPHQL_RESPONSE_JSON}", JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=0.5, {JSON}", JSON),
        ("application/*", JSON),
        (f"{JSON};q=0, */*", GRAPHQL_RESPONSE_JSON),
        ("text/html", None),
        (f"{JSON};q=0", None),
    ],
)
def test_negotiate(accept: str | None, expected: str | None) -> None:
    assert negotiate(accept) == expected


# -- the spec's own audits ------------------------------------------------------------


async def _audit(url: str) -> None:
    node = shutil.which("node")
    if node is None or not (NODE_TOOLS / "node_modules" / "graphql-http").is_dir():
        pytest.skip("needs node and `npm ci --prefix tests/federation` (make test runs it)")
    process = await asyncio.create_subprocess_exec(
        node,
        str(NODE_TOOLS / "audit.mjs"),
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    report = output.decode()
    assert process.returncode == 0, report
    not_ok = [line for line in report.splitlines() if line.startswith(("WARN", "ERROR"))]
    assert not_ok == [], report


async def test_graphql_http_audits(settings: Settings) -> None:
    """graphql-http's server audits (every MUST and SHOULD) pass against the view."""
    app = create_app(settings, services=toy_services(settings), schema=toy_schema())
    server = await serve_app(app)
    try:
        await _audit(f"{server.url}/graphql")
    finally:
        await server.stop()


async def test_graphql_http_audits_on_the_embedded_hub(hub: Any) -> None:
    """The same audits against the real hub: security middleware and extensions included."""
    await _audit(f"{hub.url}/graphql")
