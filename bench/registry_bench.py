"""Registry benchmark: the coverage audit at 346 and 100,000 items, and a 100,000-row import.

Not a test: it prints figures for docs/performance.md. Run from the repository root:

    .venv/bin/python bench/registry_bench.py                      # SQLite only
    ONEMATTER_TEST_DATABASE_URL=postgresql://127.0.0.1:5432/test \\
        .venv/bin/python bench/registry_bench.py                  # SQLite and PostgreSQL

Each ledger is built with full histories (seven status rows per item, as the
seed writes them) and accounts for every department and system it uses; the
coverage figure is the median of repeated runs after one warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from registry import seed_data
from registry.coverage import delegation_coverage
from registry.models import LIFECYCLE, Account, DelegatedItem, HistoryEntry, Origin, Status, table_of
from registry.seed import DELEGATED_ON, _row, at, insert_rows, seed, seed_reference
from registry.spreadsheet import import_items, write_xlsx
from registry.store import Registry

CATEGORIES = ("行政许可", "行政确认", "行政处罚", "其他")


def synthetic_ledger(n: int) -> tuple[list[dict], list[dict], list[dict]]:
    """``n`` items over the seed's departments and systems, all taken over, full histories."""
    systems = [(code, bureau) for code, _, bureau in seed_data.SYSTEMS]
    departments = [code for code, _ in seed_data.DEPARTMENTS]
    items, history, pairs = [], [], set()
    when = at(DELEGATED_ON)
    for i in range(n):
        system, bureau = systems[i % len(systems)]
        department = departments[(i // len(systems)) % len(departments)]
        code = f"BENCH-{i:06d}"
        cancelled = i % 29 == 0
        items.append(
            {
                "code": code,
                "name": f"基准事项{i}",
                "category": CATEGORIES[i % 4],
                "mode": "DIRECT",
                "origin": Origin.ADDED if i % 31 == 0 else Origin.ORIGINAL,
                "status": Status.CANCELLED if cancelled else Status.TAKEN_OVER,
                "source_bureau_code": bureau,
                "department_code": department,
                "system_code": system,
                "delegated_on": DELEGATED_ON,
                "cancelled_on": DELEGATED_ON if cancelled else None,
                "cancel_reason": "基准" if cancelled else None,
                "updated_at": when,
            }
        )
        previous = None
        for status in LIFECYCLE:
            history.append(_row("item", code, "status", previous, status, when))
            previous = status
        if cancelled:
            history.append(_row("item", code, "status", previous, Status.CANCELLED, when, "基准"))
        pairs.add((department, system))
    accounts = [
        {
            "system_code": s,
            "department_code": d,
            "holder": "基准",
            "role": "经办人",
            "requested_on": DELEGATED_ON,
            "issued_on": DELEGATED_ON,
            "revoked_on": None,
            "revoke_reason": None,
        }
        for d, s in sorted(pairs)
    ]
    return items, accounts, history


def delegation_list(path: Path, n: int) -> Path:
    """A published-style list of ``n`` rows (Chinese headers, bureau and system names)."""
    bureaus = {code: name for code, name, _ in seed_data.BUREAUS}
    departments = [name for _, name in seed_data.DEPARTMENTS]
    header = [
        "序号",
        "事项编码",
        "事项名称",
        "事项类别",
        "赋权方式",
        "下放部门",
        "业务系统",
        "实施主体/承接部门",
    ]
    rows = [header]
    for i in range(n):
        _, system_name, bureau = seed_data.SYSTEMS[i % len(seed_data.SYSTEMS)]
        rows.append(
            [
                str(i + 1),
                f"IMP-{i:06d}",
                f"导入事项{i}",
                CATEGORIES[i % 4],
                "直接赋权",
                bureaus[bureau],
                system_name,
                departments[i % 12],
            ]
        )
    if path.suffix == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as stream:
            csv.writer(stream).writerows(rows)
    else:
        write_xlsx(path, {"清单": rows})
    return path


async def time_import(registry: Registry, path: Path) -> tuple[float, int]:
    await seed(registry, reference_only=True)
    start = time.perf_counter()
    result = await import_items(registry, path)
    return time.perf_counter() - start, result.added


async def _load(registry: Registry, n: int) -> None:
    items, accounts, history = synthetic_ledger(n)
    async with registry.write() as session:
        await seed_reference(session)
        await insert_rows(session, table_of(HistoryEntry), history)
        await insert_rows(session, table_of(DelegatedItem), items)
        await insert_rows(session, table_of(Account), accounts)
    if registry.dialect == "postgresql":
        # What autovacuum does soon after a bulk load: statistics and the visibility map
        # (which lets the coverage scan read the covering index alone).
        async with registry.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.exec_driver_sql("VACUUM ANALYZE delegated_item, account, history")


async def time_coverage(registry: Registry, runs: int) -> tuple[float, float]:
    await delegation_coverage(registry)  # warm-up: caches, prepared statements
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await delegation_coverage(registry)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), max(samples)


async def bench_backend(name: str, open_registry, runs: int, import_files: list[Path]) -> None:  # type: ignore[no-untyped-def]
    async with await open_registry() as registry:
        await seed(registry)
        median, worst = await time_coverage(registry, runs)
        print(f"{name:10} coverage, seeded ledger (358 items)   median {median:7.1f} ms  max {worst:7.1f} ms")
    async with await open_registry() as registry:
        start = time.perf_counter()
        await _load(registry, 100_000)
        load_s = time.perf_counter() - start
        median, worst = await time_coverage(registry, runs)
        print(
            f"{name:10} coverage, 100,000 items             median {median:7.1f} ms  max {worst:7.1f} ms"
            f"  (bulk load {load_s:.1f} s)"
        )
    for path in import_files:
        async with await open_registry() as registry:
            seconds, rows = await time_import(registry, path)
        print(f"{name:10} import {rows:,} rows ({path.suffix[1:]}){'':17}{seconds:7.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed coverage runs per ledger")
    parser.add_argument("--import-rows", type=int, default=100_000, help="rows to import (0: skip)")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="run one backend only")
    args = parser.parse_args()
    # Other work on the machine shows up in every figure: say how busy it was.
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )
    with tempfile.TemporaryDirectory() as folder:
        files = []
        if args.import_rows:
            files = [delegation_list(Path(folder) / f"list{s}", args.import_rows) for s in (".csv", ".xlsx")]
        counter = iter(range(1_000_000))

        async def sqlite() -> Registry:
            return await Registry.open(f"sqlite:///{folder}/bench-{next(counter)}.db")

        if args.only != "postgresql":
            asyncio.run(bench_backend("SQLite", sqlite, args.runs, files))
        url = os.environ.get("ONEMATTER_TEST_DATABASE_URL")
        if args.only == "sqlite":
            pass
        elif url:
            asyncio.run(_postgres(url, args.runs, files))
        else:
            print("PostgreSQL: skipped (ONEMATTER_TEST_DATABASE_URL is not set)")
    return 0


async def _postgres(url: str, runs: int, files: list[Path]) -> None:
    prefix = f"registry_bench_{uuid.uuid4().hex[:8]}_"
    schemas: list[str] = []

    async def postgres() -> Registry:
        schemas.append(f"{prefix}{len(schemas)}")
        return await Registry.open(url, schema=schemas[-1])

    try:
        await bench_backend("PostgreSQL", postgres, runs, files)
    finally:
        async with await Registry.open(url, migrate=False) as registry:
            async with registry.engine.begin() as connection:
                for schema in schemas:
                    await connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    sys.exit(main())
