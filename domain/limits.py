"""The one table of time limits: statutory (法定) and promised (承诺) limits per approval kind.

The handbook (``domain.handbook``), every item's clock and the fixture world
draw their limits from ``LIMITS``, so they cannot disagree. Administrative
licensing limits are counted in working days (行政许可法 art. 82: statutory
holidays not counted); a limit a source gives in calendar days says so in its
``unit``.

A promised limit above the statutory one is bad data: ``TimeLimit`` refuses
it, so a table (or an import built on it) holding one cannot be made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["LIMITS", "BadLimit", "LimitUnit", "TimeLimit", "limit_of", "shared_limit"]


class LimitUnit(StrEnum):
    WORKING_DAYS = "WORKING_DAYS"  # 工作日: the default for licensing items
    CALENDAR_DAYS = "CALENDAR_DAYS"  # 自然日: where a source counts days, not working days


class BadLimit(ValueError):
    """A time limit that cannot be true: negative, zero statutory, or a promise above the law."""


@dataclass(frozen=True, slots=True)
class TimeLimit:
    """One approval's limits; ``promised`` never exceeds ``statutory``."""

    statutory: int
    promised: int
    unit: LimitUnit = LimitUnit.WORKING_DAYS

    def __post_init__(self) -> None:
        if self.statutory <= 0 or self.promised <= 0:
            raise BadLimit(f"limits must be positive (statutory {self.statutory}, promised {self.promised})")
        if self.promised > self.statutory:
            raise BadLimit(
                f"the promised limit ({self.promised}) exceeds the statutory limit ({self.statutory})"
            )


_W = TimeLimit

# Approval kinds held by a connected department are ``domain.records.ITEM_KINDS``;
# the others (first three) are published in the handbook but held by no connected system.
LIMITS: Mapping[str, TimeLimit] = {
    "development_reform.project_filing": _W(3, 1),  # 企业投资项目备案
    "planning.site_selection": _W(20, 7),  # 用地预审与选址意见书
    "construction_permit.permit": _W(7, 3),  # 建筑工程施工许可证（可分阶段）
    "planning.conditions": _W(20, 5),
    "planning.land_use_permit": _W(20, 5),
    "planning.design_scheme_review": _W(20, 7),
    "planning.detailed_plan": _W(20, 7),
    "planning.layout_plan": _W(20, 7),
    "planning.construction_permit": _W(20, 5),
    "planning.verification": _W(15, 5),
    "civil_air_defence.design_review": _W(20, 5),
    "civil_air_defence.acceptance": _W(15, 5),
    "fire.design_review": _W(15, 7),  # 住建部令51号: 15 working days (expert review not counted)
    "fire.design_filing": _W(5, 2),
    "fire.acceptance": _W(15, 7),
    "fire.acceptance_filing": _W(5, 2),
    "utilities.joint_connection": _W(20, 8),
    "real_estate.registration": _W(30, 5),
}


def limit_of(kind: str) -> TimeLimit:
    """The published limits of one approval kind; ``KeyError`` names an unknown kind."""
    try:
        return LIMITS[kind]
    except KeyError:
        raise KeyError(f"no time limit is published for approval kind {kind!r}") from None


def shared_limit(kinds: Iterable[str]) -> TimeLimit:
    """The one limit several kinds share; ``BadLimit`` if they differ (or there are none)."""
    found = {kind: limit_of(kind) for kind in kinds}
    distinct = set(found.values())
    if len(distinct) != 1:
        raise BadLimit(f"kinds {sorted(found)} do not share one time limit: {found}")
    return distinct.pop()
