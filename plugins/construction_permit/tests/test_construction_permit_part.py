"""The part: its field in the hub's SDL, what it shows of the bureau's answer, and the permits it reports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest
from aiocache import SimpleMemoryCache
from onematter_construction_permit.connector import ConstructionPermitConnector
from onematter_construction_permit.fixture import (
    DEMO_PASSWORD,
    DEMO_USER,
    TIANJIA_CODE,
    UNKNOWN,
    create_app,
    simulator,
)
from onematter_construction_permit.part import PART

from connectors.http import build_client
from connectors.settings import ConnectorSettings
from domain.records import PermitIssued
from schema import PartInput, build_schema, load_part

AS_OF = date(2024, 6, 28)
CREDENTIALS = {
    "username": "ONEMATTER_CONSTRUCTION_PERMIT_USERNAME",
    "password": "ONEMATTER_CONSTRUCTION_PERMIT_PASSWORD",
}


def test_the_part_adds_its_field_to_matter() -> None:
    sdl = build_schema(
        parts=[load_part("construction_permit", "onematter_construction_permit.part:PART")]
    ).as_str()
    matter = sdl[sdl.index("type Matter ") :].split("}", 1)[0]
    assert "  constructionPermit: ConstructionPermits" in matter
    assert "type ConstructionPermitPhase {" in sdl


@pytest.fixture
async def connector(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ConstructionPermitConnector]:
    from fixtures.serve import serve_app

    monkeypatch.setenv(CREDENTIALS["username"], DEMO_USER)
    monkeypatch.setenv(CREDENTIALS["password"], DEMO_PASSWORD)
    server = await serve_app(create_app())
    settings = ConnectorSettings(base_url=server.url, credentials=CREDENTIALS)
    client = build_client(settings)
    try:
        yield ConstructionPermitConnector(settings=settings, client=client, cache=SimpleMemoryCache())
    finally:
        await client.aclose()
        await server.stop()


async def test_tianjias_earthwork_permit_was_issued_on_2023_09_28(
    connector: ConstructionPermitConnector,
) -> None:
    view = await connector.fetch_project(TIANJIA_CODE)
    assert view is not None
    shown = PART.show(PartInput(department="construction_permit", view=view, as_of=AS_OF))
    first = shown.permits[0]
    assert (first.phase, first.status.value, first.issued_on) == ("EARTHWORK", "APPROVED", date(2023, 9, 28))
    assert first.permit_number == "430472202309280101"
    assert [(p.phase, p.status.value) for p in shown.permits[1:]] == [
        ("BASEMENT", "NOT_STARTED"),
        ("ABOVE_GROUND", "NOT_STARTED"),
    ]
    assert {s.kind for s in shown.supervision} == {"QUALITY", "SAFETY"}
    assert shown.joint_acceptance is not None and shown.joint_acceptance.raw_status == "未申请"
    # What the hub's phasedPermit reads, from any department that reports it.
    issued = [r for r in view.records if isinstance(r, PermitIssued)]
    assert issued == [
        PermitIssued("EARTHWORK", "430472202309280101", date(2023, 9, 28), "construction_permit")
    ]
    permit_items = [i for i in view.items if i.kind == "construction_permit.permit"]
    assert (permit_items[0].statutory_limit_days, permit_items[0].promised_limit_days) == (7, 3)
    unknown = await connector.fetch_project(UNKNOWN)
    assert PART.show(PartInput(department="construction_permit", view=unknown, as_of=AS_OF)).permits == []


async def test_many_projects_in_one_xml_query(connector: ConstructionPermitConnector) -> None:
    found = await connector.fetch_projects([TIANJIA_CODE, UNKNOWN])
    assert list(found) == [TIANJIA_CODE]


async def test_the_bureau_wants_http_basic() -> None:
    from fixtures.serve import serve_app

    server = await serve_app(create_app())
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            refused = await client.get(f"/sgxk/xm/{TIANJIA_CODE}")
            assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")
            allowed = await client.get(f"/sgxk/xm/{TIANJIA_CODE}", auth=(DEMO_USER, DEMO_PASSWORD))
            assert allowed.status_code == 200 and allowed.content.startswith(b"<?xml")
    finally:
        await server.stop()


def test_the_limits_are_the_catalogues() -> None:
    from onematter_construction_permit.fixture import ACCEPTANCE_LIMITS, PERMIT_LIMITS, SUPERVISION_LIMITS

    from registry.catalogue_seed import build_catalogue

    by_kind = {kind: (e.statutory_limit, e.promised_limit) for e in build_catalogue() for kind in e.kinds}
    assert by_kind["construction_permit.permit"] == PERMIT_LIMITS
    assert by_kind["construction_permit.quality_supervision"] == SUPERVISION_LIMITS
    assert by_kind["construction_permit.safety_supervision"] == SUPERVISION_LIMITS
    assert by_kind["construction_permit.joint_acceptance"] == ACCEPTANCE_LIMITS


async def test_the_simulator_answers_for_the_hubs_projects() -> None:
    from fixtures.serve import serve_app

    codes = [f"2023-430472-47-03-{n:06d}" for n in range(1, 10)]
    system = simulator(codes)
    server = await serve_app(system.app)
    try:
        async with httpx.AsyncClient(base_url=server.url, auth=(DEMO_USER, DEMO_PASSWORD)) as client:
            assert (await client.get(f"/sgxk/xm/{codes[0]}")).status_code == 200  # every third
            assert (await client.get(f"/sgxk/xm/{codes[1]}")).status_code == 404
            assert (await client.get(f"/sgxk/xm/{TIANJIA_CODE}")).status_code == 200
    finally:
        await server.stop()
