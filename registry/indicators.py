"""The reform's figures, computed from the registry's data at the time they are asked for.

Each indicator says what it was computed over (``basis``) beside its value, and
carries the figure the zone's 2023 report gives (``reported``) so a reader sees
both; nothing else here holds a reported value. Values are rounded to the
report's precision (``decimals``).

Bases the report leaves open are chosen here and stated in ``basis``:
the online-handling rate is over the year's cases of the items in the centre
(cases handled online ÷ all cases); the parallel-handling rate over the
construction-domain licensing items; time compression over the working-day
limits of the items in the centre (1 − Σ promised ÷ Σ statutory).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, and_, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.handbook import HANDBOOK
from domain.limits import LimitUnit
from registry.catalogue_data import CONSTRUCTION_DOMAIN
from registry.coverage import delegation_coverage
from registry.models import (
    HistoryEntry,
    ServiceCategory,
    ServiceHistoryEntry,
    ServiceItem,
    ServiceMaterial,
)
from registry.spreadsheet import Percent
from registry.store import Registry


@dataclass(frozen=True, slots=True)
class Definition:
    key: str
    label: str
    unit: str
    reported: float  # the figure of the zone's 2023 report
    decimals: int


# The report's figures: the ``reported`` column, and only that.
DEFINITIONS: tuple[Definition, ...] = (
    Definition("service_items", "依申请类政务服务事项（全部进驻政务服务中心）", "项", 226, 0),
    Definition("commitment_items", "告知承诺制许可事项", "项", 13, 0),
    Definition("tolerance_items", "容缺受理许可事项", "项", 49, 0),
    Definition("materials_before", "改革前平均申请材料", "份", 8.9, 1),
    Definition("materials_after", "改革后平均申请材料", "份", 5.1, 1),
    Definition("online_rate", "网办率", "%", 85.6, 1),
    Definition("parallel_rate", "工程建设领域许可事项并联办理率", "%", 33.3, 1),
    Definition("time_compression", "时限压缩率", "%", 55, 0),
    Definition("delegated_in_force", "市级赋权事项（在册）", "项", 346, 0),
    Definition("receiving_departments", "承接部门", "个", 12, 0),
    Definition("cancelled", "动态调整取消事项", "项", 12, 0),
    Definition("added", "动态调整新增事项", "项", 12, 0),
    Definition("handbook_approvals", "工程建设领域审批事项（办事指南）", "项", 14, 0),
)


@dataclass(frozen=True, slots=True)
class Indicator:
    key: str
    label: str
    value: float | None  # None when its base is empty (nothing to average or divide by)
    unit: str
    reported: float
    basis: str
    decimals: int


def _rounded(value: float | None, decimals: int) -> float | None:
    return None if value is None else round(value, decimals)


def _ratio(part: Any, whole: Any, scale: float = 1.0) -> float | None:
    return None if not whole else float(part or 0) * scale / float(whole)


async def _catalogue_figures(session: AsyncSession) -> dict[str, Any]:
    item = ServiceItem
    in_centre = and_(item.application_based.is_(True), item.in_centre.is_(True))
    licensing = item.category == ServiceCategory.LICENSING.value
    construction = and_(in_centre, licensing, item.domain == CONSTRUCTION_DOMAIN)
    working = and_(in_centre, item.limit_unit == LimitUnit.WORKING_DAYS.value)

    def count_of(condition: Any) -> Any:
        return func.coalesce(func.sum(cast(case((condition, 1), else_=0), Integer)), 0)

    def sum_of(condition: Any, column: Any) -> Any:
        return func.coalesce(func.sum(case((condition, column), else_=0)), 0)

    row = (
        await session.execute(
            select(
                count_of(in_centre).label("service_items"),
                count_of(and_(in_centre, licensing, item.commitment.is_(True))).label("commitment"),
                count_of(and_(in_centre, licensing, item.tolerance.is_(True))).label("tolerance"),
                sum_of(in_centre, item.materials_before).label("materials_before"),
                sum_of(in_centre, item.cases).label("cases"),
                sum_of(in_centre, item.online_cases).label("online_cases"),
                count_of(construction).label("construction"),
                count_of(and_(construction, item.parallel_group.is_not(None))).label("parallel"),
                count_of(working).label("working"),
                sum_of(working, item.statutory_limit).label("statutory"),
                sum_of(working, item.promised_limit).label("promised"),
            )
        )
    ).one()
    materials_after = await session.scalar(
        select(func.count())
        .select_from(ServiceMaterial)
        .join(item, item.code == ServiceMaterial.item_code)
        .where(in_centre)
    )
    handbook_codes = set(
        await session.scalars(
            select(item.handbook_code).where(in_centre, item.handbook_code.is_not(None)).distinct()
        )
    )
    figures = dict(row._mapping)
    figures["materials_after"] = materials_after or 0
    figures["handbook"] = len(handbook_codes & {e.code for e in HANDBOOK})
    return figures


async def reform_indicators(registry: Registry) -> list[Indicator]:
    """Every indicator, computed now from the catalogue and the ledger."""
    async with registry.sessionmaker() as session:
        c = await _catalogue_figures(session)
    coverage = await delegation_coverage(registry)
    t = coverage.totals
    n = c["service_items"]
    compression = _ratio(c["promised"], c["statutory"])
    centre = f"{n} application-based items (依申请) of the catalogue in the service centre"
    values: dict[str, tuple[float | None, str]] = {
        "service_items": (n, "catalogue items that are application-based and handled in the service centre"),
        "commitment_items": (
            c["commitment"],
            f"licensing items (行政许可) among the {centre} decided on 告知承诺",
        ),
        "tolerance_items": (c["tolerance"], f"licensing items (行政许可) among the {centre} accepting 容缺"),
        "materials_before": (
            _ratio(c["materials_before"], n),
            f"mean number of materials asked for before the reform, over the {centre}",
        ),
        "materials_after": (
            _ratio(c["materials_after"], n),
            f"mean number of materials in the current guides, over the {centre}",
        ),
        "online_rate": (
            _ratio(c["online_cases"], c["cases"], 100),
            f"cases handled online ÷ all {c['cases']} cases of the reporting year, over the {centre}",
        ),
        "parallel_rate": (
            _ratio(c["parallel"], c["construction"], 100),
            f"items in a parallel-handling group ÷ the {c['construction']} construction-domain "
            "(工程建设) licensing items in the centre",
        ),
        "time_compression": (
            None if compression is None else (1 - compression) * 100,
            f"1 − Σ promised ÷ Σ statutory limits over the {c['working']} items in the centre "
            "whose limits are in working days",
        ),
        "delegated_in_force": (t.in_force, "delegated items in the ledger not cancelled"),
        "receiving_departments": (coverage.departments, "departments holding delegated items in force"),
        "cancelled": (t.cancelled, "delegated items cancelled in the dynamic adjustment"),
        "added": (t.added, "items delegated later, in the dynamic adjustment"),
        "handbook_approvals": (
            c["handbook"],
            f"entries of the construction-domain handbook ({len(HANDBOOK)}) that a catalogue item "
            "in the centre publishes",
        ),
    }
    return [
        Indicator(
            key=d.key,
            label=d.label,
            value=_rounded(values[d.key][0], d.decimals),
            unit=d.unit,
            reported=d.reported,
            basis=values[d.key][1],
            decimals=d.decimals,
        )
        for d in DEFINITIONS
    ]


async def data_as_of(registry: Registry) -> datetime | None:
    """When the data was last changed: the newest entry of the ledger's or the catalogue's history."""
    async with registry.sessionmaker() as session:
        newest = [
            await session.scalar(select(func.max(HistoryEntry.at))),
            await session.scalar(select(func.max(ServiceHistoryEntry.at))),
        ]
    stamps = [s if s.tzinfo else s.replace(tzinfo=UTC) for s in newest if s is not None]
    return max(stamps) if stamps else None


INDICATOR_HEADERS = ("指标键", "指标", "数值", "单位", "报告数", "计算口径")


def indicator_rows(indicators: list[Indicator]) -> list[list[Any]]:
    """The indicators as a table; rates as ``Percent`` cells (85.6 → 0.856 shown as 85.6%)."""

    def cell(value: float | None, indicator: Indicator) -> Any:
        if value is None:
            return ""
        if indicator.unit == "%":
            return Percent(value / 100, indicator.decimals)
        return int(value) if indicator.decimals == 0 else value

    return [list(INDICATOR_HEADERS)] + [
        [i.key, i.label, cell(i.value, i), i.unit, cell(i.reported, i), i.basis] for i in indicators
    ]
