"""The seeded service catalogue: the zone report's story, deterministic.

Every delegated item in force that the departments handle on application (the
licensing and confirmation items' 新办, 变更 and single sub-items, and the other
direct powers) is a catalogue item in the centre, and so are the forward
windows' and the centre's own services (``catalogue_data.WINDOW_ITEMS``); the
entrusted duties (依职权) are listed but are not applications. The handbook's
entries are the items they name, with the limits of the approval kinds they
cover (``domain.limits``); the other items' limits, materials, online depth
and case counts follow fixed patterns. The catalogue was published on
2022-07-01 with the old guides (every material, promise equal to the law) and
revised on 2023-03-15 by the reform, so both states are in the history.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import date
from typing import Any

from sqlalchemy import func, select

from domain.handbook import HANDBOOK
from domain.limits import LimitUnit, TimeLimit
from registry import catalogue_data as data
from registry.catalogue import Material, ServiceEntry, write_entries
from registry.models import Category, DelegatedItem, ServiceCategory, ServiceItem, Status
from registry.seed import ACTOR, SeedError, at, build_story
from registry.store import Registry

PUBLISHED_ON = date(2022, 7, 1)  # the catalogue and its guides first published
REFORMED_ON = date(2023, 3, 15)  # the reform's revision: fewer materials, promised limits
_VARIANT = re.compile(r"（(新办|变更|延续|注销|首次)）$")
_LEDGER_CATEGORY = {
    Category.LICENSING: ServiceCategory.LICENSING,
    Category.CONFIRMATION: ServiceCategory.CONFIRMATION,
    Category.OTHER: ServiceCategory.OTHER_POWER,
}
# Per item, by its place in the list: materials after the reform, materials dropped by it,
# online depth, and the share of the year's cases handled online at each depth.
_AFTER = (5, 6, 6, 4, 5, 6, 5, 4, 6, 5)
_DROPPED = (4, 3, 4, 4, 3, 4, 4, 3, 4, 5)
_DEPTH = (4, 4, 4, 3, 4, 4, 3, 4, 4, 2)
_ONLINE_SHARE = {4: 0.98, 3: 0.687, 2: 0.2, 1: 0.0}


def _ledger_items() -> list[dict[str, Any]]:
    return [i for i in build_story().items if i["status"] is not Status.CANCELLED]


def _applies(item: dict[str, Any]) -> bool:
    """A delegated item the departments handle on application, as one catalogue item."""
    variant = _VARIANT.search(item["name"])
    if variant and variant.group(1) in ("延续", "注销"):
        return False
    return item["category"] in (Category.LICENSING, Category.CONFIRMATION) or (
        item["category"] is Category.OTHER and item["mode"].value == "DIRECT"
    )


def _limits(category: ServiceCategory, n: int) -> TimeLimit:
    if category is ServiceCategory.PUBLIC_SERVICE:
        return TimeLimit(10, 4 + n % 2)
    if category is ServiceCategory.LICENSING:
        return TimeLimit(20, 9 + (n % 7 == 0))
    return TimeLimit(20, 9 + (n % 4 == 0))


def _materials(n: int, tolerance: bool) -> tuple[Material, ...]:
    count = _AFTER[n % len(_AFTER)]
    names = list(data.MATERIALS[:count])
    if tolerance and not any(name in data.NON_KEY for name in names):
        names[-1] = "现场照片"
    return tuple(Material(name, name not in data.NON_KEY) for name in names)


def build_catalogue() -> list[ServiceEntry]:
    """The report's catalogue: 226 items in the centre, 13 告知承诺, 49 容缺, 8.9 → 5.1 materials."""
    handbook = {e.code: e for e in HANDBOOK}
    by_name = {name: code for code, name in data.HANDBOOK_ITEMS.items()}
    raw: list[dict[str, Any]] = []
    for item in _ledger_items():
        applies = _applies(item)
        if not applies and item["category"] is not Category.OTHER:
            continue  # penalties and the 延续/注销 sub-items are not catalogue items of their own
        raw.append(
            {
                "name": item["name"],
                "category": _LEDGER_CATEGORY[item["category"]],
                "domain": data.DOMAIN_BY_SYSTEM[item["system_code"]],
                "department": item["department_code"],
                "window": None,
                "applies": applies,
                "delegated": item["code"],
                "system": item["system_code"],
                "handbook": by_name.get(item["name"]),
            }
        )
    bureaus = {"SXFZ", "SGDB", "SZGJ"}
    for name, handler, category_name, domain, handbook_code in data.WINDOW_ITEMS:
        raw.append(
            {
                "name": name,
                "category": ServiceCategory(category_name),
                "domain": domain,
                "department": None if handler in bureaus else handler,
                "window": handler if handler in bureaus else None,
                "applies": True,
                "delegated": None,
                "system": None,
                "handbook": handbook_code or None,
            }
        )
    # Fixed draws, so the story is the same every time (as the ledger's cancellations are).
    rng = random.Random(2023)
    licensing = [r["name"] for r in raw if r["applies"] and r["category"] is ServiceCategory.LICENSING]
    candidates = [n for n in licensing if n not in (data.COMMITMENT_NAMED, data.TOLERANCE_NAMED)]
    drawn = rng.sample(candidates, 12 + 48)
    commitment = {data.COMMITMENT_NAMED, *drawn[:12]}
    tolerance = {data.TOLERANCE_NAMED, *drawn[12:]}

    entries: list[ServiceEntry] = []
    serial: dict[ServiceCategory, int] = {}
    for n, r in enumerate(raw):
        category: ServiceCategory = r["category"]
        serial[category] = serial.get(category, 0) + 1
        code = f"430472-{_CODES[category]}-{serial[category]:04d}"
        entry = handbook.get(r["handbook"]) if r["handbook"] else None
        kinds: tuple[str, ...] = ()
        main = False  # the entry's own item (not its filing path): it publishes the entry's guide
        if entry is not None:
            groups: dict[TimeLimit, list[str]] = {}
            for kind, limit in entry.limits:
                groups.setdefault(limit, []).append(kind)
            # The entry's main item takes its headline limit; a filing path (备案) its own.
            heads = list(groups.items())
            main = bool(r["delegated"]) or len(heads) == 1
            limit, kind_list = heads[0] if main else heads[-1]
            kinds = tuple(kind_list)
        else:
            limit = _limits(category, n)
        if r["name"] in data.DEPARTMENT_ITEMS:
            kinds, statutory, promised, unit_name = data.DEPARTMENT_ITEMS[r["name"]]
            limit = TimeLimit(statutory, promised, LimitUnit(unit_name))
        unit = limit.unit
        tolerant = r["name"] in tolerance
        if entry is not None and main:
            last = len(entry.materials) - 1
            materials = tuple(
                Material(m, key=not (tolerant and i == last)) for i, m in enumerate(entry.materials)
            )
        else:
            materials = _materials(n, tolerant)
        depth = _DEPTH[n % len(_DEPTH)] if r["applies"] else 1
        cases = 40 + (n * 53) % 400 if r["applies"] else 0
        entries.append(
            ServiceEntry(
                code=code,
                name=r["name"],
                category=category,
                domain=r["domain"],
                department_code=r["department"],
                window_bureau_code=r["window"],
                application_based=r["applies"],
                in_centre=r["applies"],
                conditions="；".join(entry.conditions) if entry else data.CONDITIONS,
                procedure="→".join(entry.process)
                if entry
                else (
                    data.PUBLIC_PROCEDURE if category is ServiceCategory.PUBLIC_SERVICE else data.PROCEDURE
                ),
                materials=materials,
                materials_before=len(materials) + _DROPPED[n % len(_DROPPED)],
                statutory_limit=limit.statutory,
                promised_limit=limit.promised,
                limit_unit=unit,
                online_depth=depth,
                tolerance=tolerant,
                commitment=r["name"] in commitment,
                parallel_group=data.PARALLEL.get(r["name"]),
                handbook_code=r["handbook"],
                delegated_item_code=r["delegated"],
                kinds=kinds,
                cases=cases,
                online_cases=round(cases * _ONLINE_SHARE[depth]),
            )
        )
    return entries


_CODES = {
    ServiceCategory.LICENSING: "XK",
    ServiceCategory.PAYMENT: "JF",
    ServiceCategory.CONFIRMATION: "QR",
    ServiceCategory.REWARD: "JL",
    ServiceCategory.ADJUDICATION: "CJ",
    ServiceCategory.OTHER_POWER: "QT",
    ServiceCategory.PUBLIC_SERVICE: "GG",
}


def published(entry: ServiceEntry) -> ServiceEntry:
    """The item as first published, before the reform: every material, the law's limit as promise."""
    extra = entry.materials_before - len(entry.materials)
    old = entry.materials + tuple(Material(f"其他材料{i}") for i in range(1, extra + 1))
    return replace(
        entry,
        materials=old,
        promised_limit=entry.statutory_limit,
        tolerance=False,
        commitment=False,
        online_depth=min(entry.online_depth, 2),
    )


async def seed_catalogue(registry: Registry) -> int:
    """Load the report's catalogue into a registry holding the seeded ledger and no catalogue."""
    entries = build_catalogue()
    async with registry.write() as session:
        held = await session.scalar(select(func.count()).select_from(ServiceItem))
        if held:
            raise SeedError(f"the catalogue already holds {held} items; seed only an empty catalogue")
        wanted = {e.delegated_item_code for e in entries} - {None}
        known = set(await session.scalars(select(DelegatedItem.code).where(DelegatedItem.code.in_(wanted))))
        if wanted - known:
            raise SeedError("the catalogue links the seeded ledger's items: seed the ledger first")
        first = [published(e) for e in entries]
        await write_entries(
            session, first, at=at(PUBLISHED_ON), actor=ACTOR, reason="事项目录发布", existing={}
        )
        await write_entries(
            session,
            entries,
            at=at(REFORMED_ON),
            actor=ACTOR,
            reason="优化营商环境改革：精简材料、压缩时限",
            existing={e.code: e for e in first},
        )
    return len(entries)
