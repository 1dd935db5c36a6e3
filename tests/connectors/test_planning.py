"""The planning connector (and project directory) against the simulated system, over real loopback HTTP."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from aiocache import SimpleMemoryCache
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors.base import Connector, ProjectDirectory
from connectors.planning import PlanningConnector, parse_file
from connectors.testing import ConnectorContract
from domain.errors import DepartmentMalformed, DepartmentRejected
from domain.records import Contact, EnterpriseProfile, Lifecycle, ProjectProfile
from fixtures.faults import FaultInjector, FaultSettings, with_faults
from fixtures.planning import ITEM_CODES, STEPS, create_app, raw_status, render_file
from fixtures.world import World
from tests.connectors.roundtrip import (
    UNKNOWN,
    WORLDS,
    Served,
    check_batch,
    check_round_trip,
    settings,
)
from tests.fixtures.test_planning_app import tiny_world


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., object]]:
    served = Served(PlanningConnector)
    yield served.start
    await served.aclose()


def expected_profile(world: World, code: str) -> ProjectProfile:
    """What the directory should say of a project, straight from the world."""
    p = world.projects[code]
    ent = world.enterprises[p.enterprise_code]
    return ProjectProfile(
        project_code=p.code,
        name=p.name,
        enterprise=EnterpriseProfile(
            credit_code=ent.credit_code,
            name=ent.name,
            liaison=Contact(ent.liaison.name, ent.liaison.phone) if ent.liaison else None,
            key_enterprise=ent.key_enterprise,
        ),
        site=p.site,
        division=p.division,
        parcel_code=p.parcel_code,
        floors_above_ground=p.floors_above_ground,
        foundation_depth_m=p.foundation_depth_m,
        ground_floor_area_m2=p.ground_floor_area_m2,
        total_area_m2=p.total_area_m2,
        is_plant=p.is_plant,
        special_fire=p.special_fire,
        phased_mode=str(p.phased_mode),
        agent=Contact(p.agent.name, p.agent.phone) if p.agent else None,
        parties_fixed=p.parties_fixed,
    )


async def test_is_a_connector_and_a_directory() -> None:
    async with httpx.AsyncClient() as client:
        connector = PlanningConnector(settings=settings("http://x"), client=client, cache=SimpleMemoryCache())
        assert isinstance(connector, Connector) and isinstance(connector, ProjectDirectory)
    assert PlanningConnector.name == "planning" and PlanningConnector.title == "自然资源和规划局"


@pytest.mark.parametrize("status", list(Lifecycle))
def test_every_step_code_normalises_and_keeps_its_raw_value(status: Lifecycle) -> None:
    world = tiny_world()
    template = world.views["planning"]["2024-430472-47-03-000001"].items[0]
    item = parse_file(
        render_file(
            template.__class__(
                **{
                    **{f: getattr(template, f) for f in template.__dataclass_fields__},
                    "status": status,
                    "raw_status": raw_status(status),
                }
            )
        )
    )
    assert item.status is status
    assert item.raw_status == raw_status(status)
    assert item.raw_status.startswith(str(STEPS[status][0]))
    assert PlanningConnector.normalise_status(item.raw_status) is status


@pytest.mark.parametrize("raw", ["", "4 办结", "99 未知", "审核", "4 办结 同意"])
def test_junk_raw_status_is_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        PlanningConnector.normalise_status(raw)


@WORLDS
async def test_round_trip_equals_the_world_truth(serve, make_world: Callable[[], World]) -> None:
    world = make_world()
    running = await serve(create_app(world))
    await check_round_trip(running, world, "planning")
    assert await running.connector.fetch_project(UNKNOWN) is None


@WORLDS
async def test_batch_lookup_equals_the_truth_in_few_calls(serve, make_world: Callable[[], World]) -> None:
    world = make_world()
    running = await serve(create_app(world))
    codes = await check_batch(running, world, "planning", path="/api/projects/query", per_call=100)
    # The single lookups come from the cache too.
    await running.connector.fetch_project(codes[0])
    assert await running.calls("/api/projects/query") == math.ceil(len(codes) / 100)
    assert await running.calls(f"/api/projects/{codes[0]}") == 0


@WORLDS
async def test_profiles_and_listing_equal_the_world(serve, make_world: Callable[[], World]) -> None:
    world = make_world()
    running = await serve(create_app(world), page_size=7)
    expected = {code: expected_profile(world, code) for code in world.projects}
    profiles = await running.connector.fetch_profiles([*world.projects, "2024-430472-47-03-999999"])
    assert dict(profiles) == expected
    listed = await running.connector.list_profiles()
    assert listed == [expected[c] for c in sorted(expected)]
    assert all(p.source is not None for p in listed)
    assert await running.calls("/api/projects") == math.ceil(len(expected) / 7)


async def test_enterprise_lookup(serve) -> None:
    world = tiny_world()
    running = await serve(create_app(world))
    for code, ent in world.enterprises.items():
        profile = await running.connector.fetch_enterprise(code)
        assert profile is not None and profile.name == ent.name
        assert profile.key_enterprise == ent.key_enterprise
        assert profile.liaison == (Contact(ent.liaison.name, ent.liaison.phone) if ent.liaison else None)
    assert await running.connector.fetch_enterprise("91430400MA4L99999X") is None


async def test_project_without_files_is_in_the_directory_only(serve) -> None:
    world = tiny_world()
    running = await serve(create_app(world))
    code = "2024-430472-47-03-000003"
    assert await running.connector.fetch_project(code) is None
    assert code in await running.connector.fetch_profiles([code])


async def test_odd_codes_travel_escaped(serve) -> None:
    running = await serve(create_app(tiny_world()))
    assert await running.connector.fetch_project("../health") is None
    assert await running.connector.fetch_project("a?b=c#d") is None


async def test_malformed_bodies_are_department_malformed(serve) -> None:
    running = await serve(create_app(tiny_world(), faults=FaultSettings(malformed_rate=1.0)))
    with pytest.raises(DepartmentMalformed) as info:
        await running.connector.fetch_project("2024-430472-47-03-000001")
    assert "http" not in str(info.value).lower()


def _answering(body: object, status: int = 200) -> FaultInjector:
    async def handler(request: object) -> JSONResponse:
        return JSONResponse(body, status_code=status)

    return with_faults(
        Starlette(
            routes=[
                Route("/api/projects/{code}", handler),
                Route("/api/projects/query", handler, methods=["POST"]),
            ]
        )
    )


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r["files"][0].update(stepCode=99),
        lambda r: r["files"][0].update(stepCode=4, result=None),
        lambda r: r["files"][0].update(itemCode="NOPE"),
        lambda r: r["files"][0].update(receivedDate="05/03/2024"),
        lambda r: r["building"].update(buildingType="仓库"),
        lambda r: r.update(phaseCount=7),
        lambda r: r.pop("applicant"),
        lambda r: r.update(files={}),
    ],
    ids=["step", "result", "item", "date", "building", "phases", "missing", "shape"],
)
async def test_unknown_vocabulary_is_malformed_not_a_guess(serve, mutate) -> None:
    world = tiny_world()
    from fixtures.planning import PlanningData

    record = PlanningData(world).project("2024-430472-47-03-000001")
    mutate(record)
    running = await serve(_answering(record))
    with pytest.raises(DepartmentMalformed):
        await running.connector.fetch_project("2024-430472-47-03-000001")


async def test_other_4xx_is_rejected_once(serve) -> None:
    running = await serve(_answering({"success": False, "code": "BAD_REQUEST", "message": "x"}, 400))
    with pytest.raises(DepartmentRejected):
        await running.connector.fetch_project("2024-430472-47-03-000001")
    assert await running.calls("/api/projects/2024-430472-47-03-000001") == 1


async def test_health(serve) -> None:
    app = create_app(tiny_world())
    running = await serve(app)
    report = await running.connector.health()
    assert report.department == "planning" and report.status == "UP" and report.latency_ms is not None
    await running.admin.put("/_admin/faults", json={"maintenance": True})
    assert (await running.connector.health()).status == "MAINTENANCE"


def test_item_codes_match_the_fixture() -> None:
    from connectors.planning import ITEM_KINDS_BY_CODE

    assert {v: k for k, v in ITEM_KINDS_BY_CODE.items()} == ITEM_CODES


_CONTRACT_WORLD = tiny_world()


class TestPlanningContract(ConnectorContract):
    connector_class = PlanningConnector
    known_project_code = "2024-430472-47-03-000001"
    unknown_project_code = "2024-430472-47-03-999999"
    raw_statuses = tuple(raw_status(s) for s in Lifecycle)

    def make_app(self) -> FaultInjector:
        return create_app(_CONTRACT_WORLD)


async def test_empty_batches_make_no_call(serve) -> None:
    running = await serve(create_app(tiny_world()))
    assert await running.connector.fetch_projects([]) == {}
    assert await running.connector.fetch_profiles([]) == {}
    assert await running.calls("/api/projects/query") == 0
