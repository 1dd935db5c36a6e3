"""A department defined only by a mapping file: urban management (城市管理和综合执法局).

No Python connector exists for it: connectors/mappings/urban_management.toml is
all there is. It passes the contract suite and the round trip against its
simulated system's truth, over real loopback HTTP, with HTTP Basic and paged
batch answers.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import ClassVar

import pytest

from connectors.mapped import mapped_connector
from connectors.testing import ConnectorContract
from fixtures import urban_management
from fixtures.faults import FaultInjector
from tests.connectors.roundtrip import Served, generated_world

MAPPING = Path(__file__).resolve().parents[2] / "connectors" / "mappings" / "urban_management.toml"
UrbanManagement = mapped_connector(MAPPING)
USER_ENV, PASSWORD_ENV = "ONEMATTER_URBAN_MANAGEMENT_USERNAME", "ONEMATTER_URBAN_MANAGEMENT_PASSWORD"
CREDENTIALS = {
    "username": (USER_ENV, urban_management.DEMO_USERNAME),
    "password": (PASSWORD_ENV, urban_management.DEMO_PASSWORD),
}


@pytest.fixture
async def served(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    for env, value in CREDENTIALS.values():
        monkeypatch.setenv(env, value)
    served = Served(UrbanManagement)  # credentials from their default variables
    yield served
    await served.aclose()


async def test_round_trip_and_paged_batch_equal_the_truth(served: Served) -> None:
    world = generated_world()
    truth = urban_management.views(world)
    assert len(truth) > 100
    running = await served.start(urban_management.create_app(world))
    for code in world.projects:
        view = await running.connector.fetch_project(code)
        assert view == truth.get(code), code
    codes = list(world.projects)
    running = await served.start(urban_management.create_app(world))  # a cold cache
    assert await running.connector.fetch_projects(codes) == truth
    # 100 codes per call, each answer paged 50 rows at a time
    calls = sum(
        math.ceil(len([c for c in codes[i : i + 100] if c in truth]) / 50) or 1
        for i in range(0, len(codes), 100)
    )
    assert await running.calls("/api/cases") == calls


async def test_without_credentials_it_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    from domain.errors import DepartmentRejected

    served = Served(UrbanManagement)
    monkeypatch.delenv(USER_ENV, raising=False)
    try:
        running = await served.start(urban_management.create_app(generated_world()))
        with pytest.raises(DepartmentRejected):
            await running.connector.fetch_project(next(iter(urban_management.views(generated_world()))))
    finally:
        await served.aclose()


_WORLD = generated_world()
_KNOWN = sorted(urban_management.views(_WORLD))[0]
_UNKNOWN = next(code for code in sorted(_WORLD.projects) if code not in urban_management.views(_WORLD))


class TestUrbanManagementContract(ConnectorContract):
    connector_class = UrbanManagement
    known_project_code = _KNOWN
    unknown_project_code = _UNKNOWN
    raw_statuses = tuple(urban_management.STATUS_LABELS)
    credentials: ClassVar[Mapping[str, tuple[str, str]]] = CREDENTIALS

    def make_app(self) -> FaultInjector:
        return urban_management.create_app(_WORLD)
