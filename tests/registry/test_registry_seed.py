"""The seeded ledger reproduces the report's figures, exactly and every time."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from registry.coverage import GapKind, delegation_coverage
from registry.models import LIFECYCLE, DelegatedItem, HistoryEntry, Origin, Status
from registry.seed import SeedError, build_story, seed
from registry.store import Registry


async def test_seeded_coverage_is_the_reports(seeded: Registry) -> None:
    coverage = await delegation_coverage(seeded)
    totals = coverage.totals
    assert (totals.original, totals.cancelled, totals.added) == (346, 12, 12)
    assert (totals.in_force, totals.taken_over, totals.ratio) == (346, 346, 1.0)
    assert coverage.departments == 12
    assert coverage.unassigned == 0
    assert coverage.gaps == []
    assert coverage.gap_counts == {kind: 0 for kind in GapKind}


async def test_every_department_takes_over_its_items_and_holds_accounts(seeded: Registry) -> None:
    coverage = await delegation_coverage(seeded)
    assert len(coverage.by_department) == 12
    assert sum(d.in_force for d in coverage.by_department) == 346
    for department in coverage.by_department:
        assert department.in_force > 0
        assert department.ratio == 1.0
        assert department.active_accounts > 0
    assert sum(b.in_force for b in coverage.by_bureau) == 346
    assert sum(b.cancelled for b in coverage.by_bureau) == 12


async def test_every_item_in_force_has_its_whole_history(seeded: Registry) -> None:
    async with seeded.sessionmaker() as session:
        steps = (
            await session.execute(
                select(HistoryEntry.entity_key, func.count())
                .where(HistoryEntry.field == "status")
                .group_by(HistoryEntry.entity_key)
            )
        ).all()
        items = dict((await session.execute(select(DelegatedItem.code, DelegatedItem.status))).all())
    counts = dict(steps)
    assert set(counts) == set(items)
    for code, status in items.items():
        assert counts[code] == len(LIFECYCLE) + (1 if status is Status.CANCELLED else 0)


def test_the_story_is_deterministic_with_realistic_names() -> None:
    first, second = build_story(), build_story()
    assert first.items == second.items
    assert first.history == second.history
    codes = [i["code"] for i in first.items]
    assert len(codes) == len(set(codes)) == 358
    added = [i for i in first.items if i["origin"] is Origin.ADDED]
    assert len(added) == 12 and all(i["category"] == "行政许可" for i in added)
    cancelled = [i for i in first.items if i["status"] is Status.CANCELLED]
    assert len(cancelled) == 12 and all("无实质内容" in i["cancel_reason"] for i in cancelled)
    assert any(i["name"] == "建筑工程施工许可证核发（新办）" for i in first.items)


async def test_seed_refuses_a_ledger_that_is_not_empty(seeded: Registry) -> None:
    with pytest.raises(SeedError, match="358 items"):
        await seed(seeded)


async def test_reference_only_seed_loads_departments_bureaus_and_systems(registry: Registry) -> None:
    summary = await seed(registry, reference_only=True)
    assert (summary.departments, summary.items) == (12, 0)
    again = await seed(registry, reference_only=True)  # adds nothing twice
    assert again.items == 0
    coverage = await delegation_coverage(registry)
    assert coverage.totals.in_force == 0 and coverage.totals.ratio is None
    assert coverage.gap_counts[GapKind.DEPARTMENT_WITHOUT_ACCOUNT] == 12
