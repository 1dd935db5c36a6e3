"""The paging and auth styles docs/adding-a-connector.md shows, each run against a loopback system.

A small department system answers the same cases three ways: offset/limit
paging behind an API key, cursor paging behind OAuth2 client credentials
(token endpoint, bearer, renewal on a 401), and page/size paging behind HTTP
Basic is the urban management department (test_mapped_department.py). Each
mapping's batch lookup must return every case, fetched page by page.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.mapped import mapped_connector
from connectors.mapping_format import parse_mapping
from domain.records import Lifecycle
from fixtures.faults import with_faults
from tests.connectors.roundtrip import Served

CODES = [f"2024-430472-47-03-{n:06d}" for n in range(1, 24)]
API_KEY, CLIENT_ID, CLIENT_SECRET = "k-123", "hub", "s3cret"


def record(code: str) -> dict[str, Any]:
    return {"code": code, "cases": [{"type": "X", "name": "某许可", "state": "DONE", "no": f"N{code[-3:]}"}]}


def department() -> Any:
    issued: list[str] = []

    def bearer_ok(request: Request) -> bool:
        return bool(issued) and request.headers.get("authorization") == f"Bearer {issued[-1]}"

    async def token(request: Request) -> Response:
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        issued.append(f"t{len(issued) + 1}")
        return JSONResponse({"access_token": issued[-1], "token_type": "Bearer", "expires_in": 3600})

    async def offset_list(request: Request) -> Response:
        if request.headers.get("x-api-key") != API_KEY:
            return JSONResponse({"error": "key"}, status_code=401)
        wanted = request.query_params["codes"].split(",")
        offset, limit = int(request.query_params["offset"]), int(request.query_params["limit"])
        rows = [record(c) for c in wanted if c in CODES]
        return JSONResponse({"total": len(rows), "list": rows[offset : offset + limit]})

    async def cursor_search(request: Request) -> Response:
        if not bearer_ok(request):
            return JSONResponse({"error": "token"}, status_code=401)
        wanted = (await request.json())["projectCodes"]
        start = int(request.query_params.get("pageToken") or 0)
        rows = [record(c) for c in wanted if c in CODES]
        following = start + 5
        return JSONResponse(
            {"items": rows[start:following], "nextPageToken": str(following) if following < len(rows) else ""}
        )

    async def one(request: Request) -> Response:
        code = request.path_params["code"]
        if request.url.path.startswith("/v2") and not bearer_ok(request):
            return JSONResponse({"error": "token"}, status_code=401)
        return JSONResponse(record(code)) if code in CODES else JSONResponse({}, status_code=404)

    async def forget_tokens(request: Request) -> Response:
        issued.append("revoked")  # the kept token no longer matches: the next call gets a 401
        return JSONResponse({})

    return with_faults(
        Starlette(
            routes=[
                Route("/oauth/token", token, methods=["POST"]),
                Route("/v1/cases", offset_list),
                Route("/v1/cases/{code}", one),
                Route("/v2/cases:search", cursor_search, methods=["POST"]),
                Route("/v2/cases/{code}", one),
                Route("/revoke", forget_tokens, methods=["POST"]),
            ]
        )
    )


COMMON = """
format = 1
[department]
name = "styles"
title = "样例局"
[project]
code = "code"
[statuses]
DONE = "APPROVED"
[records.items]
source = "cases"
[records.items.fields]
kind = { path = "type", map = { X = "styles.permit" } }
name = "name"
status = "state"
file_number = "no"
"""
OFFSET_API_KEY = (
    COMMON
    + """
[auth]
style = "api_key"
header = "X-Api-Key"
[lookup]
path = "/v1/cases/{project_code}"
[batch]
path = "/v1/cases"
query = { codes = "{project_codes}" }
records = "list"
paging = { style = "offset", offset = "offset", limit = "limit", per_page = 4, total = "total" }
"""
)
CURSOR_OAUTH2 = (
    COMMON
    + """
[auth]
style = "oauth2"
token_path = "/oauth/token"
[lookup]
path = "/v2/cases/{project_code}"
[batch]
method = "POST"
path = "/v2/cases:search"
json = { projectCodes = "{project_codes}" }
records = "items"
paging = { style = "cursor", cursor = "pageToken", next = "nextPageToken" }
"""
)


@pytest.fixture
async def served(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    monkeypatch.setenv("ONEMATTER_STYLES_API_KEY", API_KEY)
    monkeypatch.setenv("ONEMATTER_STYLES_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("ONEMATTER_STYLES_CLIENT_SECRET", CLIENT_SECRET)
    made: list[Served] = []

    async def start(text: str) -> Any:
        made.append(Served(mapped_connector(parse_mapping(text))))
        return await made[-1].start(department())

    yield start
    for s in made:
        await s.aclose()


@pytest.mark.parametrize(
    ("mapping", "path", "calls"),
    [(OFFSET_API_KEY, "/v1/cases", 6), (CURSOR_OAUTH2, "/v2/cases:search", 5)],
    ids=["offset-api-key", "cursor-oauth2"],
)
async def test_every_page_is_fetched(served: Any, mapping: str, path: str, calls: int) -> None:
    running = await served(mapping)
    found = await running.connector.fetch_projects([*CODES, "2024-430472-47-03-999999"])
    assert sorted(found) == CODES
    assert {view.items[0].status for view in found.values()} == {Lifecycle.APPROVED}
    assert await running.calls(path) == calls  # 23 cases: 6 pages of 4, or 5 pages of 5


async def test_oauth2_renews_its_token_after_a_401(served: Any) -> None:
    running = await served(CURSOR_OAUTH2)
    assert await running.connector.fetch_project(CODES[0]) is not None
    await running.admin.post("/revoke")
    view = await running.connector.fetch_project(CODES[1])
    assert view is not None and view.items[0].file_number == "N002"
    assert await running.calls("/oauth/token") == 2
