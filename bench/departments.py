"""The five simulated department systems in their own process, for the benchmark.

``python -m bench.departments --projects 200`` builds the fixture world, starts
every department (or those named by ``--only``) on a loopback port (uvloop), prints one JSON line
``{"urls": {...}, "as_of": "YYYY-MM-DD"}`` and runs until its standard input
closes. Latency and faults are set at run time through each system's
``PUT /_admin/faults``; calls are counted by ``GET /_admin/stats``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import warnings


async def serve(seed: int, projects: int, only: tuple[str, ...] | None) -> None:
    from fixtures.generate import build_world
    from fixtures.serve import start_departments
    from fixtures.world import DEPARTMENTS

    world = build_world(seed=seed, projects=projects)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        running = await start_departments(world, departments=only or DEPARTMENTS)
    try:
        print(json.dumps({"urls": running.urls, "as_of": world.as_of.isoformat()}), flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    finally:
        await running.stop()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.departments")
    parser.add_argument("--seed", type=int, default=2023)
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--only", action="append", help="start only this department (repeatable)")
    args = parser.parse_args()
    only = tuple(args.only) if args.only else None
    try:
        import uvloop

        uvloop.run(serve(args.seed, args.projects, only))
    except ImportError:
        asyncio.run(serve(args.seed, args.projects, only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
