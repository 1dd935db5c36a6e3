"""Delegation lists in and out, as the spreadsheets they are published in (xlsx or csv).

Import: every row is validated first; only when no row has an error is anything
written, all of it in one transaction (with its history). Rows already in the
ledger with the same values are skipped, so a list can be imported again.

Columns (Chinese headers, found in the first ten rows; other columns are ignored):

=================== ======== ==========================================================
header              required value
=================== ======== ==========================================================
事项编码            yes      the item's code, unique
事项名称            yes      the item's name
事项类别            yes      行政许可, 行政确认, 行政处罚 or 其他
赋权方式            yes      直接赋权 or 委托 (also 直接, 委托实施)
下放部门            yes      the city bureau: code, name or short name (市资规局)
业务系统            yes      the bureau's business system: code or name
实施主体/承接部门   no       the receiving department (code or name); blank: not yet assigned
调整类型            no       新增 for items delegated in the dynamic adjustment, else 原有
赋权日期            no       the delegation date (YYYY-MM-DD); blank: the import date
=================== ======== ==========================================================
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.errors import HubError
from registry import xlsx
from registry.bulk import bulk_insert
from registry.coverage import Coverage, Figures
from registry.models import (
    Bureau,
    BusinessSystem,
    Category,
    DelegatedItem,
    Department,
    HistoryEntry,
    Mode,
    Origin,
    table_of,
)
from registry.service import NewItem, opening_rows
from registry.store import Registry

HEADERS: dict[str, tuple[str, ...]] = {
    "code": ("事项编码",),
    "name": ("事项名称",),
    "category": ("事项类别",),
    "mode": ("赋权方式",),
    "bureau": ("下放部门",),
    "system": ("业务系统",),
    "department": ("实施主体/承接部门", "承接部门", "实施主体"),
    "origin": ("调整类型",),
    "delegated_on": ("赋权日期",),
}
REQUIRED = ("code", "name", "category", "mode", "bureau", "system")
LABEL = {key: names[0] for key, names in HEADERS.items()}
MODES = {
    "直接赋权": Mode.DIRECT,
    "直接": Mode.DIRECT,
    "DIRECT": Mode.DIRECT,
    "委托": Mode.ENTRUSTED,
    "委托实施": Mode.ENTRUSTED,
    "委托下放": Mode.ENTRUSTED,
    "ENTRUSTED": Mode.ENTRUSTED,
}
MODE_LABEL = {Mode.DIRECT: "直接赋权", Mode.ENTRUSTED: "委托"}
ORIGINS = {"": Origin.ORIGINAL, "原有": Origin.ORIGINAL, "保留": Origin.ORIGINAL, "新增": Origin.ADDED}
ORIGIN_LABEL = {Origin.ORIGINAL: "原有", Origin.ADDED: "新增"}
CODE_PATTERN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._\-]{0,63}$")
_HEADER_SCAN = 10
CST = ZoneInfo("Asia/Shanghai")  # times in exports are China Standard Time

Progress = Callable[[str, int, int | None], None]  # (phase, done, total or None)


@dataclass(frozen=True, slots=True)
class RowError:
    row: int  # the spreadsheet's own row number (the header row counts)
    column: str | None
    message: str

    def __str__(self) -> str:
        if self.row == 0:  # the file as a whole
            return self.message
        where = f"row {self.row}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.message}"


class ImportRejected(HubError):
    """The file has errors; nothing was imported. ``errors`` names each row."""

    code = "BAD_USER_INPUT"

    def __init__(self, errors: Sequence[RowError]) -> None:
        rows = len({e.row for e in errors})
        if len(errors) == 1 and errors[0].column is None:  # the file or its header, not a row
            message = f"{errors[0]}; nothing was imported"
        else:
            message = f"{rows} row{'s' if rows != 1 else ''} with errors; nothing was imported"
        super().__init__(message)
        self.errors = list(errors)


@dataclass(frozen=True, slots=True)
class ImportResult:
    rows: int
    added: int
    unchanged: int


@dataclass(frozen=True, slots=True)
class Columns:
    """A spreadsheet format: field -> accepted headers (the first is the one written), required fields.

    The header row is the first of the top ten holding the first required field's header.
    """

    headers: dict[str, tuple[str, ...]]
    required: tuple[str, ...]

    @property
    def label(self) -> dict[str, str]:
        return {key: names[0] for key, names in self.headers.items()}


ITEM_COLUMNS = Columns(HEADERS, REQUIRED)


@dataclass
class Sheet:
    header_row: int
    columns: dict[str, int]  # field -> column index
    rows: list[tuple[int, tuple[Any, ...]]] = field(default_factory=list)


# -- reading -----------------------------------------------------------------------------


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a numeric code typed into Excel
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _normal_header(value: Any) -> str:
    return re.sub(r"\s+", "", cell_text(value)).replace("／", "/").replace("＊", "").replace("*", "")


def _read_raw(path: Path) -> Iterator[tuple[Any, ...]]:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        yield from xlsx.read_rows(path)
    elif suffix == ".csv":
        data = path.read_bytes()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("gb18030")  # what Excel on a Chinese Windows writes
        yield from (tuple(r) for r in csv.reader(io.StringIO(text, newline="")))
    else:
        raise ImportRejected(
            [RowError(0, None, f"unsupported file type {suffix or '(none)'}: use .xlsx or .csv")]
        )


def read_sheet(path: Path, progress: Progress | None = None, columns: Columns = ITEM_COLUMNS) -> Sheet:
    """Find the header row, map the columns, collect the non-blank rows below it."""
    sheet: Sheet | None = None
    scanned: list[tuple[Any, ...]] = []
    marker = columns.label[columns.required[0]]
    for number, raw in enumerate(_read_raw(path), start=1):
        if sheet is None:
            headers = [_normal_header(v) for v in raw]
            if marker in headers:
                sheet = Sheet(number, _map_columns(number, headers, columns))
            elif number >= _HEADER_SCAN:
                break
            scanned.append(raw)
            continue
        if any(cell_text(v) for v in raw):
            sheet.rows.append((number, raw))
            if progress and len(sheet.rows) % 5000 == 0:
                progress("read", len(sheet.rows), None)
    if sheet is None:
        raise ImportRejected(
            [RowError(1, None, f"no header row with {marker} in the first {_HEADER_SCAN} rows")]
        )
    return sheet


def load_sheet(path: Path, progress: Progress | None = None, columns: Columns = ITEM_COLUMNS) -> Sheet:
    """``read_sheet``, with a file that cannot be read reported as ImportRejected."""
    try:
        return read_sheet(path, progress, columns)
    except OSError as exc:
        raise ImportRejected([RowError(0, None, f"cannot read {path.name}: {exc.strerror}")]) from exc
    except (ValueError, KeyError, zipfile.BadZipFile, csv.Error) as exc:  # not a workbook / not CSV
        raise ImportRejected([RowError(0, None, f"{path.name} is not a readable spreadsheet")]) from exc


def _map_columns(row: int, headers: list[str], spec: Columns) -> dict[str, int]:
    columns: dict[str, int] = {}
    for key, names in spec.headers.items():
        for name in names:
            if name in headers:
                columns[key] = headers.index(name)
                break
    missing = [spec.label[k] for k in spec.required if k not in columns]
    if missing:
        raise ImportRejected([RowError(row, None, f"missing column {', '.join(missing)}")])
    return columns


# -- validation --------------------------------------------------------------------------


class Lookup:
    """Names and codes people write for a department, bureau or system, to its code."""

    def __init__(self, label: str, entries: dict[str, str], prefixes: Sequence[str] = ()) -> None:
        self.label = label
        self.index: dict[str, str] = {}
        for text, code in entries.items():
            self.index[text] = code
            for prefix in prefixes:
                if text.startswith(prefix):
                    self.index[text[len(prefix) :]] = code

    def find(self, text: str) -> str | None:
        return self.index.get(re.sub(r"\s+", "", text))


async def _lookups(session: AsyncSession) -> tuple[Lookup, Lookup, Lookup, dict[str, str]]:
    departments: dict[str, str] = {}
    for d in await session.scalars(select(Department)):
        departments[d.code] = departments[d.name] = d.code
    bureaus: dict[str, str] = {}
    for b in await session.scalars(select(Bureau)):
        bureaus[b.code] = bureaus[b.name] = bureaus[b.short_name] = b.code
    systems: dict[str, str] = {}
    system_bureau: dict[str, str] = {}
    for s in await session.scalars(select(BusinessSystem)):
        systems[s.code] = systems[s.name] = s.code
        system_bureau[s.code] = s.bureau_code
    return (
        Lookup("department", departments, prefixes=("高新区",)),
        Lookup("bureau", bureaus, prefixes=("衡阳市",)),
        Lookup("business system", systems),
        system_bureau,
    )


def _parse_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and 1 <= value < 2_958_466:
        return xlsx.excel_date(value)  # a date cell: Excel keeps the serial day number
    text = cell_text(value)
    match = re.fullmatch(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?", text)
    if not match:
        raise ValueError(text)
    return date(*map(int, match.groups()))


def validate(
    sheet: Sheet,
    lookups: tuple[Lookup, Lookup, Lookup, dict[str, str]],
    existing: dict[str, tuple[Any, ...]],
    progress: Progress | None = None,
) -> tuple[list[tuple[int, NewItem]], int, list[RowError]]:
    """Check every row; returns (new items with their row numbers, rows unchanged, errors)."""
    errors: list[RowError] = []
    new: list[tuple[int, NewItem]] = []
    unchanged = 0
    seen: dict[str, int] = {}
    for done, (number, raw) in enumerate(sheet.rows, start=1):
        if progress and done % 5000 == 0:
            progress("check", done, len(sheet.rows))
        problems: list[tuple[str, str]] = []
        item = _check_row(sheet.columns, raw, lookups, problems)
        if item is not None:
            if item.code in seen:
                problems.append(("code", f"{item.code} appears again (first on row {seen[item.code]})"))
            else:
                seen[item.code] = number
                held = existing.get(item.code)
                same = (item.name, item.category, item.mode, item.source_bureau_code, item.system_code)
                if held is None:
                    new.append((number, item))
                elif held[:5] == same and item.department_code in (None, held[5]):
                    unchanged += 1
                else:
                    problems.append(("code", f"{item.code} is already in the ledger with different values"))
        errors.extend(RowError(number, LABEL[key], message) for key, message in problems)
    return new, unchanged, errors


def _check_row(
    columns: dict[str, int],
    raw: tuple[Any, ...],
    lookups: tuple[Lookup, Lookup, Lookup, dict[str, str]],
    problems: list[tuple[str, str]],
) -> NewItem | None:
    """One row as a NewItem, or None with ``problems`` saying (column key, what is wrong)."""
    departments, bureaus, systems, system_bureau = lookups
    cells = {key: raw[i] if i < len(raw) else None for key, i in columns.items()}
    values = {key: cell_text(cells.get(key)) for key in HEADERS}
    for key in REQUIRED:
        if not values[key]:
            problems.append((key, "is empty"))
    code = values["code"]
    if code and not CODE_PATTERN.match(code):
        problems.append(("code", f"{code!r} is not a code (letters, digits, '-', '_', '.'; at most 64)"))
    if len(values["name"]) > 200:
        problems.append(("name", "is longer than 200 characters"))
    category = mode = bureau = system = department = None
    delegated_on: date | None = None
    if values["category"]:
        try:
            category = Category(values["category"])
        except ValueError:
            allowed = ", ".join(c.value for c in Category)
            problems.append(("category", f"{values['category']!r} is not one of {allowed}"))
    if values["mode"]:
        mode = MODES.get(values["mode"])
        if mode is None:
            problems.append(("mode", f"{values['mode']!r} is not 直接赋权 or 委托"))
    if values["bureau"]:
        bureau = bureaus.find(values["bureau"])
        if bureau is None:
            problems.append(("bureau", f"unknown city bureau {values['bureau']!r}"))
    if values["system"]:
        system = systems.find(values["system"])
        if system is None:
            problems.append(("system", f"unknown business system {values['system']!r}"))
        elif bureau is not None and system_bureau[system] != bureau:
            problems.append(("system", f"{values['system']} is not a system of {values['bureau']}"))
    if values["department"]:
        department = departments.find(values["department"])
        if department is None:
            problems.append(("department", f"unknown receiving department {values['department']!r}"))
    origin = ORIGINS.get(values["origin"])
    if origin is None:
        problems.append(("origin", f"{values['origin']!r} is not 原有 or 新增"))
    if values["delegated_on"]:
        try:
            delegated_on = _parse_date(cells.get("delegated_on"))
        except ValueError:
            problems.append(("delegated_on", f"{values['delegated_on']!r} is not a date (YYYY-MM-DD)"))
    if problems:
        return None
    assert category and mode and bureau and system and origin
    return NewItem(
        code=code,
        name=values["name"],
        category=category,
        mode=mode,
        source_bureau_code=bureau,
        system_code=system,
        department_code=department,
        origin=origin,
        delegated_on=delegated_on,
    )


# -- import ------------------------------------------------------------------------------


async def import_items(
    registry: Registry,
    path: str | Path,
    *,
    actor: str = "import",
    dry_run: bool = False,
    progress: Progress | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ImportResult:
    """Import a delegation list: all rows or none. Raises ImportRejected listing row errors."""
    path = Path(path)
    sheet = load_sheet(path, progress)
    async with registry.write() as session:
        lookups = await _lookups(session)
        item = DelegatedItem
        existing = {
            row[0]: tuple(row[1:])
            for row in await session.execute(
                select(
                    item.code,
                    item.name,
                    item.category,
                    item.mode,
                    item.source_bureau_code,
                    item.system_code,
                    item.department_code,
                )
            )
        }
        new, unchanged, errors = validate(sheet, lookups, existing, progress)
        if errors:
            raise ImportRejected(errors)
        if dry_run or not new:
            return ImportResult(len(sheet.rows), len(new), unchanged)
        at = clock()
        items: list[dict[str, Any]] = []
        history: list[dict[str, Any]] = []
        for number, entry in new:
            row, opening = opening_rows(
                entry, at=at, actor=actor, key=None, source=f"{path.name} 第{number}行"
            )
            items.append(row)
            history.extend(opening)
        written = 0

        def step(n: int) -> None:
            nonlocal written
            written += n
            if progress:
                progress("write", written, len(items) + len(history))

        # History first: the database records any item status its history does not show.
        await bulk_insert(session, table_of(HistoryEntry), history, progress=step)
        await bulk_insert(session, table_of(DelegatedItem), items, progress=step)
    return ImportResult(len(sheet.rows), len(new), unchanged)


# -- export ------------------------------------------------------------------------------

ITEM_HEADERS = (
    "事项编码",
    "事项名称",
    "事项类别",
    "赋权方式",
    "下放部门",
    "业务系统",
    "实施主体/承接部门",
    "调整类型",
    "赋权日期",
    "状态",
    "取消日期",
    "取消原因",
)
FIGURE_HEADERS = ("原有", "取消", "新增", "在册", "已承接", "承接率", "有效账号")


def _ratio(value: float | None) -> Percent | str:
    return "" if value is None else Percent(value)


def _figures(f: Figures) -> list[Any]:
    """The FIGURE_HEADERS columns but the last (active accounts, which bureaus lack)."""
    return [f.original, f.cancelled, f.added, f.in_force, f.taken_over, _ratio(f.ratio)]


def coverage_tables(coverage: Coverage) -> dict[str, list[list[Any]]]:
    """The auditors' report as tables: overview, by department, by bureau, gaps."""
    t = coverage.totals
    overview: list[list[Any]] = [
        ["指标", "数值"],
        ["市级赋权事项（原有）", t.original],
        ["动态调整取消", t.cancelled],
        ["动态调整新增", t.added],
        ["在册事项", t.in_force],
        ["已承接到位", t.taken_over],
        ["承接率", _ratio(t.ratio)],
        ["承接部门数", coverage.departments],
        ["未分配事项", coverage.unassigned],
        ["有效业务系统账号", t.active_accounts],
        ["缺口", sum(coverage.gap_counts.values())],
    ]
    by_department: list[list[Any]] = [["部门编码", "承接部门", *FIGURE_HEADERS]]
    for f in coverage.by_department:
        by_department.append([f.code, f.name, *_figures(f), f.active_accounts])
    by_bureau: list[list[Any]] = [["部门编码", "下放部门", *FIGURE_HEADERS[:-1]]]
    for f in coverage.by_bureau:
        by_bureau.append([f.code, f.name, *_figures(f)])
    gaps: list[list[Any]] = [["缺口类型", "说明", "部门编码", "事项编码", "业务系统编码"]]
    for g in coverage.gaps:
        gaps.append([g.kind.value, g.detail, g.department_code or "", g.item_code or "", g.system_code or ""])
    return {"总览": overview, "按承接部门": by_department, "按下放部门": by_bureau, "缺口": gaps}


def coverage_csv_rows(coverage: Coverage) -> list[list[Any]]:
    """One long table: 合计, each department, each bureau, then each gap."""
    t = coverage.totals
    rows: list[list[Any]] = [["分组", "编码", "名称", *FIGURE_HEADERS]]
    rows.append(["合计", "", "合计", *_figures(t), t.active_accounts])
    for group, figures in (("承接部门", coverage.by_department), ("下放部门", coverage.by_bureau)):
        for f in figures:
            accounts = f.active_accounts if group == "承接部门" else ""
            rows.append([group, f.code, f.name, *_figures(f), accounts])
    for g in coverage.gaps:
        rows.append([f"缺口:{g.kind.value}", g.item_code or g.department_code or "", g.detail])
    return rows


class Percent(float):
    """A rate (a fraction: 0.856) that a workbook shows as a percentage (85.6%), to ``decimals`` places."""

    decimals: int

    def __new__(cls, value: float, decimals: int = 2) -> Percent:
        rate = super().__new__(cls, value)
        rate.decimals = decimals
        return rate

    def __str__(self) -> str:
        return f"{float(self):.{self.decimals}%}"


Notes = Sequence[tuple[str, Any]]  # (label, value) lines above a table: generation time, as-of date


def _display_width(value: Any) -> int:
    """Columns a value takes in a spreadsheet: CJK and full-width characters count two."""
    if isinstance(value, datetime):
        return 19
    if isinstance(value, date):
        return 10
    text = str(value) if value is not None else ""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def write_xlsx(path: Path | io.BytesIO, sheets: dict[str, list[list[Any]]], *, notes: Notes = ()) -> None:
    """Write ``sheets`` (title -> header row and rows), cells typed for Excel and LibreOffice.

    Numbers stay numbers, ``Percent`` values get a percent format, dates and times
    date formats; each column is as wide as its widest value (Chinese counted double,
    capped); ``notes`` go above the header on every sheet; the header row is bold and
    frozen, so it stays in view while scrolling.
    """
    from openpyxl import Workbook  # type: ignore[import-untyped]
    from openpyxl.styles import Font  # type: ignore[import-untyped]
    from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        widths: dict[int, int] = {}
        for row in rows:
            for i, value in enumerate(row):
                widths[i] = max(widths.get(i, 0), _display_width(value))
        for i, width in widths.items():
            sheet.column_dimensions[get_column_letter(i + 1)].width = min(max(width + 2, 6), 60)
        lead = [[label, value] for label, value in notes] + ([[]] if notes else [])
        sheet.freeze_panes = f"A{len(lead) + 2}"

        for row in lead:
            sheet.append([_typed_cell(sheet, v, bold if i == 0 else None) for i, v in enumerate(row)])
        for index, row in enumerate(rows):
            sheet.append([_typed_cell(sheet, v, bold if index == 0 else None) for v in row])
    workbook.save(path)


def _typed_cell(sheet: Any, value: Any, font: Any) -> Any:
    from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]

    cell = WriteOnlyCell(sheet, value=float(value) if isinstance(value, Percent) else value)
    if font is not None:
        cell.font = font
    if isinstance(value, Percent):
        cell.number_format = "0." + "0" * value.decimals + "%" if value.decimals else "0%"
    elif isinstance(value, datetime):
        cell.value = value.astimezone(CST).replace(tzinfo=None) if value.tzinfo else value
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
    elif isinstance(value, date):
        cell.number_format = "yyyy-mm-dd"
    return cell


def _csv_value(value: Any) -> Any:
    if isinstance(value, Percent):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(CST).isoformat(timespec="seconds") if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def write_csv(stream: io.TextIOBase | Any, rows: list[list[Any]], *, notes: Notes = ()) -> None:
    """Rows as CSV; ``notes`` as label, value lines and a blank line above them."""
    writer = csv.writer(stream, lineterminator="\r\n")
    if notes:
        writer.writerows([[label, _csv_value(value)] for label, value in notes])
        writer.writerow([])
    writer.writerows([_csv_value(v) for v in row] for row in rows)


async def item_rows(registry: Registry) -> list[list[Any]]:
    """Every item, in the import format plus its status (a list exported imports unchanged).

    Bureaus, systems and departments are written by name, as published lists name them.
    """
    item = DelegatedItem
    async with registry.sessionmaker() as session:
        bureaus = {b.code: b.name for b in await session.scalars(select(Bureau))}
        systems = {s.code: s.name for s in await session.scalars(select(BusinessSystem))}
        departments = {d.code: d.name for d in await session.scalars(select(Department))}
        rows = await session.scalars(select(item).order_by(item.code))
        return [list(ITEM_HEADERS)] + [
            [
                i.code,
                i.name,
                i.category.value,
                MODE_LABEL[i.mode],
                bureaus[i.source_bureau_code],
                systems[i.system_code],
                departments[i.department_code] if i.department_code else "",
                ORIGIN_LABEL[i.origin],
                i.delegated_on,
                i.status.value,
                i.cancelled_on or "",
                i.cancel_reason or "",
            ]
            for i in rows
        ]
