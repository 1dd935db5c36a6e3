"""One set of limits across the world: the handbook, every item's clock and the catalogue agree."""

from __future__ import annotations

from datetime import date

from domain.handbook import HANDBOOK
from domain.limits import LIMITS, LimitUnit
from domain.records import ApprovalItem
from domain.rules import item_clock
from domain.workdays import add_working_days
from fixtures.generate import build_world
from registry.catalogue import ServiceEntry, entries
from registry.store import Registry

AS_OF = date(2024, 6, 28)


def _by_kind(catalogue: list[ServiceEntry]) -> dict[str, ServiceEntry]:
    by_kind: dict[str, ServiceEntry] = {}
    for entry in catalogue:
        for kind in entry.kinds:
            assert kind not in by_kind, f"{kind} is covered by {by_kind[kind].code} and {entry.code}"
            by_kind[kind] = entry
    return by_kind


def _limits(entry: ServiceEntry) -> tuple[int, int, LimitUnit]:
    return entry.statutory_limit, entry.promised_limit, entry.limit_unit


async def test_handbook_catalogue_and_every_clock_agree_on_every_limit(seeded: Registry) -> None:
    catalogue = await entries(seeded)
    by_kind = _by_kind(catalogue)
    # Every published kind has its catalogue item, with the published limits.
    assert set(LIMITS) <= set(by_kind)
    for kind, limit in LIMITS.items():
        assert _limits(by_kind[kind]) == (limit.statutory, limit.promised, limit.unit), kind

    # The handbook's 14 entries: each is published by catalogue items linking it, one per limit.
    assert len(HANDBOOK) == 14
    for guide in HANDBOOK:
        for kind, limit in guide.limits:
            published = by_kind[kind]
            assert published.handbook_code == guide.code, (guide.code, kind)
            assert _limits(published) == (limit.statutory, limit.promised, limit.unit)
        main = by_kind[guide.limits[0][0]]
        assert (main.statutory_limit, main.promised_limit) == (guide.statutory_days, guide.promised_days)

    # Every item of the fixture world: its limits are the catalogue's, and its clock runs on them.
    world = build_world(seed=2023, projects=200, as_of=AS_OF)
    items: list[ApprovalItem] = [i for views in world.views.values() for v in views.values() for i in v.items]
    assert len(items) > 500
    for item in items:
        entry = by_kind[item.kind]
        assert entry.limit_unit is LimitUnit.WORKING_DAYS
        assert (item.statutory_limit_days, item.promised_limit_days) == (
            entry.statutory_limit,
            entry.promised_limit,
        ), item.kind
        clock = item_clock(item, AS_OF)
        assert clock.limit_problem is None
        start = item.accepted_on or item.submitted_on
        if start is not None and not item.paused:
            assert clock.due_on == add_working_days(start, entry.promised_limit)
