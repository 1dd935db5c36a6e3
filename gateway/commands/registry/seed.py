"""``onematter registry seed``: load the zone report's delegation ledger and service catalogue."""

from __future__ import annotations

import argparse

from gateway.commands.registry._common import add_database_arguments, run_async


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_database_arguments(parser)
    parser.add_argument(
        "--reference-only",
        action="store_true",
        help="load only the departments, city bureaus and business systems (before importing a list)",
    )


def run(args: argparse.Namespace) -> int:
    from registry.seed import seed
    from registry.store import Registry

    async def main(url: str) -> int:
        async with await Registry.open(url) as registry:
            summary = await seed(registry, reference_only=args.reference_only)
        print(
            f"seeded {summary.departments} departments, {summary.bureaus} city bureaus, "
            f"{summary.systems} business systems, {summary.items} items, {summary.accounts} accounts, "
            f"{summary.history} history entries, {summary.services} service catalogue items"
        )
        return 0

    return run_async(args, main)
