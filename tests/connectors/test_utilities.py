"""The utilities connector against the simulated platform, over real loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from datetime import date
from typing import ClassVar

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors.base import Connector
from connectors.testing import ConnectorContract
from connectors.utilities import UtilitiesConnector, parse_application
from domain.errors import DepartmentMalformed, DepartmentRejected
from domain.records import Lifecycle, UtilityStatus
from fixtures import utilities
from fixtures.faults import FaultInjector, FaultSettings, with_faults
from fixtures.world import World
from tests.connectors.roundtrip import WORLDS, Served, check_batch, check_round_trip
from tests.fixtures.test_planning_app import tiny_world

FIRST = "2024-430472-47-03-000001"
SECOND = "2024-430472-47-03-000002"
NOT_APPLIED = "2024-430472-47-03-000003"
KEY_ENV = "ONEMATTER_UTILITIES_API_KEY"


@pytest.fixture
async def serve(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Callable[..., object]]:
    monkeypatch.setenv(KEY_ENV, utilities.DEMO_API_KEY)
    served = Served(UtilitiesConnector, credentials={"api_key": KEY_ENV})
    yield served.start
    await served.aclose()


@WORLDS
async def test_round_trip_equals_the_world_truth(serve, make_world: Callable[[], World]) -> None:
    world = make_world()
    await check_round_trip(await serve(utilities.create_app(world)), world, "utilities")


@WORLDS
async def test_batch_lookup_equals_the_truth_in_few_calls(serve, make_world: Callable[[], World]) -> None:
    world = make_world()
    running = await serve(utilities.create_app(world))
    await check_batch(running, world, "utilities", path="/v1/applications/batch-get", per_call=100)


async def test_tickets_and_application(serve) -> None:
    running = await serve(utilities.create_app(tiny_world()))
    view = await running.connector.fetch_project(FIRST)
    assert view is not None
    assert [t.status for t in view.utilities] == [
        UtilityStatus.ACCEPTED,
        UtilityStatus.SURVEYED,
        UtilityStatus.CONSTRUCTING,
        UtilityStatus.CONNECTED,
    ]
    (item,) = view.items
    assert item.kind == "utilities.joint_connection" and item.raw_status == "IN_PROGRESS"
    assert item.status is Lifecycle.IN_REVIEW and item.on_commitment
    assert await running.connector.fetch_project(NOT_APPLIED) is None


@pytest.mark.parametrize(
    "hour_utc,expected",
    [
        ("2024-04-07T23:30:00Z", date(2024, 4, 8)),  # 07:30 in Hengyang
        ("2024-04-08T15:59:59Z", date(2024, 4, 8)),
        ("2024-04-08T16:00:00Z", date(2024, 4, 9)),
        ("2024-04-08T07:30:00+08:00", date(2024, 4, 8)),
    ],
)
def test_timestamps_become_hengyang_dates(hour_utc: str, expected: date) -> None:
    raw = utilities.render_application(tiny_world().views["utilities"][FIRST])
    raw["SubmittedAt"] = hour_utc
    assert parse_application(raw).items[0].submitted_on == expected


@pytest.mark.parametrize("status", list(Lifecycle))
def test_every_application_status_normalises(status: Lifecycle) -> None:
    raw = utilities.raw_status(status)
    assert UtilitiesConnector.normalise_status(raw) is status


@pytest.mark.parametrize("raw", ["", "in_progress", "DONE", "CONNECTED"])
def test_junk_raw_status_is_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        UtilitiesConnector.normalise_status(raw)


async def test_missing_key_is_rejected_and_never_retried(serve, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV)
    running = await serve(utilities.create_app(tiny_world()))
    with pytest.raises(DepartmentRejected) as info:
        await running.connector.fetch_project(FIRST)
    assert info.value.status_code == 401
    assert await running.calls(f"/v1/projects/{FIRST}/application") == 1
    assert "missing" in repr(running.connector)


async def test_the_key_goes_only_in_its_header(serve) -> None:
    running = await serve(utilities.create_app(tiny_world()))
    seen: list[httpx.Request] = []
    running.connector.client.event_hooks["request"].append(_record(seen))
    await running.connector.fetch_project(FIRST)
    assert seen[0].headers["X-Api-Key"] == utilities.DEMO_API_KEY
    assert utilities.DEMO_API_KEY not in str(seen[0].url)
    assert "X-Api-Key" not in running.connector.client.headers
    assert utilities.DEMO_API_KEY not in repr(running.connector)


def _record(seen: list[httpx.Request]) -> Callable[[httpx.Request], object]:
    async def hook(request: httpx.Request) -> None:
        seen.append(request)

    return hook


def _answering(body: object) -> FaultInjector:
    async def handler(request: object) -> JSONResponse:
        return JSONResponse(body)

    return with_faults(Starlette(routes=[Route("/v1/projects/{code}/application", handler)]))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r.update(Status="DONE"),
        lambda r: r["Tickets"][0].update(Status="PENDING"),
        lambda r: r["Tickets"][0].update(Utility="HEATING"),
        lambda r: r.update(SubmittedAt="2024-04-08T07:30:00"),  # no offset: which day is it?
        lambda r: r.update(SubmittedAt="yesterday"),
        lambda r: r.update(OnCommitment=1),
        lambda r: r.update(Holds=[{"From": None, "Until": None}]),
        lambda r: r.pop("Tickets"),
    ],
    ids=["status", "ticket-status", "utility", "naive", "date", "flag", "hold", "missing"],
)
async def test_unknown_vocabulary_is_malformed(serve, mutate) -> None:
    record = utilities.render_application(tiny_world().views["utilities"][FIRST])
    mutate(record)
    running = await serve(_answering(record))
    with pytest.raises(DepartmentMalformed):
        await running.connector.fetch_project(FIRST)


async def test_malformed_fault_is_malformed(serve) -> None:
    running = await serve(utilities.create_app(tiny_world(), faults=FaultSettings(malformed_rate=1.0)))
    with pytest.raises(DepartmentMalformed):
        await running.connector.fetch_projects([FIRST, SECOND])


async def test_is_a_connector_with_health(serve) -> None:
    running = await serve(utilities.create_app(tiny_world()))
    assert isinstance(running.connector, Connector)
    assert (await running.connector.health()).status == "UP"


_CONTRACT_WORLD = tiny_world()


class TestUtilitiesContract(ConnectorContract):
    connector_class = UtilitiesConnector
    known_project_code = FIRST
    unknown_project_code = NOT_APPLIED
    raw_statuses = tuple(utilities.APPLICATION_STATUS.values())
    credentials: ClassVar[Mapping[str, tuple[str, str]]] = {"api_key": (KEY_ENV, utilities.DEMO_API_KEY)}

    def make_app(self) -> FaultInjector:
        return utilities.create_app(_CONTRACT_WORLD)
