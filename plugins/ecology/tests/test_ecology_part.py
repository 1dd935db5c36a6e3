"""The part: its field in the hub's SDL, and what it shows of a real department answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest
from aiocache import SimpleMemoryCache
from onematter_ecology.connector import EcologyConnector
from onematter_ecology.fixture import DEMO_API_KEY, HELI_CODE, UNKNOWN, create_app, simulator
from onematter_ecology.part import PART

from connectors.http import build_client
from connectors.settings import ConnectorSettings
from domain.limits import LimitUnit
from domain.rules import item_clock
from schema import PartInput, build_schema, load_part

AS_OF = date(2024, 6, 28)


def test_the_part_adds_its_field_to_matter() -> None:
    sdl = build_schema(parts=[load_part("ecology", "onematter_ecology.part:PART")]).as_str()
    matter = sdl[sdl.index("type Matter ") :].split("}", 1)[0]
    assert "  ecology: [EcologyAssessment!]" in matter
    assert "type EcologyAssessment {" in sdl


@pytest.fixture
async def connector(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[EcologyConnector]:
    from fixtures.serve import serve_app

    monkeypatch.setenv("ONEMATTER_ECOLOGY_API_KEY", DEMO_API_KEY)
    server = await serve_app(create_app())
    settings = ConnectorSettings(base_url=server.url, credentials={"api_key": "ONEMATTER_ECOLOGY_API_KEY"})
    client = build_client(settings)
    try:
        yield EcologyConnector(settings=settings, client=client, cache=SimpleMemoryCache())
    finally:
        await client.aclose()
        await server.stop()


async def test_heli_forklift_was_approved_in_47_days_against_a_90_day_promise(
    connector: EcologyConnector,
) -> None:
    view = await connector.fetch_project(HELI_CODE)
    assert view is not None
    [shown] = PART.show(PartInput(department="ecology", view=view, as_of=AS_OF))
    assert (shown.form, shown.raw_form, shown.status.value) == ("REPORT_BOOK", "报告书", "APPROVED")
    assert (shown.accepted_on, shown.decided_on) == (date(2023, 3, 1), date(2023, 4, 17))
    assert (shown.days_taken, shown.promised_limit, shown.limit_unit) == (47, 90, "CALENDAR_DAYS")
    assert shown.within_promise is True and shown.approval_number == "衡环评〔2023〕17号"
    # The item's clock counts the same calendar days against the same promise.
    [item] = view.items
    assert (item.kind, item.limit_unit) == ("ecology.report_book", LimitUnit.CALENDAR_DAYS)
    clock = item_clock(item, AS_OF)
    assert clock.limit_problem is None and not clock.overdue
    unknown = await connector.fetch_project(UNKNOWN)
    assert PART.show(PartInput(department="ecology", view=unknown, as_of=AS_OF)) == []


async def test_many_projects_in_one_form_post(connector: EcologyConnector) -> None:
    found = await connector.fetch_projects([HELI_CODE, UNKNOWN])
    assert list(found) == [HELI_CODE]


async def test_the_department_wants_form_posts_with_its_token() -> None:
    from fixtures.serve import serve_app

    server = await serve_app(create_app())
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            as_json = await client.post("/hpsp/xmcx", json={"xmdm": HELI_CODE, "token": DEMO_API_KEY})
            assert as_json.status_code == 400
            wrong = await client.post("/hpsp/xmcx", data={"xmdm": HELI_CODE, "token": "x"})
            assert wrong.status_code == 401
    finally:
        await server.stop()


def test_the_limits_are_the_catalogues() -> None:
    from onematter_ecology.fixture import LIMITS

    from registry.catalogue_seed import build_catalogue

    by_kind = {kind: e for e in build_catalogue() for kind in e.kinds}
    units = {"自然日": LimitUnit.CALENDAR_DAYS, "工作日": LimitUnit.WORKING_DAYS}
    for form, kind in (
        ("报告书", "ecology.report_book"),
        ("报告表", "ecology.report_form"),
        ("登记表", "ecology.registration_form"),
    ):
        statutory, promised, unit = LIMITS[form]
        entry = by_kind[kind]
        assert (entry.statutory_limit, entry.promised_limit, entry.limit_unit) == (
            statutory,
            promised,
            units[unit],
        )


async def test_the_simulator_answers_for_the_hubs_projects() -> None:
    from fixtures.serve import serve_app

    codes = [f"2023-430472-47-03-{n:06d}" for n in range(1, 10)]
    system = simulator(codes)
    assert system.credentials == {"api_key": ("ONEMATTER_ECOLOGY_API_KEY", DEMO_API_KEY)}
    server = await serve_app(system.app)
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            first = await client.post("/hpsp/xmcx", data={"xmdm": codes[0], "token": DEMO_API_KEY})
            assert first.status_code == 200  # every fourth
            assert (
                await client.post("/hpsp/xmcx", data={"xmdm": codes[1], "token": DEMO_API_KEY})
            ).status_code == 404
            assert (
                await client.post("/hpsp/xmcx", data={"xmdm": HELI_CODE, "token": DEMO_API_KEY})
            ).status_code == 200
    finally:
        await server.stop()
