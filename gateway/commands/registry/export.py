"""``onematter registry export coverage|items|catalogue|indicators --format xlsx|csv [--output FILE]``.

Every export carries its generation time and the data's as-of date (the newest
change in the ledger's or the catalogue's history) above the table.
"""

from __future__ import annotations

import argparse
import io
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.commands.registry._common import add_database_arguments, fail, run_async

FORMATS = {".xlsx": "xlsx", ".csv": "csv"}
WHAT = {
    "coverage": "the auditors' coverage report",
    "items": "the whole ledger in the import format",
    "catalogue": "the service catalogue in its import format",
    "indicators": "the reform's figures, computed now, beside the report's",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "what", choices=tuple(WHAT), help="; ".join(f"{name}: {text}" for name, text in WHAT.items())
    )
    parser.add_argument("--format", choices=("xlsx", "csv"), help="default: from --output's suffix, else csv")
    parser.add_argument("--output", "-o", metavar="FILE", help="default: standard output")
    add_database_arguments(parser)


def _format(args: argparse.Namespace, output: Path | None) -> str | int:
    """The format to write, or an exit status after saying why the request is refused."""
    suffix = output.suffix.lower() if output else ""
    if suffix and suffix not in FORMATS:
        return fail(f"cannot write {suffix} files ({output}): use .xlsx or .csv", 2)
    if args.format and suffix and FORMATS[suffix] != args.format:
        return fail(f"--format {args.format} does not match the file {output}", 2)
    fmt: str = args.format or FORMATS.get(suffix, "csv")
    if output is not None and not output.parent.is_dir():
        return fail(f"the output folder {output.parent} does not exist", 2)
    if fmt == "xlsx" and output is None and sys.stdout.isatty():
        return fail("an xlsx workbook needs --output FILE (or redirect standard output)", 2)
    return fmt


def run(args: argparse.Namespace) -> int:
    from registry.catalogue_sheet import catalogue_rows
    from registry.coverage import delegation_coverage
    from registry.indicators import data_as_of, indicator_rows, reform_indicators
    from registry.spreadsheet import CST, coverage_csv_rows, coverage_tables, item_rows, write_csv, write_xlsx
    from registry.store import Registry

    output = Path(args.output) if args.output else None
    fmt = _format(args, output)
    if isinstance(fmt, int):
        return fmt

    async def main(url: str) -> int:
        async with await Registry.open(url) as registry:
            sheets: dict[str, list[list[Any]]]
            if args.what == "coverage":
                coverage = await delegation_coverage(registry)
                sheets = coverage_tables(coverage)
                rows = coverage_csv_rows(coverage)
            elif args.what == "items":
                rows = await item_rows(registry)
                sheets = {"赋权事项": rows}
            elif args.what == "catalogue":
                rows = await catalogue_rows(registry)
                sheets = {"政务服务事项目录": rows}
            else:
                rows = indicator_rows(await reform_indicators(registry))
                sheets = {"改革指标": rows}
            as_of = await data_as_of(registry)
        notes = [
            ("生成时间", datetime.now(UTC)),
            ("数据截至", as_of.astimezone(CST).date() if as_of else "（无数据）"),
        ]
        if fmt == "xlsx":
            buffer = io.BytesIO()
            write_xlsx(buffer, sheets, notes=notes)
            if output:
                output.write_bytes(buffer.getvalue())
            else:
                sys.stdout.buffer.write(buffer.getvalue())
        elif output:
            # A byte-order mark, so Excel opens the Chinese text as UTF-8.
            with output.open("w", encoding="utf-8-sig", newline="") as stream:
                write_csv(stream, rows, notes=notes)
        else:
            write_csv(sys.stdout, rows, notes=notes)
        if output:
            print(f"wrote {output}", file=sys.stderr)
        return 0

    return run_async(args, main)
