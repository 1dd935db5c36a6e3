"""Delegation lists for the spreadsheet and CLI tests (a helper module, not tests)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from registry import seed_data

HEADER = [
    "序号",
    "事项编码",
    "事项名称",
    "事项类别",
    "赋权方式",
    "下放部门",
    "业务系统",
    "实施主体/承接部门",
    "调整类型",
]
CATEGORIES = ["行政许可", "行政确认", "行政处罚", "其他"]


def delegation_list(n: int) -> list[list[Any]]:
    """``n`` valid rows naming bureaus, systems and departments the way published lists do."""
    bureaus = {code: name for code, name, _ in seed_data.BUREAUS}
    departments = [name for _, name in seed_data.DEPARTMENTS]
    rows = []
    for i in range(n):
        _, system_name, bureau = seed_data.SYSTEMS[i % len(seed_data.SYSTEMS)]
        rows.append(
            [
                i + 1,
                f"TEST-{i:05d}",
                f"测试赋权事项{i}",
                CATEGORIES[i % 4],
                "委托" if i % 5 == 0 else "直接赋权",
                bureaus[bureau],
                system_name,
                departments[i % 12] if i % 7 else "",
                "新增" if i % 50 == 0 else "",
            ]
        )
    return rows


def write_list(
    path: Path,
    rows: list[list[Any]],
    *,
    title: bool = True,
    encoding: str = "utf-8-sig",
    header: list[str] | None = HEADER,
) -> Path:
    """Rows under ``header`` (None: the rows bring their own), below a title and a blank row."""
    table = ([["衡阳高新区市级赋权事项清单（2022年动态调整）"], []] if title else []) + (
        [header, *rows] if header is not None else rows
    )
    if path.suffix == ".xlsx":
        workbook = Workbook()
        for row in table:
            workbook.active.append(row)
        workbook.save(path)
    else:
        with path.open("w", encoding=encoding, newline="") as stream:
            csv.writer(stream).writerows(table)
    return path
