"""The civil air defence connector against the simulated SOAP service, over real loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.civil_air_defence import (
    SERVICE_PATH,
    STATUS_LABELS,
    CivilAirDefenceConnector,
    build_request,
)
from connectors.testing import ConnectorContract
from connectors.xmlfields import parse_xml
from domain.errors import DepartmentMalformed, DepartmentRejected, DepartmentUnavailable
from fixtures.civil_air_defence import STATUS_LABELS as FIXTURE_LABELS
from fixtures.civil_air_defence import create_app
from fixtures.faults import FaultInjector, FaultSettings, with_faults
from fixtures.world import World
from tests.connectors.roundtrip import Served, check_batch, check_round_trip
from tests.fixtures.handmade import EARLY, FEE, SHELTER, handmade_world


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., object]]:
    served = Served(CivilAirDefenceConnector, path=SERVICE_PATH)
    yield served.start
    await served.aclose()


@pytest.mark.parametrize("kind", ["handmade", "generated"])
async def test_round_trip_equals_the_world_truth(serve, kind: str, request: pytest.FixtureRequest) -> None:
    world: World = handmade_world() if kind == "handmade" else request.getfixturevalue("world")
    await check_round_trip(await serve(create_app(world)), world, "civil_air_defence")


@pytest.mark.parametrize("kind", ["handmade", "generated"])
async def test_batch_equals_the_world_truth_in_few_calls(
    serve, kind: str, request: pytest.FixtureRequest
) -> None:
    world: World = handmade_world() if kind == "handmade" else request.getfixturevalue("world")
    running = await serve(create_app(world), batch_size=50)
    codes = await check_batch(
        running,
        world,
        "civil_air_defence",
        path=SERVICE_PATH,
        per_call=50,
        unknown="2023-430472-47-03-999999",
    )
    # Every key is cached now, the unknown ones as "not known": no further upstream call.
    assert await running.connector.fetch_project(EARLY if EARLY in world.projects else codes[-1]) is None
    assert await running.connector.fetch_projects(codes[:3]) == {
        c: v for c, v in world.views.get("civil_air_defence", {}).items() if c in codes[:3]
    }
    assert await running.calls() == -(-len(codes) // 50)


async def test_unknown_project_is_none_and_odd_codes_are_not_sent(serve) -> None:
    running = await serve(create_app(handmade_world()))
    assert await running.connector.fetch_project(EARLY) is None
    assert await running.connector.fetch_project("bad\x00code") is None
    assert await running.connector.fetch_projects(["\x01", ""]) == {}
    assert await running.calls() == 1


async def test_malformed_answers_become_department_malformed(serve) -> None:
    running = await serve(create_app(handmade_world(), faults=FaultSettings(malformed_rate=1.0)))
    with pytest.raises(DepartmentMalformed) as caught:
        await running.connector.fetch_project(FEE)
    assert caught.value.department == "civil_air_defence"
    assert await running.calls() == 1  # a malformed answer is not retried
    with pytest.raises(DepartmentMalformed):
        await running.connector.fetch_projects([FEE, SHELTER])


async def test_maintenance_is_unavailable_and_health_says_so(serve) -> None:
    running = await serve(create_app(handmade_world(), faults=FaultSettings(maintenance=True)))
    with pytest.raises(DepartmentUnavailable):
        await running.connector.fetch_project(FEE)
    report = await running.connector.health()
    assert report.status == "MAINTENANCE" and report.department == "civil_air_defence"
    await running.admin.put("/_admin/faults", json={"maintenance": False})
    assert (await running.connector.health()).status == "UP"


def _answering(body: bytes, status: int = 200) -> FaultInjector:
    async def soap(request: Request) -> Response:
        return Response(body, status_code=status, media_type="text/xml; charset=utf-8")

    return with_faults(Starlette(routes=[Route(SERVICE_PATH, soap, methods=["POST"])]))


SOAP_OPEN = b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
SOAP_CLOSE = b"</soap:Body></soap:Envelope>"
CASE = (
    b'<QueryCaseResponse xmlns="http://rfb.hengyang.gov.cn/ws/CivilDefence"><aj><xmbm>&x;</xmbm>'
    b"</aj></QueryCaseResponse>"
)


@pytest.mark.parametrize(
    "doctype",
    [
        b'<!DOCTYPE e [<!ENTITY x "2023-430472-47-03-000002">]>',  # an internal entity
        b'<!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>',  # an external one
        b'<!DOCTYPE e [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY x "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>',  # the start of a billion laughs
    ],
)
async def test_an_answer_with_a_doctype_is_refused(serve, doctype: bytes) -> None:
    body = b'<?xml version="1.0"?>' + doctype + SOAP_OPEN + CASE + SOAP_CLOSE
    running = await serve(_answering(body))
    with pytest.raises(DepartmentMalformed):
        await running.connector.fetch_project(FEE)
    with pytest.raises(ValueError):
        parse_xml(body)


async def test_other_client_faults_are_rejections_and_not_retried(serve) -> None:
    fault = (
        SOAP_OPEN + b"<soap:Fault><faultcode>soap:Client</faultcode><faultstring>secret detail</faultstring>"
        b'<detail><CaseFault xmlns="http://rfb.hengyang.gov.cn/ws/CivilDefence"><dm>QQCW</dm></CaseFault>'
        b"</detail></soap:Fault>" + SOAP_CLOSE
    )
    running = await serve(_answering(fault, 500))
    with pytest.raises(DepartmentRejected) as caught:
        await running.connector.fetch_project(FEE)
    assert "secret" not in str(caught.value) and "127.0.0.1" not in str(caught.value)
    assert await running.calls() == 1


async def test_server_faults_and_plain_500s_are_unavailable(serve) -> None:
    fault = SOAP_OPEN + b"<soap:Fault><faultcode>soap:Server</faultcode><faultstring>x</faultstring>"
    running = await serve(_answering(fault + b"</soap:Fault>" + SOAP_CLOSE, 500))
    with pytest.raises(DepartmentUnavailable):
        await running.connector.fetch_project(FEE)
    failing = FaultSettings(error_rate=1.0, error_status=500)
    running = await serve(create_app(handmade_world(), faults=failing))
    with pytest.raises(DepartmentUnavailable) as caught:
        await running.connector.fetch_project(FEE)
    assert not isinstance(caught.value, DepartmentMalformed)


async def test_a_503_burst_is_retried(serve) -> None:
    # seed 3 draws a 503 first and an answer second at error_rate 0.5.
    app = create_app(handmade_world(), faults=FaultSettings(error_rate=0.5, seed=3))
    running = await serve(app)
    running.connector.pipeline.sleep = _no_sleep
    view = await running.connector.fetch_project(FEE)
    assert view == handmade_world().views["civil_air_defence"][FEE]
    assert running.connector.pipeline.stats().attempts == app.injected["error"] + 1


async def _no_sleep(seconds: float) -> None:
    return None


def test_requests_are_built_not_string_pasted() -> None:
    body = build_request("QueryCase", ['<x>&"'])
    root = parse_xml(body)
    assert root.findtext(".//{http://rfb.hengyang.gov.cn/ws/CivilDefence}xmbm") == '<x>&"'


def test_the_connector_reads_every_label_the_department_writes() -> None:
    assert set(FIXTURE_LABELS) == set(STATUS_LABELS)
    for label, status in FIXTURE_LABELS.items():
        assert CivilAirDefenceConnector.normalise_status(label) == status


_CONTRACT_WORLD = handmade_world()


class TestCivilAirDefenceContract(ConnectorContract):
    connector_class = CivilAirDefenceConnector
    known_project_code = SHELTER
    unknown_project_code = EARLY
    raw_statuses = tuple(STATUS_LABELS)

    def make_app(self) -> FaultInjector:
        return create_app(_CONTRACT_WORLD)
