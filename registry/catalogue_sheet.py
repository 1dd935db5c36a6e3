"""The service catalogue in and out, as a spreadsheet with Chinese headers (xlsx or csv).

Import goes through the ledger's machinery (``registry.spreadsheet``): every row
is checked first; only when no row has an error is anything written, all of it
in one transaction with its history. A row whose item is already in the
catalogue with the same values is skipped; one with other values changes the
item, each changed field recorded (old value, new value, the file and row).
Items not in the file are left as they are. An exported catalogue imports
unchanged.

=================== ======== ==========================================================
header              required value
=================== ======== ==========================================================
事项编码            yes      the item's code, unique
事项名称            yes      the item's name
事项类型            yes      行政许可, 行政给付, 行政确认, 行政奖励, 行政裁决, 其他行政权力 or 公共服务
事项领域            yes      e.g. 工程建设 (the construction domain the parallel-handling rate is over)
实施部门            yes      a receiving department, or a city bureau's forward window (code or name)
依申请              yes      是 or 否
进驻中心            yes      是 or 否: handled in the service centre
受理条件            no       the conditions
办理流程            no       the procedure
关键材料            no       materials that must be there, separated by ；or new lines
非关键材料          no       materials that may be owed under 容缺受理
改革前材料数        yes      how many materials the guide asked for before the reform
法定时限            yes      the statutory limit (a whole number of days)
承诺时限            yes      the promised limit, not above the statutory one
时限单位            no       工作日 (default) or 自然日
网办深度            yes      1–4 (一级 信息公开 … 四级 全程网办)
容缺受理            no       是 or 否 (default 否); 是 needs a non-key material
告知承诺            no       是 or 否 (default 否)
并联审批            no       the parallel-handling group the item is handled in
办事指南            no       the handbook entry (G01 … G14)
赋权事项编码        no       the delegated item in the ledger
审批事项类型        no       approval kinds covered (e.g. planning.conditions), separated by 、or ,
年度办件量          no       the reporting year's cases (default 0)
网上办件量          no       of which handled online (default 0)
=================== ======== ==========================================================
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.handbook import HANDBOOK
from domain.limits import LimitUnit
from registry.catalogue import (
    ONLINE_DEPTHS,
    UNIT_LABELS,
    Material,
    ServiceEntry,
    WriteSummary,
    limit_problem,
    load_entries,
    normalised,
    write_entries,
)
from registry.models import Bureau, DelegatedItem, Department, ServiceCategory, ServiceItemKind
from registry.spreadsheet import (
    CODE_PATTERN,
    Columns,
    ImportRejected,
    Lookup,
    Progress,
    RowError,
    Sheet,
    cell_text,
    load_sheet,
)
from registry.store import Registry

CATALOGUE_COLUMNS = Columns(
    headers={
        "code": ("事项编码",),
        "name": ("事项名称",),
        "category": ("事项类型", "事项类别"),
        "domain": ("事项领域",),
        "handler": ("实施部门", "实施主体"),
        "application_based": ("依申请",),
        "in_centre": ("进驻中心",),
        "conditions": ("受理条件",),
        "procedure": ("办理流程",),
        "key_materials": ("关键材料",),
        "other_materials": ("非关键材料",),
        "materials_before": ("改革前材料数",),
        "statutory_limit": ("法定时限",),
        "promised_limit": ("承诺时限",),
        "limit_unit": ("时限单位",),
        "online_depth": ("网办深度",),
        "tolerance": ("容缺受理",),
        "commitment": ("告知承诺",),
        "parallel_group": ("并联审批",),
        "handbook_code": ("办事指南",),
        "delegated_item_code": ("赋权事项编码",),
        "kinds": ("审批事项类型",),
        "cases": ("年度办件量",),
        "online_cases": ("网上办件量",),
    },
    required=(
        "code",
        "name",
        "category",
        "domain",
        "handler",
        "application_based",
        "in_centre",
        "materials_before",
        "statutory_limit",
        "promised_limit",
        "online_depth",
    ),
)
LABEL = CATALOGUE_COLUMNS.label
HEADER_ROW = [names[0] for names in CATALOGUE_COLUMNS.headers.values()]
YES = {"是", "Y", "YES", "TRUE", "1", "√"}
NO = {"否", "N", "NO", "FALSE", "0", ""}
UNITS = {"": LimitUnit.WORKING_DAYS, **{label: unit for unit, label in UNIT_LABELS.items()}}
DEPTHS = {**{str(d): d for d in ONLINE_DEPTHS}, **{label[:2]: d for d, label in ONLINE_DEPTHS.items()}}
KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
_LIST_SPLIT = re.compile(r"[；;\n]+")
_KIND_SPLIT = re.compile(r"[、,，\s]+")


class _References:
    def __init__(
        self,
        departments: Lookup,
        bureaus: Lookup,
        delegated: set[str],
        kind_holders: dict[str, str],
    ) -> None:
        self.departments = departments
        self.bureaus = bureaus
        self.delegated = delegated
        self.kind_holders = kind_holders
        self.handbook = {e.code for e in HANDBOOK}

    @classmethod
    async def load(cls, session: AsyncSession) -> _References:
        departments: dict[str, str] = {}
        for d in await session.scalars(select(Department)):
            departments[d.code] = departments[d.name] = d.code
        bureaus: dict[str, str] = {}
        for b in await session.scalars(select(Bureau)):
            bureaus[b.code] = bureaus[b.name] = bureaus[b.short_name] = b.code
        delegated = set(await session.scalars(select(DelegatedItem.code)))
        holders = {k.kind: k.item_code for k in await session.scalars(select(ServiceItemKind))}
        return cls(
            Lookup("department", departments, prefixes=("高新区",)),
            Lookup("bureau", bureaus, prefixes=("衡阳市",)),
            delegated,
            holders,
        )


def _flag(text: str, key: str, problems: list[tuple[str, str]]) -> bool:
    upper = text.upper()
    if upper in YES:
        return True
    if upper not in NO:
        problems.append((key, f"{text!r} is not 是 or 否"))
    return False


def _whole(text: str, key: str, problems: list[tuple[str, str]], *, default: int | None = None) -> int:
    if not text and default is not None:
        return default
    try:
        value = float(text)
    except ValueError:
        problems.append((key, f"{text!r} is not a whole number"))
        return 0
    if not value.is_integer() or value < 0:
        problems.append((key, f"{text!r} is not a whole number"))
        return 0
    return int(value)


def _check_row(
    columns: dict[str, int], raw: tuple[Any, ...], refs: _References, problems: list[tuple[str, str]]
) -> ServiceEntry | None:
    """One row as a ServiceEntry, or None with ``problems`` saying (column key, what is wrong)."""
    values = {key: cell_text(raw[i]) if i < len(raw) else "" for key, i in columns.items()}
    v = {key: values.get(key, "") for key in CATALOGUE_COLUMNS.headers}
    for key in CATALOGUE_COLUMNS.required:
        if not v[key]:
            problems.append((key, "is empty"))
    if problems:
        return None
    code = v["code"]
    if not CODE_PATTERN.match(code):
        problems.append(("code", f"{code!r} is not a code (letters, digits, '-', '_', '.'; at most 64)"))
    if len(v["name"]) > 200:
        problems.append(("name", "is longer than 200 characters"))
    if len(v["domain"]) > 32:
        problems.append(("domain", "is longer than 32 characters"))
    category = None
    try:
        category = ServiceCategory(v["category"])
    except ValueError:
        allowed = ", ".join(c.value for c in ServiceCategory)
        problems.append(("category", f"{v['category']!r} is not one of {allowed}"))
    department = refs.departments.find(v["handler"])
    window = None if department else refs.bureaus.find(v["handler"])
    if department is None and window is None:
        problems.append(("handler", f"unknown department or city bureau {v['handler']!r}"))
    flags = {
        k: _flag(v[k], k, problems) for k in ("application_based", "in_centre", "tolerance", "commitment")
    }
    numbers = {
        k: _whole(v[k], k, problems, default=0 if k in ("cases", "online_cases") else None)
        for k in ("materials_before", "statutory_limit", "promised_limit", "cases", "online_cases")
    }
    unit = UNITS.get(v["limit_unit"])
    if unit is None:
        problems.append(("limit_unit", f"{v['limit_unit']!r} is not 工作日 or 自然日"))
    depth = DEPTHS.get(v["online_depth"])
    if depth is None:
        problems.append(("online_depth", f"{v['online_depth']!r} is not 1, 2, 3 or 4"))
    materials = tuple(Material(m.strip()) for m in _LIST_SPLIT.split(v["key_materials"]) if m.strip())
    materials += tuple(
        Material(m.strip(), key=False) for m in _LIST_SPLIT.split(v["other_materials"]) if m.strip()
    )
    if any(len(m.name) > 200 for m in materials):
        problems.append(("key_materials", "a material's name is longer than 200 characters"))
    if flags["tolerance"] and all(m.key for m in materials):
        problems.append(("tolerance", "容缺受理 needs at least one non-key material (非关键材料)"))
    if numbers["online_cases"] > numbers["cases"]:
        problems.append(("online_cases", "is more than the year's cases (年度办件量)"))
    handbook = v["handbook_code"] or None
    if handbook and handbook not in refs.handbook:
        problems.append(("handbook_code", f"no handbook entry {handbook!r}"))
    delegated = v["delegated_item_code"] or None
    if delegated and delegated not in refs.delegated:
        problems.append(("delegated_item_code", f"no delegated item {delegated} in the ledger"))
    kinds = tuple(k for k in _KIND_SPLIT.split(v["kinds"]) if k)
    for kind in kinds:
        if not KIND_PATTERN.match(kind):
            problems.append(("kinds", f"{kind!r} is not an approval kind (department.kind)"))
    if len(v["parallel_group"]) > 64:
        problems.append(("parallel_group", "is longer than 64 characters"))
    if problems or category is None or unit is None or depth is None:
        return None
    entry = ServiceEntry(
        code=code,
        name=v["name"],
        category=category,
        domain=v["domain"],
        department_code=department,
        window_bureau_code=window,
        application_based=flags["application_based"],
        in_centre=flags["in_centre"],
        conditions=v["conditions"],
        procedure=v["procedure"],
        materials=materials,
        materials_before=numbers["materials_before"],
        statutory_limit=numbers["statutory_limit"],
        promised_limit=numbers["promised_limit"],
        limit_unit=unit,
        online_depth=depth,
        tolerance=flags["tolerance"],
        commitment=flags["commitment"],
        parallel_group=v["parallel_group"] or None,
        handbook_code=handbook,
        delegated_item_code=delegated,
        kinds=kinds,
        cases=numbers["cases"],
        online_cases=numbers["online_cases"],
    )
    problem = limit_problem(entry)
    if problem:
        problems.append(("promised_limit", problem))
        return None
    return entry


def validate(
    sheet: Sheet, refs: _References, progress: Progress | None = None
) -> tuple[list[tuple[int, ServiceEntry]], list[RowError]]:
    """Check every row; returns (entries with their row numbers, errors)."""
    errors: list[RowError] = []
    out: list[tuple[int, ServiceEntry]] = []
    seen: dict[str, int] = {}
    kinds_in_file: dict[str, tuple[str, int]] = {}
    for done, (number, raw) in enumerate(sheet.rows, start=1):
        if progress and done % 5000 == 0:
            progress("check", done, len(sheet.rows))
        problems: list[tuple[str, str]] = []
        entry = _check_row(sheet.columns, raw, refs, problems)
        if entry is not None:
            if entry.code in seen:
                problems.append(("code", f"{entry.code} appears again (first on row {seen[entry.code]})"))
            else:
                seen[entry.code] = number
                out.append((number, entry))
            for kind in entry.kinds:
                first = kinds_in_file.setdefault(kind, (entry.code, number))
                if first[0] != entry.code:
                    problems.append(("kinds", f"{kind} is already covered by {first[0]} (row {first[1]})"))
        errors.extend(RowError(number, LABEL[key], message) for key, message in problems)
    # A kind may move between items of the file, not onto an item while another keeps it.
    for kind, (code, number) in kinds_in_file.items():
        holder = refs.kind_holders.get(kind)
        if holder is not None and holder != code and holder not in seen:
            errors.append(
                RowError(number, LABEL["kinds"], f"{kind} is covered by {holder}, not in this file")
            )
    errors.sort(key=lambda e: e.row)
    return out, errors


async def import_catalogue(
    registry: Registry,
    path: str | Path,
    *,
    actor: str = "import",
    dry_run: bool = False,
    progress: Progress | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> WriteSummary:
    """Import a service catalogue: all rows or none. Raises ImportRejected listing row errors."""
    path = Path(path)
    sheet = load_sheet(path, progress, CATALOGUE_COLUMNS)
    async with registry.write() as session:
        refs = await _References.load(session)
        checked, errors = validate(sheet, refs, progress)
        if errors:
            raise ImportRejected(errors)
        existing = await load_entries(session, [e.code for _, e in checked])
        if dry_run:
            changed = sum(
                1 for _, e in checked if e.code in existing and normalised(e) != normalised(existing[e.code])
            )
            unchanged = sum(1 for _, e in checked if e.code in existing) - changed
            return WriteSummary(
                added=len(checked) - changed - unchanged, changed=changed, unchanged=unchanged
            )
        return await write_entries(
            session,
            [e for _, e in checked],
            at=clock(),
            actor=actor,
            reason=[f"{path.name} 第{number}行" for number, _ in checked],
            existing=existing,
        )


def entry_row(entry: ServiceEntry, handlers: dict[str, str]) -> list[Any]:
    """One entry in the import format (departments and windows by name)."""

    def flag(value: bool) -> str:
        return "是" if value else "否"

    handler = entry.department_code or entry.window_bureau_code or ""
    return [
        entry.code,
        entry.name,
        entry.category.value,
        entry.domain,
        handlers.get(handler, handler),
        flag(entry.application_based),
        flag(entry.in_centre),
        entry.conditions,
        entry.procedure,
        "；".join(m.name for m in entry.materials if m.key),
        "；".join(m.name for m in entry.materials if not m.key),
        entry.materials_before,
        entry.statutory_limit,
        entry.promised_limit,
        UNIT_LABELS[entry.limit_unit],
        entry.online_depth,
        flag(entry.tolerance),
        flag(entry.commitment),
        entry.parallel_group or "",
        entry.handbook_code or "",
        entry.delegated_item_code or "",
        "、".join(entry.kinds),
        entry.cases,
        entry.online_cases,
    ]


async def catalogue_rows(registry: Registry) -> list[list[Any]]:
    """The whole catalogue in the import format, header first (it imports unchanged)."""
    async with registry.sessionmaker() as session:
        handlers = {d.code: d.name for d in await session.scalars(select(Department))}
        handlers.update({b.code: b.name for b in await session.scalars(select(Bureau))})
        entries = await load_entries(session)
    return [HEADER_ROW] + [entry_row(e, handlers) for e in entries.values()]
