"""/metrics after real traffic: the named series are there and move."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from domain.principal import Role
from fixtures.world import DEPARTMENTS, World
from gateway import metrics
from tests.ops.conftest import MATTER, complete_project, samples, value
from tests.schema.conftest import HubFactory


async def scrape(hub: object) -> str:
    response = await hub.client.get("/metrics")  # type: ignore[attr-defined]
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return str(response.text)


async def test_series_after_traffic(make_hub: HubFactory, world: World) -> None:
    hub = await make_hub(cache_ttl_s=60.0)
    # The matter index, built at startup, warmed the department cache: start from a cold one.
    await hub.services.cache.clear(namespace=hub.settings.cache.namespace)
    code = complete_project(world)
    before = await scrape(hub)

    body = await hub.query(MATTER, {"code": code})
    assert body["data"]["matter"]["projectCode"] == code
    # Another document over the same project: executed again (not a whole-result cache
    # hit), its department answers come from the department cache.
    await hub.query(MATTER.replace("query Matter(", "query MatterAgain("), {"code": code})
    text = await scrape(hub)

    def moved(name: str, **labels: object) -> float:
        return value(text, name, **labels) - value(before, name, **labels)

    # The request histogram, labelled by operation and status.
    # Named by the operation's name (MatterAgain is a second name).
    assert moved("onematter_request_duration_seconds_count", operation="Matter", status="200") == 1
    assert moved("onematter_request_duration_seconds_bucket", operation="MatterAgain", le="+Inf") == 1
    for department in DEPARTMENTS:
        assert moved("onematter_department_calls_total", department=department, outcome="ok") >= 1
        assert moved("onematter_department_calls_total", department=department, outcome="cache_hit") >= 1
        assert moved("onematter_department_cache_total", department=department, result="hit") >= 1
        assert moved("onematter_department_cache_total", department=department, result="miss") >= 1
        assert moved("onematter_department_upstream_attempts_total", department=department) >= 1
        assert moved("onematter_department_call_duration_seconds_count", department=department) >= 2
        assert value(text, "onematter_department_breaker_state", department=department) == 0
    # Other routes are labelled by path; /metrics itself was counted by the first scrape.
    assert value(text, "onematter_request_duration_seconds_count", operation="/metrics") >= 1


async def test_errors_retries_and_breaker(make_hub: HubFactory, world: World) -> None:
    hub = await make_hub(overrides={"fire": {"breaker": {"failures": 1, "reset_s": 60.0}}})
    code = complete_project(world)
    before = await scrape(hub)
    await hub.fault("fire", error_rate=1.0, error_status=503)

    body = await hub.query(MATTER, {"code": code})
    assert body["data"]["matter"]["projectCode"] == code  # partial answer, not a failure
    text = await scrape(hub)

    def moved(name: str, **labels: object) -> float:
        return value(text, name, **labels) - value(before, name, **labels)

    assert moved("onematter_department_errors_total", department="fire") >= 1
    assert moved("onematter_department_retries_total", department="fire") >= 1  # 503 is retried
    assert moved("onematter_department_calls_total", department="fire", outcome="error") >= 1
    assert moved("onematter_department_breaker_opened_total", department="fire") >= 1
    assert value(text, "onematter_department_breaker_state", department="fire") == 2
    assert value(text, "onematter_department_breaker_state", department="planning") == 0


# Root fields that validate on their own (any selection set: __typename).
ROOT_FIELDS = {
    "matter": 'matter(projectCode: "%(code)s") { projectCode }',
    "matters": "matters(first: 2) { __typename }",
    "enterprise": 'enterprise(creditCode: "91350200776049653A") { __typename }',
    "approvalGuide": "approvalGuide { __typename }",
    "delegationCoverage": "delegationCoverage { __typename }",
    "delegatedItems": "delegatedItems(first: 1) { __typename }",
    "delegatedItem": 'delegatedItem(code: "X-1") { __typename }',
    "accounts": "accounts { __typename }",
    "departments": "departments { __typename }",
    "accessLog": "accessLog(first: 1) { __typename }",
    "accessLogIntegrity": "accessLogIntegrity { __typename }",
    "service": "_service { sdl }",
}


def operation_counts(text: str) -> dict[str, float]:
    """Requests per ``operation`` label value (GraphQL ones: paths left out)."""
    counts: dict[str, float] = {}
    for key, count in samples(text, "onematter_request_duration_seconds_count").items():
        operation = dict(key)["operation"]
        if not operation.startswith("/"):
            counts[operation] = counts.get(operation, 0) + count
    return counts


async def test_operation_labels_stay_bounded(make_hub: HubFactory, world: World) -> None:
    """500 random root-field combinations, anonymous and signed in: a handful of label values."""
    # 250 requests per principal: on a quiet machine faster than the rate limit allows.
    hub = await make_hub(cache_ttl_s=60.0, limits={"rate_limit": {"enabled": False}})
    code = complete_project(world)
    before = operation_counts(await scrape(hub))
    rng = random.Random(13)
    fields = sorted(ROOT_FIELDS)
    for n in range(500):
        chosen = rng.sample(fields, rng.randint(1, len(fields)))
        body = " ".join(f"f{i}: " + ROOT_FIELDS[f] % {"code": code} for i, f in enumerate(chosen))
        signed_in = n % 2 == 0
        if signed_in:
            name = rng.choice(["", "", "PortalScreen", "WindowScreen"])  # the portal's few names
        else:
            name = rng.choice(["", f"Minted{rng.getrandbits(40):x}"])  # names anonymous callers make up
        kind = "query " + name if name else "query"
        if n % 50 == 7:
            body += " noSuchField"  # now and then a document that does not validate
        response = await hub.post(f"{kind} {{ {body} }}", role=Role.WINDOW_STAFF if signed_in else None)
        assert response.status_code in (200, 400, 401, 403), response.text
    text = await scrape(hub)
    after = operation_counts(text)
    moved = {op: n - before.get(op, 0) for op, n in after.items() if n > before.get(op, 0)}
    assert sum(moved.values()) == 500
    assert set(moved) <= {"anonymous", "other", "invalid", "PortalScreen", "WindowScreen"}, moved
    assert {"anonymous", "invalid", "PortalScreen", "WindowScreen"} <= set(moved)
    assert "Minted" not in text


async def test_names_are_admitted_up_to_a_limit(
    make_hub: HubFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics, "MAX_OPERATION_NAMES", 3)
    hub = await make_hub()
    before = operation_counts(await scrape(hub))
    for i in range(6):
        await hub.post(f"query Screen{i} {{ approvalGuide {{ code }} }}")
    await hub.post("query Screen0 { approvalGuide { code } }", role=None)  # admitted: anyone may use it
    await hub.post("query query { approvalGuide { code } }")
    text = await scrape(hub)
    count = "onematter_request_duration_seconds_count"
    assert [value(text, count, operation=f"Screen{i}") for i in range(4)] == [2, 1, 1, 0]
    assert value(text, count, operation="other") - before.get("other", 0) == 4  # Screen3-5, "query"


async def test_trusted_documents_are_labelled_by_name_or_id(
    make_hub: HubFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    named = "query GuideScreen { approvalGuide { code } }"
    unnamed = "{ approvalGuide { name } }"
    documents = {hashlib.sha256(d.encode()).hexdigest(): d for d in (named, unnamed)}
    path = tmp_path / "trusted.json"
    path.write_text(json.dumps(documents), encoding="utf-8")
    hub = await make_hub(limits={"trusted_documents": str(path)})
    for document in (named, unnamed):
        assert "errors" not in await hub.query(document)
    digest = hashlib.sha256(unnamed.encode()).hexdigest()
    response = await hub.client.post(
        "/graphql",
        json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}},
        headers={"Authorization": f"Bearer {hub.token()}"},
    )
    assert response.status_code == 200 and "errors" not in response.json(), response.text
    await hub.post("query Other { approvalGuide { code } }")  # refused: not a trusted document
    text = await scrape(hub)
    count = "onematter_request_duration_seconds_count"
    assert value(text, count, operation="GuideScreen") == 1
    assert value(text, count, operation=f"document:{digest[:12]}") == 2
    assert value(text, count, operation="Other") == 0


async def test_openmetrics_when_the_scraper_asks(make_hub: HubFactory) -> None:
    hub = await make_hub()
    await hub.post("{ approvalGuide { code } }")
    response = await hub.client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0; charset=utf-8,*/*;q=0.1"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    assert response.text.endswith("# EOF\n")
    assert (
        "onematter_department_calls_total" in response.text
        or "onematter_request_duration_seconds" in response.text
    )
    plain = await hub.client.get("/metrics")
    assert plain.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# EOF" not in plain.text


async def test_metrics_need_no_token(make_hub: HubFactory) -> None:
    hub = await make_hub()
    response = await hub.client.get("/metrics")
    assert response.status_code == 200
    assert "onematter_request_duration_seconds" in response.text
