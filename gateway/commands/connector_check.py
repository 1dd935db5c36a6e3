"""``onematter connector check FILE``: validate a mapping file, and optionally call the system once.

Every mistake is one line naming the file, the line and the key (exit 2); a
failed call is one line naming the department's failure (exit 1). Never a
traceback. With ``--base-url`` and ``--project`` the mapped connector calls the
system once, through the same pipeline as the hub, and prints what it mapped.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from datetime import date
from enum import Enum
from typing import Any

PROG = "onematter connector check"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="the mapping file (TOML)")
    parser.add_argument("--base-url", metavar="URL", help="call the department system at URL once")
    parser.add_argument("--project", metavar="CODE", help="with --base-url: the project code to look up")
    parser.add_argument(
        "--credential",
        action="append",
        default=[],
        metavar="NAME=ENV",
        help="with --base-url: read credential NAME from environment variable ENV (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    from connectors.mapped import mapped_connector
    from connectors.mapping_format import MappingError, load_mapping

    try:
        mapping = load_mapping(args.file)
    except MappingError as exc:
        return _fail(str(exc), 2)
    print(f"{args.file}: ok: department {mapping.department.name} ({mapping.department.title})")
    print(f"  auth {mapping.auth.style}; lookup {mapping.lookup.method} {mapping.lookup.path}")
    if mapping.batch is not None:
        batch = mapping.batch
        paging = batch.paging.style if batch.paging else "none"
        print(f"  batch {batch.method} {batch.path}, {batch.max_size} per call, paging {paging}")
    for slot, record_map in mapping.records.items():
        print(f"  {slot}: {', '.join(record_map.fields)}")
    if not args.base_url:
        return 0
    if not args.project:
        return _fail("--base-url needs --project, the project code to look up", 2)
    credentials: dict[str, str] = {}
    for pair in args.credential:
        name, sep, env = pair.partition("=")
        if not sep or not name or not env:
            return _fail(f"--credential {pair!r} is not NAME=ENV", 2)
        credentials[name] = env
    try:
        view = asyncio.run(_call_once(mapped_connector(mapping), args.base_url, args.project, credentials))
    except Exception as exc:  # one line, never a traceback: the department's failure or ours
        from domain.errors import HubError

        reason = str(exc) if isinstance(exc, HubError) else f"unexpected error ({type(exc).__name__})"
        return _fail(reason, 1)
    if view is None:
        print(f"{args.project}: not known to {mapping.department.name}")
        return 0
    print(json.dumps(_plain(view), ensure_ascii=False, indent=2))
    return 0


async def _call_once(factory: Any, base_url: str, project: str, credentials: dict[str, str]) -> Any:
    import httpx
    from aiocache import SimpleMemoryCache

    from connectors.settings import ConnectorSettings, RetrySettings

    settings = ConnectorSettings(base_url=base_url, retry=RetrySettings(attempts=1), credentials=credentials)
    async with httpx.AsyncClient(base_url=base_url, timeout=settings.deadline_s) as client:
        connector = factory(settings=settings, client=client, cache=SimpleMemoryCache())
        try:
            return await connector.fetch_project(project)
        finally:
            await connector.aclose()


def _plain(value: Any) -> Any:
    """A record as JSON: dates as ISO text, enums by value, the source left out."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name != "source"
        }
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    return value


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return code
