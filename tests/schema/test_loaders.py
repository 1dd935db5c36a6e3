"""The DataLoaders in isolation: departments fetched concurrently, one batch each, failures per key.

Fake connectors stand in for the departments here so the test can see how it
is called: each waits at a barrier that opens only once every department has
been asked, so a sequential fan-out would never get through it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest

from domain.errors import DepartmentTimeout
from domain.records import DepartmentView, EnterpriseProfile, ProjectProfile
from schema.departments import UTILITIES
from schema.loaders import create_loaders
from schema.parts import PartInput
from schema.types import SourceStatus, _source, load_matters

NAMES = ("planning", "civil_air_defence", "fire", "utilities", "real_estate")
ENTERPRISE = EnterpriseProfile(credit_code="91350200776049653A", name="测试企业")


def profile(n: int) -> ProjectProfile:
    return ProjectProfile(
        project_code=f"2023-430472-47-03-{n:06d}",
        name=f"项目{n}",
        enterprise=ENTERPRISE,
        site="衡阳高新区",
        division="430472",
        parcel_code=f"430472001002GB{n:05d}",
        floors_above_ground=5,
        foundation_depth_m=1.0,
        ground_floor_area_m2=1000.0,
        total_area_m2=5000.0,
        is_plant=False,
        special_fire=False,
        phased_mode="NONE",
    )


class Barrier:
    def __init__(self, parties: int) -> None:
        self.parties = parties
        self.arrived = 0
        self.open = asyncio.Event()

    async def wait(self) -> None:
        self.arrived += 1
        if self.arrived == self.parties:
            self.open.set()
        # A generous bound only so that a regression fails instead of hanging.
        await asyncio.wait_for(self.open.wait(), timeout=10)


class FakeConnector:
    def __init__(self, name: str, barrier: Barrier, *, fail: Exception | None = None) -> None:
        self.name = name
        self.barrier = barrier
        self.fail = fail
        self.calls: list[list[str]] = []

    async def fetch_projects(self, codes: Sequence[str]) -> Mapping[str, DepartmentView]:
        self.calls.append(list(codes))
        await self.barrier.wait()
        if self.fail is not None:
            raise self.fail
        return {c: DepartmentView(department=self.name, project_code=c) for c in codes}


class FakeDirectory:
    def __init__(self) -> None:
        self.calls = 0

    async def fetch_profiles(self, codes: Sequence[str]) -> Mapping[str, ProjectProfile]:
        self.calls += 1
        return {}


def info_for(connectors: dict[str, Any], directory: FakeDirectory) -> Any:
    context = SimpleNamespace(loaders=create_loaders(connectors, directory), as_of=date(2024, 6, 28))  # type: ignore[arg-type]
    return SimpleNamespace(context=context)


@pytest.fixture
def profiles() -> list[ProjectProfile]:
    return [profile(n) for n in range(1, 51)]


async def test_a_page_is_one_concurrent_batch_per_department(profiles: list[ProjectProfile]) -> None:
    barrier = Barrier(len(NAMES))
    connectors = {n: FakeConnector(n, barrier) for n in NAMES}
    directory = FakeDirectory()
    matters = await load_matters(info_for(connectors, directory), profiles)
    assert [m.project_code for m in matters] == [p.project_code for p in profiles]
    for connector in connectors.values():
        assert connector.calls == [[p.project_code for p in profiles]]
    assert directory.calls == 0  # the page's profiles came from the index, primed into the loader


async def test_a_failing_department_fails_only_its_own_part(profiles: list[ProjectProfile]) -> None:
    barrier = Barrier(len(NAMES))
    timeout = DepartmentTimeout("fire did not answer within its deadline", department="fire")
    connectors = {n: FakeConnector(n, barrier, fail=timeout if n == "fire" else None) for n in NAMES}
    matters = await load_matters(info_for(connectors, FakeDirectory()), profiles[:3])
    for matter in matters:
        with pytest.raises(DepartmentTimeout):
            matter.department_view("fire")  # the firePath field is null with this error
        utilities = PartInput("utilities", matter.department_view("utilities"), matter.as_of)
        assert UTILITIES.show(utilities) == []
        sources = {n: _source(n, part) for n, part in matter._parts.items()}
        assert sources["fire"].status is SourceStatus.UNAVAILABLE
        assert sources["fire"].error_code == "DEPARTMENT_TIMEOUT"
        assert {s.status for n, s in sources.items() if n != "fire"} == {SourceStatus.OK}


class ListingDirectory(FakeDirectory):
    def __init__(self, profiles: list[ProjectProfile]) -> None:
        super().__init__()
        self.profiles = profiles

    async def list_profiles(self) -> list[ProjectProfile]:
        return self.profiles


class Switchable:
    """A department whose answers can be switched off between refreshes."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.down = False
        self.calls = 0

    async def fetch_projects(self, codes: Sequence[str]) -> Mapping[str, DepartmentView]:
        self.calls += 1
        if self.down:
            raise DepartmentTimeout("no answer", department=self.name)
        return {c: DepartmentView(department=self.name, project_code=c) for c in codes}


async def test_the_index_keeps_a_failed_departments_last_views(profiles: list[ProjectProfile]) -> None:
    from schema.matter_index import MatterIndex, MatterQuery

    fire, planning = Switchable("fire"), Switchable("planning")
    index = MatterIndex(
        ListingDirectory(profiles),  # type: ignore[arg-type]
        {"planning": planning, "fire": fire},  # type: ignore[dict-item]
        chunk=20,
        as_of=lambda: date(2024, 6, 28),
    )
    await index.refresh()
    assert fire.calls == 3  # 50 projects in chunks of 20: batches, never one call per project
    assert len(index.select(MatterQuery(department="fire"))) == 50
    fire.down = True
    await index.refresh()
    assert index.status.stale_departments == {"fire": "DEPARTMENT_TIMEOUT"}
    assert len(index.select(MatterQuery(department="fire"))) == 50  # last good views kept
    fire.down = False
    await index.refresh()
    assert index.status.stale_departments == {}
