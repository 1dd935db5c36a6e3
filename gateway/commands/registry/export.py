"""``onematter registry export coverage|items --format xlsx|csv [--output FILE]``."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from gateway.commands.registry._common import add_database_arguments, fail, run_async


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "what",
        choices=("coverage", "items"),
        help="coverage: the auditors' report; items: the whole ledger in the import format",
    )
    parser.add_argument("--format", choices=("xlsx", "csv"), help="default: from --output's suffix, else csv")
    parser.add_argument("--output", "-o", metavar="FILE", help="default: standard output")
    add_database_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from registry.coverage import delegation_coverage
    from registry.spreadsheet import coverage_csv_rows, coverage_tables, item_rows, write_csv, write_xlsx
    from registry.store import Registry

    output = Path(args.output) if args.output else None
    fmt = args.format or ("xlsx" if output and output.suffix.lower() == ".xlsx" else "csv")
    if fmt == "xlsx" and output is None and sys.stdout.isatty():
        return fail("an xlsx workbook needs --output FILE (or redirect standard output)", 2)

    async def main(url: str) -> int:
        async with await Registry.open(url) as registry:
            if args.what == "coverage":
                coverage = await delegation_coverage(registry)
                sheets = coverage_tables(coverage)
                rows = coverage_csv_rows(coverage)
            else:
                rows = await item_rows(registry)
                sheets = {"赋权事项": rows}
        if fmt == "xlsx":
            buffer = io.BytesIO()
            write_xlsx(buffer, sheets)
            if output:
                output.write_bytes(buffer.getvalue())
            else:
                sys.stdout.buffer.write(buffer.getvalue())
        elif output:
            # A byte-order mark, so Excel opens the Chinese text as UTF-8.
            with output.open("w", encoding="utf-8-sig", newline="") as stream:
                write_csv(stream, rows)
        else:
            write_csv(sys.stdout, rows)
        if output:
            print(f"wrote {output}", file=sys.stderr)
        return 0

    return run_async(args, main)
