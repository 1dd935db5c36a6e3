"""The service catalogue: seeded story, history, all-or-nothing imports, indicators from data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from registry_lists import write_list  # type: ignore[import-not-found]
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from registry.catalogue import entries, item_history
from registry.catalogue_sheet import HEADER_ROW, catalogue_rows, import_catalogue
from registry.indicators import DEFINITIONS, data_as_of, reform_indicators
from registry.models import ServiceHistoryEntry, ServiceItem, ServiceMaterial
from registry.spreadsheet import ImportRejected
from registry.store import Registry

COLUMN = {name: i for i, name in enumerate(HEADER_ROW)}


def write_rows(path: Path, rows: list[list[Any]], *, title: bool = True) -> Path:
    return write_list(path, rows, title=title, header=None)


def catalogue_list(n: int) -> list[list[Any]]:
    """A header and ``n`` valid rows of made-up items (handled by the seeded departments)."""
    departments = ["高新区行政审批服务局", "高新区建设局", "市资规局", "JSJ"]
    rows: list[list[Any]] = [list(HEADER_ROW)]
    for i in range(n):
        row: list[Any] = [""] * len(HEADER_ROW)
        values = {
            "事项编码": f"TEST-SVC-{i:05d}",
            "事项名称": f"测试服务事项{i}",
            "事项类型": "行政许可" if i % 3 else "公共服务",
            "事项领域": "工程建设" if i % 2 else "市场准入",
            "实施部门": departments[i % 4],
            "依申请": "是",
            "进驻中心": "是" if i % 10 else "否",
            "关键材料": "申请书；营业执照",
            "非关键材料": "现场照片" if i % 4 == 0 else "",
            "改革前材料数": 6,
            "法定时限": 20,
            "承诺时限": 5 + i % 5,
            "网办深度": 1 + i % 4,
            "容缺受理": "是" if i % 4 == 0 else "否",
            "告知承诺": "是" if i % 7 == 0 else "否",
            "年度办件量": 10,
            "网上办件量": i % 11,
        }
        for header, value in values.items():
            row[COLUMN[header]] = value
        rows.append(row)
    return rows


async def catalogue_counts(registry: Registry) -> tuple[int, int, int]:
    async with registry.sessionmaker() as session:
        items = await session.scalar(select(func.count()).select_from(ServiceItem))
        materials = await session.scalar(select(func.count()).select_from(ServiceMaterial))
        history = await session.scalar(select(func.count()).select_from(ServiceHistoryEntry))
    return items or 0, materials or 0, history or 0


async def indicator_values(registry: Registry) -> dict[str, float | None]:
    return {i.key: i.value for i in await reform_indicators(registry)}


async def test_seeded_indicators_equal_the_reports_figures(seeded: Registry) -> None:
    indicators = await reform_indicators(seeded)
    assert [i.key for i in indicators] == [d.key for d in DEFINITIONS]
    assert {i.key: i.value for i in indicators} == {i.key: i.reported for i in indicators}
    by_key = {i.key: i for i in indicators}
    assert by_key["online_rate"].unit == "%" and "cases" in by_key["online_rate"].basis
    assert "construction-domain" in by_key["parallel_rate"].basis
    assert all(i.label and i.basis for i in indicators)


async def test_indicators_come_from_data_not_constants(registry: Registry) -> None:
    """An empty registry has nothing to count: every figure is zero or has no base."""
    values = await indicator_values(registry)
    assert {k for k, v in values.items() if v not in (0, None)} == set()
    assert await data_as_of(registry) is None


async def test_the_history_shows_publication_and_the_reform(seeded: Registry) -> None:
    permit = next(e for e in await entries(seeded) if e.name == "建筑工程施工许可证核发（新办）")
    assert (permit.statutory_limit, permit.promised_limit, permit.tolerance) == (7, 3, True)
    assert permit.handbook_code == "G09" and permit.kinds == ("construction_permit.permit",)
    history = await item_history(seeded, permit.code)
    fields = [(h.field, h.old_value, h.new_value) for h in history]
    assert fields[0] == ("item", None, "建筑工程施工许可证核发（新办）")
    assert ("promised_limit", "7", "3") in fields and ("tolerance", "否", "是") in fields
    assert {h.at.date().isoformat() for h in history} == {"2022-07-01", "2023-03-15"}
    assert history[-1].reason == "优化营商环境改革：精简材料、压缩时限"
    as_of = await data_as_of(seeded)
    assert as_of is not None and as_of.date().isoformat() == "2023-03-15"


async def test_catalogue_history_is_append_only(seeded: Registry) -> None:
    for statement in ("UPDATE service_history SET actor = 'x'", "DELETE FROM service_history"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with seeded.engine.begin() as connection:
                await connection.execute(text(statement))


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
async def test_one_bad_row_in_a_thousand_changes_nothing_then_the_fix_imports_all(
    seeded: Registry, tmp_path: Path, suffix: str
) -> None:
    before = await catalogue_counts(seeded)
    indicators = await indicator_values(seeded)
    rows = catalogue_list(1000)
    rows[500][COLUMN["承诺时限"]] = 30  # above the statutory 20; the title and a blank row sit above
    bad = write_rows(tmp_path / f"catalogue{suffix}", rows)
    with pytest.raises(ImportRejected) as caught:
        await import_catalogue(seeded, bad)
    assert [str(e) for e in caught.value.errors] == [
        "row 503, 承诺时限: the promised limit (30) exceeds the statutory one (20)"
    ]
    assert str(caught.value) == "1 row with errors; nothing was imported"
    assert await catalogue_counts(seeded) == before
    assert await indicator_values(seeded) == indicators

    rows[500][COLUMN["承诺时限"]] = 9
    fixed = write_rows(tmp_path / f"fixed{suffix}", rows)
    result = await import_catalogue(seeded, fixed, actor="目录管理员")
    assert (result.added, result.changed, result.unchanged) == (1000, 0, 0)
    items, _, _ = await catalogue_counts(seeded)
    assert items == before[0] + 1000
    history = await item_history(seeded, "TEST-SVC-00001")
    assert history[0].actor == "目录管理员" and history[0].reason == f"fixed{suffix} 第5行"
    again = await import_catalogue(seeded, fixed)
    assert (again.added, again.changed, again.unchanged) == (0, 0, 1000)
    moved = await indicator_values(seeded)
    assert (
        moved["service_items"] == (indicators["service_items"] or 0) + 900
    )  # every tenth is not in the centre


async def test_every_row_error_is_named(seeded: Registry, tmp_path: Path) -> None:
    rows = catalogue_list(7)
    rows[1][COLUMN["事项类型"]] = "行政审核"
    rows[2][COLUMN["实施部门"]] = "高新区不存在局"
    rows[3][COLUMN["容缺受理"]] = "是"
    rows[3][COLUMN["非关键材料"]] = ""
    rows[4][COLUMN["审批事项类型"]] = "planning.conditions"  # held by the seeded G03 item, 20/5
    rows[5][COLUMN["网上办件量"]] = 99
    rows[6][COLUMN["赋权事项编码"]] = "NO-SUCH-ITEM"
    rows[7][COLUMN["网办深度"]] = "五级"
    path = write_rows(tmp_path / "errors.csv", rows, title=False)
    with pytest.raises(ImportRejected) as caught:
        await import_catalogue(seeded, path)
    assert [str(e) for e in caught.value.errors] == [
        "row 2, 事项类型: '行政审核' is not one of "
        "行政许可, 行政给付, 行政确认, 行政奖励, 行政裁决, 其他行政权力, 公共服务",
        "row 3, 实施部门: unknown department or city bureau '高新区不存在局'",
        "row 4, 容缺受理: 容缺受理 needs at least one non-key material (非关键材料)",
        "row 5, 承诺时限: planning.conditions is published with 20/5 工作日 (statutory/promised); "
        "this item says 20/8 工作日",
        "row 6, 网上办件量: is more than the year's cases (年度办件量)",
        "row 7, 赋权事项编码: no delegated item NO-SUCH-ITEM in the ledger",
        "row 8, 网办深度: '五级' is not 1, 2, 3 or 4",
    ]


async def test_a_changed_catalogue_moves_the_indicators(seeded: Registry, tmp_path: Path) -> None:
    before = await indicator_values(seeded)
    rows = await catalogue_rows(seeded)
    centre = [r for r in rows[1:] if r[COLUMN["依申请"]] == "是" and r[COLUMN["进驻中心"]] == "是"]
    licensing = [r for r in centre if r[COLUMN["事项类型"]] == "行政许可" and r[COLUMN["告知承诺"]] == "否"]
    for row in licensing[:3]:
        row[COLUMN["告知承诺"]] = "是"
    for row in centre[:30]:  # one material fewer for 30 of the 226 items: 0.13 fewer on average
        row[COLUMN["关键材料"]] = "；".join(row[COLUMN["关键材料"]].split("；")[:-1])
    touched = {r[0] for r in licensing[:3]} | {r[0] for r in centre[:30]}
    path = write_rows(tmp_path / "revised.xlsx", rows)
    result = await import_catalogue(seeded, path, actor="营商办")
    assert (result.added, result.changed) == (0, len(touched))
    after = await indicator_values(seeded)
    assert after["commitment_items"] == (before["commitment_items"] or 0) + 3
    assert after["materials_after"] != before["materials_after"]
    assert after["materials_after"] == round(_materials(await entries(seeded)), 1)
    unchanged = {k for k in before if k not in ("commitment_items", "materials_after")}
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}


def _materials(items: list[Any]) -> float:
    centre = [e for e in items if e.application_based and e.in_centre]
    return sum(len(e.materials) for e in centre) / len(centre)


async def test_an_exported_catalogue_imports_unchanged(seeded: Registry, tmp_path: Path) -> None:
    rows = await catalogue_rows(seeded)
    assert rows[0] == HEADER_ROW and len(rows) == 1 + len(await entries(seeded))
    for suffix in (".xlsx", ".csv"):
        path = write_rows(tmp_path / f"catalogue{suffix}", rows, title=False)
        result = await import_catalogue(seeded, path)
        assert (result.added, result.changed, result.unchanged) == (0, 0, len(rows) - 1)
