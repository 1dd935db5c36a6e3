"""Delegation lists in and out: all-or-nothing imports with row errors, exports that read back."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from registry_lists import delegation_list, write_list  # type: ignore[import-not-found]
from sqlalchemy import func, select

from registry.coverage import delegation_coverage
from registry.models import DelegatedItem, HistoryEntry, Origin, Status
from registry.queries import item_history
from registry.seed import seed
from registry.spreadsheet import (
    ImportRejected,
    coverage_csv_rows,
    coverage_tables,
    import_items,
    item_rows,
    write_csv,
    write_xlsx,
)
from registry.store import Registry


async def counts(registry: Registry) -> tuple[int, int]:
    async with registry.sessionmaker() as session:
        items = await session.scalar(select(func.count()).select_from(DelegatedItem))
        history = await session.scalar(select(func.count()).select_from(HistoryEntry))
    return items or 0, history or 0


@pytest.fixture
async def reference(registry: Registry) -> Registry:
    await seed(registry, reference_only=True)
    return registry


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
async def test_one_bad_row_in_a_thousand_changes_nothing_then_the_fix_imports_all(
    reference: Registry, tmp_path: Path, suffix: str
) -> None:
    rows = delegation_list(1000)
    rows[499][3] = "行政审核"  # not a category; the title and a blank row sit above the header
    bad = write_list(tmp_path / f"list{suffix}", rows)
    with pytest.raises(ImportRejected) as caught:
        await import_items(reference, bad)
    assert [str(e) for e in caught.value.errors] == [
        "row 503, 事项类别: '行政审核' is not one of 行政许可, 行政确认, 行政处罚, 其他"
    ]
    assert str(caught.value) == "1 row with errors; nothing was imported"
    assert await counts(reference) == (0, 0)

    rows[499][3] = "行政许可"
    result = await import_items(reference, write_list(tmp_path / f"fixed{suffix}", rows), actor="台账管理员")
    assert (result.rows, result.added, result.unchanged) == (1000, 1000, 0)
    items, _ = await counts(reference)
    assert items == 1000
    coverage = await delegation_coverage(reference)
    assert coverage.totals.in_force == 1000 and coverage.totals.added == 20
    assert coverage.unassigned == len([r for r in rows if not r[7]])
    history = await item_history(reference, "TEST-00001")
    assert [(h.field, h.new_value) for h in history] == [
        ("status", "DELEGATED"),
        ("department_code", "JFJ"),
        ("status", "ASSIGNED"),
    ]
    assert history[0].actor == "台账管理员" and history[0].reason == f"fixed{suffix} 第5行"
    again = await import_items(reference, tmp_path / f"fixed{suffix}")
    assert (again.added, again.unchanged) == (0, 1000)


async def test_every_row_error_is_listed_with_its_row(reference: Registry, tmp_path: Path) -> None:
    rows = delegation_list(6)
    rows[0][1] = ""  # no code
    rows[1][4] = "授权"  # not a mode
    rows[2][5] = "衡阳市不存在局"
    rows[3][6] = "全国排污许可证管理信息平台"  # a system of another bureau
    rows[4][1] = rows[5][1]  # the same code twice
    rows[5][7] = "高新区不存在局"
    path = write_list(tmp_path / "errors.csv", rows, title=False)
    with pytest.raises(ImportRejected) as caught:
        await import_items(reference, path)
    assert [str(e) for e in caught.value.errors] == [
        "row 2, 事项编码: is empty",
        "row 3, 赋权方式: '授权' is not 直接赋权 or 委托",
        "row 4, 下放部门: unknown city bureau '衡阳市不存在局'",
        "row 5, 业务系统: 全国排污许可证管理信息平台 is not a system of 衡阳市住房和城乡建设局",
        "row 7, 实施主体/承接部门: unknown receiving department '高新区不存在局'",
    ]
    assert await counts(reference) == (0, 0)


async def test_a_code_already_in_the_ledger_with_other_values_is_an_error(
    seeded: Registry, tmp_path: Path
) -> None:
    exported = await item_rows(seeded)
    header, first = exported[0], list(exported[1])
    first[1] = "改过的名称"
    path = tmp_path / "changed.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as stream:
        csv.writer(stream).writerows([header, first])
    with pytest.raises(ImportRejected, match="1 row"):
        await import_items(seeded, path)


async def test_files_it_cannot_read_are_reported(reference: Registry, tmp_path: Path) -> None:
    (tmp_path / "list.txt").write_text("x")
    with pytest.raises(ImportRejected, match=r"unsupported file type \.txt"):
        await import_items(reference, tmp_path / "list.txt")
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    with pytest.raises(ImportRejected, match="not a readable spreadsheet"):
        await import_items(reference, tmp_path / "broken.xlsx")
    write_list(tmp_path / "headless.csv", [["a", "b"]], title=False)
    (tmp_path / "headless.csv").write_text("名称,类别\n甲,乙\n", encoding="utf-8")
    with pytest.raises(ImportRejected, match="no header row with 事项编码"):
        await import_items(reference, tmp_path / "headless.csv")
    (tmp_path / "short.csv").write_text("事项编码,事项名称\nA-1,甲\n", encoding="utf-8")
    with pytest.raises(ImportRejected) as caught:
        await import_items(reference, tmp_path / "short.csv")
    assert str(caught.value.errors[0]) == "row 1: missing column 事项类别, 赋权方式, 下放部门, 业务系统"


async def test_gb18030_csv_from_excel_imports(reference: Registry, tmp_path: Path) -> None:
    path = write_list(tmp_path / "gbk.csv", delegation_list(20), encoding="gb18030")
    assert (await import_items(reference, path)).added == 20


async def test_an_exported_ledger_imports_unchanged(
    seeded: Registry, registry_pair: Registry, tmp_path: Path
) -> None:
    rows = await item_rows(seeded)
    path = tmp_path / "ledger.xlsx"
    write_xlsx(path, {"赋权事项": rows})
    await seed(registry_pair, reference_only=True)
    result = await import_items(registry_pair, path)
    assert result.added == 358
    async with registry_pair.sessionmaker() as session:
        origins = dict(
            (
                await session.execute(
                    select(DelegatedItem.origin, func.count()).group_by(DelegatedItem.origin)
                )
            ).all()
        )
        statuses = set(await session.scalars(select(DelegatedItem.status).distinct()))
    assert origins == {Origin.ORIGINAL: 346, Origin.ADDED: 12}
    assert statuses == {Status.ASSIGNED}  # a list carries the assignment, not the later steps


@pytest.fixture
async def registry_pair(tmp_path: Path) -> Registry:  # type: ignore[misc]
    """A second, empty SQLite registry to import into."""
    opened = await Registry.open(f"sqlite:///{tmp_path / 'second.db'}")
    yield opened  # type: ignore[misc]
    await opened.close()


async def test_the_coverage_report_as_xlsx_and_csv(seeded: Registry) -> None:
    coverage = await delegation_coverage(seeded)
    buffer = io.BytesIO()
    write_xlsx(buffer, coverage_tables(coverage))
    workbook = load_workbook(io.BytesIO(buffer.getvalue()), read_only=True)
    assert workbook.sheetnames == ["总览", "按承接部门", "按下放部门", "缺口"]
    overview = {r[0]: r[1] for r in workbook["总览"].iter_rows(values_only=True)}
    assert (overview["市级赋权事项（原有）"], overview["动态调整取消"], overview["动态调整新增"]) == (
        346,
        12,
        12,
    )
    # A rate is a number, shown as a percentage.
    assert (overview["在册事项"], overview["已承接到位"], overview["承接率"]) == (346, 346, 1.0)
    rate = next(r for r in workbook["总览"].iter_rows() if r[0].value == "承接率")[1]
    assert rate.data_type == "n" and rate.number_format == "0.00%"
    departments = list(workbook["按承接部门"].iter_rows(values_only=True))
    assert len(departments) == 13 and departments[1][1] == "高新区行政审批服务局"
    stream = io.StringIO()
    write_csv(stream, coverage_csv_rows(coverage))
    table = list(csv.reader(io.StringIO(stream.getvalue())))
    assert table[0][:3] == ["分组", "编码", "名称"]
    assert table[1] == ["合计", "", "合计", "346", "12", "12", "346", "346", "100.00%", "29"]
    assert sum(1 for r in table if r[0] == "承接部门") == 12


@pytest.mark.parametrize(("suffix", "written"), [(".xlsx", datetime(2022, 6, 20)), (".csv", "2022年6月20日")])
async def test_delegation_dates_as_excel_dates_or_chinese_text(
    reference: Registry, tmp_path: Path, suffix: str, written: object
) -> None:
    rows = [[*row, written] for row in delegation_list(3)]
    path = tmp_path / f"dated{suffix}"
    header = [
        "序号",
        "事项编码",
        "事项名称",
        "事项类别",
        "赋权方式",
        "下放部门",
        "业务系统",
        "实施主体/承接部门",
        "调整类型",
        "赋权日期",
    ]
    if suffix == ".xlsx":
        workbook = Workbook()
        workbook.active.append(header)
        workbook.active.append([])  # a blank row Excel leaves out of the file
        for row in rows:
            workbook.active.append(row)
        workbook.save(path)
    else:
        with path.open("w", encoding="utf-8-sig", newline="") as stream:
            csv.writer(stream).writerows([header, *rows])
    assert (await import_items(reference, path)).added == 3
    async with reference.sessionmaker() as session:
        dates = set(await session.scalars(select(DelegatedItem.delegated_on)))
    assert dates == {date(2022, 6, 20)}
