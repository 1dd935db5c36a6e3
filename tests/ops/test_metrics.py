"""/metrics after real traffic: the named series are there and move."""

from __future__ import annotations

from domain.principal import Role
from fixtures.world import DEPARTMENTS, World
from tests.ops.conftest import MATTER, complete_project, value
from tests.schema.conftest import HubFactory


async def scrape(hub: object) -> str:
    response = await hub.client.get("/metrics")  # type: ignore[attr-defined]
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return str(response.text)


async def test_series_after_traffic(make_hub: HubFactory, world: World) -> None:
    hub = await make_hub(cache_ttl_s=60.0)
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
    assert moved("onematter_request_duration_seconds_count", operation="query:matter", status="200") == 2
    assert moved("onematter_request_duration_seconds_bucket", operation="query:matter", le="+Inf") == 2
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


async def test_operation_labels_stay_bounded(make_hub: HubFactory) -> None:
    hub = await make_hub()
    before = await scrape(hub)
    # Unknown fields, parse errors and made-up operation names never become labels.
    await hub.post("query { noSuchField }")
    await hub.post("query {")
    await hub.post("query Whatever123 { approvalGuide { code } }", role=Role.WINDOW_STAFF)
    text = await scrape(hub)
    assert "noSuchField" not in text and "Whatever123" not in text
    invalid = value(text, "onematter_request_duration_seconds_count", operation="invalid")
    assert invalid - value(before, "onematter_request_duration_seconds_count", operation="invalid") == 2
    assert value(text, "onematter_request_duration_seconds_count", operation="query:approvalGuide") >= 1


async def test_metrics_need_no_token(make_hub: HubFactory) -> None:
    hub = await make_hub()
    response = await hub.client.get("/metrics")
    assert response.status_code == 200
    assert "onematter_request_duration_seconds" in response.text
