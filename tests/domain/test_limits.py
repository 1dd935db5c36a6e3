"""The one table of time limits: refused bad data, and the handbook and the world drawing from it."""

from __future__ import annotations

import pytest

from domain.handbook import BY_KIND, HANDBOOK
from domain.limits import LIMITS, BadLimit, LimitUnit, TimeLimit, limit_of, shared_limit
from domain.records import ITEM_KINDS
from fixtures.world import World


def test_a_promise_above_the_law_is_refused() -> None:
    with pytest.raises(BadLimit, match="promised limit \\(21\\) exceeds the statutory limit \\(20\\)"):
        TimeLimit(20, 21)
    with pytest.raises(BadLimit, match="positive"):
        TimeLimit(0, 0)
    with pytest.raises(BadLimit, match="positive"):
        TimeLimit(5, -1)
    assert TimeLimit(20, 20).promised == 20  # equal is allowed: no compression, but not a lie


def test_units_default_to_working_days_and_say_calendar_days() -> None:
    assert TimeLimit(20, 5).unit is LimitUnit.WORKING_DAYS
    assert TimeLimit(90, 60, LimitUnit.CALENDAR_DAYS).unit is LimitUnit.CALENDAR_DAYS
    assert all(limit.unit is LimitUnit.WORKING_DAYS for limit in LIMITS.values())


def test_every_item_kind_has_a_limit_and_unknown_kinds_are_named() -> None:
    assert set(ITEM_KINDS) <= set(LIMITS)
    with pytest.raises(KeyError, match=r"planning\.nonsense"):
        limit_of("planning.nonsense")


def test_shared_limit_refuses_kinds_that_disagree() -> None:
    assert shared_limit(["planning.conditions", "planning.land_use_permit"]) == TimeLimit(20, 5)
    with pytest.raises(BadLimit, match="do not share"):
        shared_limit(["fire.design_review", "fire.design_filing"])


def test_promises_are_under_half_the_statutory_limits() -> None:
    for kind, limit in LIMITS.items():
        assert limit.promised * 2 < limit.statutory or limit.statutory <= 3, kind


def test_each_handbook_entry_publishes_the_table() -> None:
    covered = set()
    for entry in HANDBOOK:
        assert entry.limits, entry.code
        for kind, limit in entry.limits:
            assert limit == LIMITS[kind], (entry.code, kind)
            covered.add(kind)
        assert (entry.statutory_days, entry.promised_days) == (
            entry.limits[0][1].statutory,
            entry.limits[0][1].promised,
        )
    assert covered == set(LIMITS)  # the table holds no limit the handbook does not publish


def test_every_item_of_the_world_has_its_handbook_entrys_limits(world: World) -> None:
    """Over the whole world: each handbook entry's limits equal those of every item of its kinds."""
    checked = 0
    for views in world.views.values():
        for view in views.values():
            for item in view.items:
                published = dict(BY_KIND[item.kind].limits)[item.kind]
                assert (item.statutory_limit_days, item.promised_limit_days) == (
                    published.statutory,
                    published.promised,
                ), (view.project_code, item.kind)
                checked += 1
    assert checked > 1000
    # the three disagreements found by hand are gone
    assert {
        e.code: (e.statutory_days, e.promised_days) for e in HANDBOOK if e.code in ("G05", "G06", "G08")
    } == {
        "G05": (20, 7),
        "G06": (20, 5),
        "G08": (20, 5),
    }
