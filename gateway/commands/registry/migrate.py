"""``onematter registry migrate``: create or upgrade the registry schema."""

from __future__ import annotations

import argparse

from gateway.commands.registry._common import add_database_arguments, run_async


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_database_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from registry.store import Registry, head_revision

    async def main(url: str) -> int:
        registry = await Registry.open(url, migrate=False)
        try:
            before = await registry.current_revision()
            after = await registry.migrate()
        finally:
            await registry.close()
        state = "already at" if before == after else f"upgraded from {before or 'empty'} to"
        print(f"registry {state} revision {after} (head {head_revision()})")
        return 0

    return run_async(args, main)
