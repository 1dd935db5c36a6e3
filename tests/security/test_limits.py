"""Hard limits: body and URL size, deadline, rate limit, CORS, cost, trusted documents."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from graphql import parse

from domain.principal import Role
from gateway.security import TokenBucket
from schema.limits import CostEstimate
from tests.security.conftest import HubFactory, toy_schema

MATTERS = "{ matters { projectCode } }"


def code(response_json: dict) -> str:  # type: ignore[type-arg]
    return response_json["errors"][0]["extensions"]["code"]


async def test_body_limit(make_secure_hub: HubFactory) -> None:
    hub = await make_secure_hub(limits={"max_body_bytes": 2048})
    ok = await hub.post("{ approvalGuide }")
    assert ok.status_code == 200
    big = await hub.client.post(
        "/graphql",
        content=json.dumps({"query": "{ approvalGuide }", "pad": "x" * 4096}),
        headers={"Content-Type": "application/json"},
    )
    assert big.status_code == 413
    assert code(big.json()) == "PAYLOAD_TOO_LARGE"


async def test_streamed_body_without_length_is_cut_off(make_secure_hub: HubFactory) -> None:
    hub = await make_secure_hub(limits={"max_body_bytes": 2048})

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b" " * 1024

    response = await hub.client.post(
        "/graphql", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


async def test_deadline_is_a_504_graphql_error(make_secure_hub: HubFactory) -> None:
    hub = await make_secure_hub(limits={"deadline_s": 0.05})
    response = await hub.post("{ slow }", role=Role.WINDOW_STAFF)
    assert response.status_code == 504
    assert code(response.json()) == "DEADLINE_EXCEEDED"
    assert (await hub.post("{ approvalGuide }")).status_code == 200


async def test_rate_limit_per_principal(make_secure_hub: HubFactory) -> None:
    hub = await make_secure_hub(limits={"rate_limit": {"requests_per_s": 0.01, "burst": 2}})
    statuses = [(await hub.post("{ sources }", role=Role.INTEGRATOR)).status_code for _ in range(2)]
    assert statuses == [200, 200]
    limited = await hub.post("{ sources }", role=Role.INTEGRATOR)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert code(limited.json()) == "RATE_LIMITED"
    # another principal has its own bucket
    assert (await hub.post("{ delegationCoverage }", role=Role.AUDITOR)).status_code == 200


async def test_health_checks_are_not_rate_limited(make_secure_hub: HubFactory) -> None:
    hub = await make_secure_hub(limits={"rate_limit": {"requests_per_s": 0.01, "burst": 1}})
    assert [(await hub.client.get("/healthz")).status_code for _ in range(3)] == [200, 200, 200]


def test_token_bucket_refills_with_time() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=2, max_keys=100, clock=lambda: now[0])
    assert [bucket.take("a"), bucket.take("a")] == [0.0, 0.0]
    assert bucket.take("a") == pytest.approx(0.5)
    now[0] += 0.5
    assert bucket.take("a") == 0.0
    assert bucket.take("b") == 0.0


def test_token_bucket_forgets_the_least_recent_principal() -> None:
    bucket = TokenBucket(rate=1.0, burst=1, max_keys=100, clock=lambda: 0.0)
    for i in range(150):
        bucket.take(f"p{i}")
    assert len(bucket._buckets) == 100


async def test_cors_allows_only_listed_origins(make_secure_hub: HubFactory) -> None:
    hub = await make_secure_hub(limits={"cors": {"allow_origins": ["https://portal.example.gov.cn"]}})
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    allowed = await hub.client.options(
        "/graphql", headers={"Origin": "https://portal.example.gov.cn", **preflight}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://portal.example.gov.cn"
    refused = await hub.client.options("/graphql", headers={"Origin": "https://evil.example", **preflight})
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    simple = await hub.post("{ approvalGuide }", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


async def test_no_cors_by_default(make_secure_hub: HubFactory) -> None:
    hub = await make_secure_hub()
    response = await hub.post("{ approvalGuide }", headers={"Origin": "https://portal.example.gov.cn"})
    assert "access-control-allow-origin" not in response.headers


# -- cost -------------------------------------------------------------------------------------------


def cost(query: str, variables: dict | None = None, **sizes: int) -> int:  # type: ignore[type-arg]
    from gateway.config import Settings

    schema = toy_schema(Settings())._schema
    estimate = CostEstimate(default_page_size=20, default_list_size=10, list_sizes=sizes.get("sizes", {}))  # type: ignore[arg-type]
    return estimate.of(schema, parse(query), None, variables)


def test_cost_multiplies_lists_by_their_page_size() -> None:
    assert cost("{ approvalGuide }") == 1
    assert cost("{ matters(first: 5) { projectCode name } }") == 1 + 5 * 2
    assert cost("{ matters { projectCode } }") == 1 + 20 * 1  # the field's declared default `first`
    assert cost("query($n: Int!) { matters(first: $n) { projectCode } }", {"n": 50}) == 1 + 50
    nested = "{ matters(first: 5) { stages { name items { code status } } } }"
    assert cost(nested) == 1 + 5 * (1 + 10 * (1 + 1 + 10 * 2))
    fragment = "query { ...F } fragment F on Query { matters(first: 2) { name } }"
    assert cost(fragment) == 1 + 2


def test_a_documents_cost_follows_the_variables_that_set_its_pages() -> None:
    """Costs are kept per parsed document, except where a variable gives the page size."""
    from gateway.config import Settings

    schema = toy_schema(Settings())._schema
    estimate = CostEstimate(default_page_size=20, default_list_size=10, list_sizes={})
    paged = parse("query($n: Int) { matters(first: $n) { projectCode } }")
    assert [estimate.of(schema, paged, None, {"n": n}) for n in (50, 5, None)] == [51, 6, 21]
    fixed = parse("query($n: Int) { matters(first: 7) { projectCode } approvalGuide }")
    assert [estimate.of(schema, fixed, None, {"n": n}) for n in (50, 5)] == [9, 9]


async def test_a_costly_query_is_refused_before_it_runs(make_secure_hub: HubFactory) -> None:
    hub = await make_secure_hub(limits={"max_cost": 500})
    before = await hub.counts()
    body = (
        await hub.post("{ matters(first: 100) { stages { items { code } } } }", role=Role.WINDOW_STAFF)
    ).json()
    assert code(body) == "QUERY_TOO_COSTLY"
    assert body["errors"][0]["extensions"]["cost"] > 500
    assert await hub.counts() == before
    ok = await hub.post("{ matters(first: 3) { projectCode } }", role=Role.WINDOW_STAFF)
    assert "errors" not in ok.json()


async def test_the_token_limit_is_coded_like_the_other_size_limits(make_secure_hub: HubFactory) -> None:
    hub = await make_secure_hub(limits={"max_tokens": 50})
    body = (await hub.post("{ " + "approvalGuide " * 60 + "}")).json()
    assert body["errors"][0]["extensions"] == {"code": "QUERY_TOO_COMPLEX", "limit": 50}
    assert "more than 50 tokens" in body["errors"][0]["message"]
    plain = (await hub.post("{ approvalGuide ")).json()  # an ordinary syntax error keeps its own shape
    assert "Syntax Error" in plain["errors"][0]["message"]
    assert plain["errors"][0].get("extensions", {}).get("code") != "QUERY_TOO_COMPLEX"
    ok = await hub.post("{ approvalGuide }")
    assert "errors" not in ok.json()


# -- trusted documents -------------------------------------------------------------------------------

GUIDE = "query Guide { approvalGuide }"
GUIDE_HASH = hashlib.sha256(GUIDE.encode()).hexdigest()


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "trusted.json"
    path.write_text(
        json.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [{"id": GUIDE_HASH, "name": "Guide", "type": "query", "body": GUIDE}],
            }
        )
    )
    return path


async def test_trusted_documents_run_by_hash_or_text(make_secure_hub: HubFactory, manifest: Path) -> None:
    hub = await make_secure_hub(limits={"trusted_documents": str(manifest)})
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": GUIDE_HASH}}
    by_hash = await hub.client.post("/graphql", json={"extensions": persisted})
    assert by_hash.status_code == 200, by_hash.text
    assert by_hash.json()["data"]["approvalGuide"]
    by_text = await hub.post(GUIDE)
    assert by_text.json()["data"]["approvalGuide"]
    by_get = await hub.client.get("/graphql", params={"extensions": json.dumps(persisted)})
    assert by_get.json()["data"]["approvalGuide"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"query": "{ approvalGuide }"}, "PERSISTED_QUERY_NOT_ALLOWED"),
        (
            {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}},
            "PERSISTED_QUERY_NOT_FOUND",
        ),
        ({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "xyz"}}}, "PERSISTED_QUERY_INVALID"),
        (
            {
                "query": "{ approvalGuide }",
                "extensions": {"persistedQuery": {"version": 1, "sha256Hash": GUIDE_HASH}},
            },
            "PERSISTED_QUERY_HASH_MISMATCH",
        ),
        ({}, "PERSISTED_QUERY_NOT_FOUND"),
    ],
)
async def test_trusted_documents_refuse_everything_else(
    make_secure_hub: HubFactory,
    manifest: Path,
    body: dict,
    expected: str,  # type: ignore[type-arg]
) -> None:
    hub = await make_secure_hub(limits={"trusted_documents": str(manifest)})
    response = await hub.client.post("/graphql", json=body)
    assert response.status_code in (200, 400)
    assert code(response.json()) == expected


def test_a_manifest_with_a_wrong_hash_is_refused(tmp_path: Path) -> None:
    from domain.errors import ConfigError
    from gateway.config import Settings
    from gateway.security import extensions

    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"0" * 64: GUIDE}))
    with pytest.raises(ConfigError, match="not the sha256"):
        extensions(Settings(limits={"trusted_documents": str(path)}))
