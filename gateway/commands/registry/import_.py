"""``onematter registry import FILE [--catalogue]``: a delegation list or the catalogue, all or nothing."""

from __future__ import annotations

import argparse
import sys

from gateway.commands.registry._common import TerminalProgress, add_database_arguments, fail, run_async

SHOWN_ERRORS = 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", metavar="FILE", help="the list, .xlsx or .csv, with Chinese headers (事项编码, …)"
    )
    add_database_arguments(parser)
    parser.add_argument("--actor", default="import", help="who the history records as making the change")
    parser.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
    parser.add_argument(
        "--catalogue",
        action="store_true",
        help="the file is the service catalogue (事项目录), not a delegation list",
    )
    parser.add_argument(
        "--all-errors", action="store_true", help=f"list every error, not the first {SHOWN_ERRORS}"
    )


def run(args: argparse.Namespace) -> int:
    from registry.catalogue_sheet import import_catalogue
    from registry.spreadsheet import ImportRejected, import_items
    from registry.store import Registry

    async def main(url: str) -> int:
        progress = TerminalProgress()
        try:
            async with await Registry.open(url) as registry:
                if args.catalogue:
                    summary = await import_catalogue(
                        registry, args.file, actor=args.actor, dry_run=args.dry_run, progress=progress
                    )
                else:
                    result = await import_items(
                        registry, args.file, actor=args.actor, dry_run=args.dry_run, progress=progress
                    )
        except ImportRejected as exc:
            progress.close()
            shown = exc.errors if args.all_errors else exc.errors[:SHOWN_ERRORS]
            for error in shown:
                print(f"  {error}", file=sys.stderr)
            if len(shown) < len(exc.errors):
                print(
                    f"  … and {len(exc.errors) - len(shown)} more (--all-errors lists them)", file=sys.stderr
                )
            return fail(str(exc))
        progress.close()
        verb = "would import" if args.dry_run else "imported"
        if args.catalogue:
            print(
                f"{verb} the catalogue: {summary.added} new items, {summary.changed} changed, "
                f"{summary.unchanged} unchanged"
            )
            return 0
        print(
            f"{verb} {result.added} items from {result.rows} rows ({result.unchanged} already in the ledger)"
        )
        return 0

    return run_async(args, main)
