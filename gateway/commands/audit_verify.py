"""``onematter audit verify``: check the access log's hash chain.

Exit 0 when the chain is intact (prints the entry count and the head to keep
elsewhere as an anchor); exit 1 naming the first bad entry otherwise; exit 2 when
the database cannot be read.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML configuration file (its [registry] database_url)")
    parser.add_argument("--database-url", help="the registry database, overriding the configuration")
    parser.add_argument(
        "--anchor", help="ID:HASH of an entry recorded earlier; fails if it is gone or changed (cut-off tail)"
    )


def run(args: argparse.Namespace) -> int:
    import asyncio

    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from domain.errors import ConfigError, InvalidInput
    from gateway.config import load_settings
    from registry import access_log
    from registry.store import Registry

    anchor = None
    if args.anchor:
        raw_id, _, raw_hash = args.anchor.partition(":")
        if not raw_id.isdigit() or len(raw_hash) != 64:
            print("error: --anchor is ID:HASH (the head printed by an earlier verify)", file=sys.stderr)
            return 2
        anchor = (int(raw_id), raw_hash)
    try:
        url = args.database_url or load_settings(args.config).registry.database_url
        missing = _missing_sqlite_file(url)
        if missing is not None:
            # Opening it would create an empty database, and "intact: 0 entries" would
            # hide that the registry is somewhere else.
            print(f"error: no registry database at {missing}", file=sys.stderr)
            return 2
        registry = await Registry.open(url, migrate=False)
    except (ConfigError, InvalidInput) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        async with registry.sessionmaker() as session:
            bad = await access_log.verify(session, anchor=anchor)
            count, head_id, head_hash = await access_log.head(session)
    except SQLAlchemyError as exc:
        print(
            f"error: cannot read the access log ({type(exc).__name__}); "
            "is the registry migrated? (onematter registry migrate)",
            file=sys.stderr,
        )
        return 2
    finally:
        await registry.close()
    if bad is not None:
        print(f"access log BROKEN at entry {bad.id}: {bad.reason}")
        return 1
    print(f"access log intact: {count} entries" + (f"; head {head_id}:{head_hash}" if head_id else ""))
    return 0


def _missing_sqlite_file(url: str) -> str | None:
    """The path of a file-backed SQLite URL whose file does not exist, else None."""
    from pathlib import Path

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return None  # Registry.open reports it
    database = parsed.database or ""
    if (
        not parsed.get_backend_name() == "sqlite"
        or database in ("", ":memory:")
        or database.startswith("file:")
    ):
        return None
    return None if Path(database).exists() else database
