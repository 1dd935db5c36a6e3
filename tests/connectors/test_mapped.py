"""Fire and utilities as mapping files: the same answers as their Python connectors.

The mapped connectors run the same contract suite, the same round trip against
the world's truth and the same batch check, over real loopback HTTP; and for
every project of a generated world the two connectors' views are equal.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from connectors.fire import FireConnector
from connectors.mapped import MappedConnector, mapped_connector
from connectors.testing import ConnectorContract
from connectors.utilities import UtilitiesConnector
from fixtures import fire, utilities
from fixtures.faults import FaultInjector
from fixtures.world import World
from tests.connectors.roundtrip import WORLDS, Served, check_batch, check_round_trip, generated_world
from tests.fixtures.test_planning_app import tiny_world

MAPPINGS = Path(__file__).resolve().parents[2] / "connectors" / "mappings"
MappedFire = mapped_connector(MAPPINGS / "fire.toml")
MappedUtilities = mapped_connector(MAPPINGS / "utilities.toml")
KEY_ENV = "ONEMATTER_UTILITIES_API_KEY"

# department -> (mapped class, Python class, app factory, batch path, codes per call)
DEPARTMENTS: dict[str, tuple[type[MappedConnector], type, Callable[[World], Any], str, int]] = {
    "fire": (MappedFire, FireConnector, fire.create_app, "/api/v1/projects", 50),
    "utilities": (
        MappedUtilities,
        UtilitiesConnector,
        utilities.create_app,
        "/v1/applications/batch-get",
        100,
    ),
}
CREDENTIALS = {"fire": None, "utilities": {"api_key": KEY_ENV}}


@pytest.fixture(params=sorted(DEPARTMENTS))
def department(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, utilities.DEMO_API_KEY)
    return str(request.param)


@pytest.fixture
async def served() -> AsyncIterator[Callable[[type, str], Served]]:
    made: list[Served] = []

    def make(connector_class: type, department: str) -> Served:
        made.append(Served(connector_class, credentials=CREDENTIALS[department]))
        return made[-1]

    yield make
    for s in made:
        await s.aclose()


def test_the_mapped_classes_are_named_by_their_mapping() -> None:
    assert (MappedFire.name, MappedFire.title) == ("fire", FireConnector.title)
    assert (MappedUtilities.name, MappedUtilities.title) == ("utilities", UtilitiesConnector.title)
    for raw, status in fire.STATUS_CODES.items():
        assert MappedFire.normalise_status(str(raw)) is status[0]


@WORLDS
async def test_round_trip_equals_the_world_truth(served, department, make_world) -> None:
    mapped, _, create_app, _, _ = DEPARTMENTS[department]
    world = make_world()
    await check_round_trip(await served(mapped, department).start(create_app(world)), world, department)


@WORLDS
async def test_batch_lookup_equals_the_truth_in_few_calls(served, department, make_world) -> None:
    mapped, _, create_app, path, per_call = DEPARTMENTS[department]
    world = make_world()
    running = await served(mapped, department).start(create_app(world))
    await check_batch(running, world, department, path=path, per_call=per_call)


async def test_mapped_and_python_connectors_agree_on_every_project(served, department) -> None:
    mapped, python, create_app, _, _ = DEPARTMENTS[department]
    world = generated_world()
    by_mapping = await served(mapped, department).start(create_app(world))
    by_python = await served(python, department).start(create_app(world))
    codes = [*world.projects, "2024-430472-47-03-999999"]
    assert await by_mapping.connector.fetch_projects(codes) == await by_python.connector.fetch_projects(codes)
    for code in codes:
        assert await by_mapping.connector.fetch_project(code) == await by_python.connector.fetch_project(code)


_CONTRACT_WORLD = tiny_world()


class TestMappedFireContract(ConnectorContract):
    connector_class = MappedFire
    known_project_code = "2024-430472-47-03-000001"
    unknown_project_code = "2024-430472-47-03-000003"
    raw_statuses = tuple(str(code) for code in fire.STATUS_CODES)

    def make_app(self) -> FaultInjector:
        return fire.create_app(_CONTRACT_WORLD)


class TestMappedUtilitiesContract(ConnectorContract):
    connector_class = MappedUtilities
    known_project_code = "2024-430472-47-03-000001"
    unknown_project_code = "2024-430472-47-03-000003"
    raw_statuses = tuple(utilities.APPLICATION_STATUS.values())
    credentials: ClassVar[Mapping[str, tuple[str, str]]] = {"api_key": (KEY_ENV, utilities.DEMO_API_KEY)}

    def make_app(self) -> FaultInjector:
        return utilities.create_app(_CONTRACT_WORLD)
