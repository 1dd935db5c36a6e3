"""The fire connector against the simulated fire system, over real loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors.base import Connector
from connectors.fire import FireConnector, parse_case
from connectors.testing import ConnectorContract
from domain.errors import DepartmentMalformed, DepartmentRejected
from domain.records import FirePathKind, Lifecycle
from fixtures import fire
from fixtures.faults import FaultInjector, FaultSettings, with_faults
from fixtures.world import World
from tests.connectors.roundtrip import WORLDS, Served, check_batch, check_round_trip
from tests.fixtures.test_planning_app import tiny_world

REVIEW = "2024-430472-47-03-000001"
FILING = "2024-430472-47-03-000002"
UNKNOWN = "2024-430472-47-03-000003"


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., object]]:
    served = Served(FireConnector)
    yield served.start
    await served.aclose()


@WORLDS
async def test_round_trip_equals_the_world_truth(serve, make_world: Callable[[], World]) -> None:
    world = make_world()
    await check_round_trip(await serve(fire.create_app(world)), world, "fire")


@WORLDS
async def test_batch_lookup_equals_the_truth_in_few_calls(serve, make_world: Callable[[], World]) -> None:
    world = make_world()
    running = await serve(fire.create_app(world))
    await check_batch(running, world, "fire", path="/api/v1/projects", per_call=50)


async def test_paths_and_spot_check(serve) -> None:
    running = await serve(fire.create_app(tiny_world()))
    review = await running.connector.fetch_project(REVIEW)
    filing = await running.connector.fetch_project(FILING)
    assert review is not None and filing is not None
    assert review.fire_path is not None and review.fire_path.path is FirePathKind.DESIGN_REVIEW
    assert filing.fire_path is not None and filing.fire_path.path is FirePathKind.FILING
    assert filing.fire_path.spot_check_drawn
    assert await running.connector.fetch_project(UNKNOWN) is None


@pytest.mark.parametrize("status", list(Lifecycle))
def test_every_status_code_normalises(status: Lifecycle) -> None:
    view = tiny_world().views["fire"][REVIEW]
    item = next(i for i in view.items if i.status is status)
    parsed = parse_case(fire.render_case(item))
    assert parsed == item
    assert FireConnector.normalise_status(parsed.raw_status) is status


@pytest.mark.parametrize("raw", ["", "31", "abc", "-10", "６０"])
def test_junk_raw_status_is_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        FireConnector.normalise_status(raw)


def _answering(body: object, status: int = 200) -> FaultInjector:
    async def handler(request: object) -> JSONResponse:
        return JSONResponse(body, status_code=status)

    return with_faults(
        Starlette(routes=[Route("/api/v1/projects/{code}", handler), Route("/api/v1/projects", handler)])
    )


def _record() -> dict:
    world = tiny_world()
    return {"code": 0, "msg": "success", "data": fire.render_project(world, world.views["fire"][REVIEW])}


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r["data"]["cases"][0].update(status=31),
        lambda r: r["data"]["cases"][0].update(biz_type="XXXX"),
        lambda r: r["data"]["cases"][0].update(apply_date="2024-04-01"),
        lambda r: r["data"]["cases"][0].update(apply_date=None),
        lambda r: r["data"]["cases"][0].update(commitment=True),
        lambda r: r["data"]["cases"][0].update(commitment=2),
        lambda r: r["data"].update(review_path=3),
        lambda r: r["data"]["cases"][0].update(suspend_periods=[{"begin": "", "end": ""}]),
        lambda r: r.pop("data"),
        lambda r: r.update(code="0"),
    ],
    ids=[
        "status",
        "biz",
        "date-format",
        "date-null",
        "flag-bool",
        "flag-2",
        "path",
        "period",
        "no-data",
        "code-type",
    ],
)
async def test_unknown_vocabulary_is_malformed(serve, mutate) -> None:
    record = _record()
    mutate(record)
    running = await serve(_answering(record))
    with pytest.raises(DepartmentMalformed):
        await running.connector.fetch_project(REVIEW)


async def test_business_error_in_a_200_is_rejected(serve) -> None:
    running = await serve(_answering({"code": 40301, "msg": "无权限", "data": None}))
    with pytest.raises(DepartmentRejected) as info:
        await running.connector.fetch_project(REVIEW)
    assert "无权限" not in str(info.value)


async def test_malformed_fault_is_malformed(serve) -> None:
    running = await serve(fire.create_app(tiny_world(), faults=FaultSettings(malformed_rate=1.0)))
    with pytest.raises(DepartmentMalformed):
        await running.connector.fetch_projects([REVIEW, FILING])


async def test_codes_with_commas_are_not_batched(serve) -> None:
    running = await serve(fire.create_app(tiny_world()))
    assert await running.connector.fetch_projects(["a,b", ""]) == {}
    assert await running.calls("/api/v1/projects") == 0


async def test_is_a_connector_with_health(serve) -> None:
    running = await serve(fire.create_app(tiny_world()))
    assert isinstance(running.connector, Connector)
    assert (await running.connector.health()).status == "UP"


_CONTRACT_WORLD = tiny_world()


class TestFireContract(ConnectorContract):
    connector_class = FireConnector
    known_project_code = REVIEW
    unknown_project_code = UNKNOWN
    raw_statuses = tuple(str(code) for code in fire.STATUS_CODES)

    def make_app(self) -> FaultInjector:
        return fire.create_app(_CONTRACT_WORLD)
