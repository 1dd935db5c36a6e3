"""The app around /graphql: GraphiQL offline, static assets, context, lifespan.

In-process tests use a small schema (conftest.py); the end-to-end tests at the
bottom run ``onematter serve`` itself, with its embedded departments.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import STATIC_DIR, create_app
from gateway.config import Settings
from tests.gateway.conftest import FakeRegistry, toy_schema, toy_services
from tests.gateway.hub import RunningHub

HTML = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


class _AssetLinks(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.links.append(value)


# -- GraphiQL, offline -------------------------------------------------------------------


async def test_graphiql_page_for_browsers(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "GraphiQL" in response.text


async def test_graphiql_loads_only_same_origin_assets(client: httpx.AsyncClient) -> None:
    page = (await client.get("/graphql", headers=HTML)).text
    parser = _AssetLinks()
    parser.feed(page)
    assets = [link for link in parser.links if not link.startswith("data:")]
    assert assets, "the page should load its scripts and styles"
    for link in assets:
        assert link.startswith("/static/"), f"{link} is not one of the hub's own assets"
        response = await client.get(link)
        assert response.status_code == 200, link
        assert len(response.content) > 100, link


def test_no_cdn_reference_in_shipped_pages() -> None:
    # The vendored bundles mention URLs in comments and error texts; what must hold is
    # that nothing the hub itself writes points a browser elsewhere.
    for name in ("index.html", "init.js", "hub.css"):
        text = (STATIC_DIR / "graphiql" / name).read_text(encoding="utf-8")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text), name


def test_vendored_bundles_have_no_source_map_fetch() -> None:
    for path in Path(STATIC_DIR, "graphiql").glob("*.js"):
        assert "sourceMappingURL" not in path.read_text(encoding="utf-8"), path.name


async def test_graphiql_can_be_turned_off(settings: Settings) -> None:
    app = create_app(settings, services=toy_services(settings), schema=toy_schema(), graphiql=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            assert (await c.get("/graphql", headers=HTML)).status_code == 404


def _graphiql_config(page: str) -> dict[str, Any]:
    match = re.search(r'<script id="graphiql-config" type="application/json">(.*?)</script>', page, re.S)
    assert match, "the page carries its GraphiQL configuration"
    config: dict[str, Any] = json.loads(match.group(1))
    return config


async def test_demo_graphiql_opens_with_a_working_read_only_token(client: httpx.AsyncClient) -> None:
    page = (await client.get("/graphql", headers=HTML)).text
    headers = _graphiql_config(page)["headers"]
    assert headers["Authorization"].startswith("Bearer ")
    body = (await client.post("/graphql", json={"query": ECHO}, headers=headers)).json()
    assert body["data"]["echo"]["principal"] == "graphiql-demo"


async def test_no_token_in_graphiql_with_a_real_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONEMATTER_AUTH_SECRET", "a-real-secret-of-at-least-32-bytes-0123456789")
    settings = Settings()
    app = create_app(settings, services=toy_services(settings), schema=toy_schema())
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            page = (await c.get("/graphql", headers=HTML)).text
    assert _graphiql_config(page) == {"headers": {}}


# -- small routes --------------------------------------------------------------------


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_root_redirects_to_graphql(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 307
    assert response.headers["location"] == "/graphql"


# -- context ---------------------------------------------------------------------------

ECHO = "{ echo { requestId caseNumber upstreamRequestId upstreamCaseNumber principal } }"


async def test_request_id_and_case_number_reach_department_calls(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": ECHO}, headers={"x-request-id": "req-42", "x-case-number": "BJ2023-0001"}
    )
    echo = response.json()["data"]["echo"]
    assert echo == {
        "requestId": "req-42",
        "caseNumber": "BJ2023-0001",
        "upstreamRequestId": "req-42",  # what connectors/http.py stamps on department calls
        "upstreamCaseNumber": "BJ2023-0001",
        "principal": "anonymous",
    }
    assert response.headers["x-request-id"] == "req-42"


async def test_unsafe_ids_are_replaced(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        json={"query": ECHO},
        headers={"x-request-id": "a b\tc" + "x" * 200, "x-case-number": "../../etc"},
    )
    echo = response.json()["data"]["echo"]
    assert re.fullmatch(r"[0-9a-f]{32}", echo["requestId"])
    assert echo["caseNumber"] is None


async def test_each_request_gets_its_own_id(client: httpx.AsyncClient) -> None:
    ids = {
        (await client.post("/graphql", json={"query": ECHO})).json()["data"]["echo"]["requestId"]
        for _ in range(3)
    }
    assert len(ids) == 3


def test_as_of_is_pinned_by_settings() -> None:
    from datetime import date

    settings = Settings.model_validate({"hub": {"as_of": "2023-09-28"}})
    assert toy_services(settings).as_of() == date(2023, 9, 28)


async def test_services_are_closed_once() -> None:
    services = toy_services(Settings())
    await services.aclose()  # no exit stack: a prebuilt Services owns nothing
    assert isinstance(services.registry, FakeRegistry) and not services.registry.closed


# -- the embedded demo, end to end (`onematter serve`) -----------------------------------


def test_serve_prints_the_urls(hub: RunningHub) -> None:
    assert f"{hub.url}/graphql" in hub.banner
    for department in ("planning", "civil_air_defence", "fire", "utilities", "real_estate"):
        assert re.search(rf"{department}\s+http://127\.0\.0\.1:\d+", hub.banner), department


def test_embedded_sources_are_up(hub: RunningHub) -> None:
    body = hub.query("{ sources { department status } }", role="INTEGRATOR")
    assert "errors" not in body, body
    statuses = {s["department"]: s["status"] for s in body["data"]["sources"]}
    # The five built in, and every installed plug-in department (the Makefile installs plugins/*).
    from connectors.discovery import available

    assert statuses == dict.fromkeys(available(), "UP")
    assert {"planning", "civil_air_defence", "fire", "utilities", "real_estate"} <= set(statuses)


def test_embedded_demo_holds_the_reports_ledger(hub: RunningHub) -> None:
    body = hub.query(
        "{ delegationCoverage { original cancelled added inForce takenOver ratio departments } }",
        role="AUDITOR",
    )
    assert "errors" not in body, body
    assert body["data"]["delegationCoverage"] == {
        "original": 346,
        "cancelled": 12,
        "added": 12,
        "inForce": 346,
        "takenOver": 346,
        "ratio": 1.0,
        "departments": 12,
    }


def test_embedded_matter_end_to_end(hub: RunningHub) -> None:
    page = hub.query("{ matters(first: 3) { edges { node { projectCode name } } totalCount } }")
    assert "errors" not in page, page
    edges = page["data"]["matters"]["edges"]
    assert len(edges) == 3 and page["data"]["matters"]["totalCount"] >= 3
    code = edges[0]["node"]["projectCode"]
    body = hub.query(
        "query($c: String!) { matter(projectCode: $c) { projectCode name sources { department status } } }",
        {"c": code},
    )
    assert "errors" not in body, body
    matter = body["data"]["matter"]
    assert matter["projectCode"] == code and matter["name"] == edges[0]["node"]["name"]
    assert {s["status"] for s in matter["sources"]} <= {"OK"}


def test_embedded_entities_resolve_by_key(hub: RunningHub) -> None:
    code = hub.query("{ matters(first: 1) { edges { node { projectCode name } } } }")["data"]["matters"]
    node = code["edges"][0]["node"]
    body = hub.query(
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on Matter { projectCode name } } }",
        {"r": [{"__typename": "Matter", "projectCode": node["projectCode"]}]},
    )
    assert "errors" not in body, body
    assert body["data"]["_entities"] == [node]


def test_embedded_enterprise_entity_resolves_by_key(hub: RunningHub) -> None:
    page = hub.query("{ matters(first: 1) { edges { node { enterprise { creditCode name } } } } }")
    enterprise = page["data"]["matters"]["edges"][0]["node"]["enterprise"]
    body = hub.query(
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on Enterprise { creditCode name } } }",
        {"r": [{"__typename": "Enterprise", "creditCode": enterprise["creditCode"]}]},
    )
    assert "errors" not in body, body
    assert body["data"]["_entities"] == [enterprise]


def test_bad_input_is_a_graphql_error_not_a_500(hub: RunningHub) -> None:
    response = hub.post({"query": '{ matter(projectCode: "nope") { name } }'}, role="WINDOW_STAFF")
    assert response.status_code == 200
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize("workers", [2])
def test_serve_with_workers(tmp_path: Path, workers: int) -> None:
    with RunningHub.start(tmp_path, workers=workers) as hub:
        body = hub.query("{ sources { department status } }", role="INTEGRATOR")
        assert "errors" not in body, body
        from connectors.discovery import available

        assert len(body["data"]["sources"]) == len(available())  # the five and installed plug-ins


def test_graphiql_default_query_is_valid() -> None:
    from graphql import parse, validate

    from schema import build_schema

    script = (STATIC_DIR / "graphiql" / "init.js").read_text(encoding="utf-8")
    block = re.search(r"var defaultQuery = \[(.*?)\]\.join", script, re.S)
    assert block is not None
    lines = json.loads("[" + block.group(1).strip().rstrip(",") + "]")
    errors = validate(build_schema()._schema, parse("\n".join(lines)))
    assert errors == []


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"ONEMATTER__CONNECTORS__NOPE__BASE_URL": "http://127.0.0.1:9"}, "names no installed connector"),
        (
            {"ONEMATTER__REGISTRY__DATABASE_URL": "mysql://db/onematter", "ONEMATTER__HUB__EMBEDDED": "true"},
            "unsupported registry database",
        ),
        ({"ONEMATTER__HUB__EMBEDDED": "false"}, "has no base_url"),
        ({"ONEMATTER__HUB__PORT": "http"}, "invalid configuration"),
    ],
    ids=["unknown-connector", "bad-database", "no-base-url", "bad-port"],
)
def test_configuration_mistakes_are_one_clear_line(
    tmp_path: Path, override: dict[str, str], message: str
) -> None:
    import os
    import subprocess

    from tests.gateway.hub import ONEMATTER

    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMATTER__")}
    env.update({"ONEMATTER__HUB__EMBEDDED": "false", **override})
    done = subprocess.run(
        [str(ONEMATTER), "serve", "--port", "0"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
