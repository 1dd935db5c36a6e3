"""Where a cold matter's time goes: each department call's start and end, in-process.

    .venv/bin/python -m bench.waves                 # departments at 40 ms, 5 matters
    .venv/bin/python -m bench.waves --latency-ms 0 --matters 10

Builds the hub's app with every cache off (as ``make bench``'s cold scenario
runs it), the five department systems in their own processes with
``--latency-ms`` added to every answer, asks for the portal's one-matter screen
once per project (after one matter that builds the matter index), and prints,
for each matter, its total time and every department call's start and end
relative to the request's start. The gap before the first call is the hub's
work before execution reaches a department; the time between the injected
latency and each call's end is the department's own (its process, its JSON,
the socket); the time after the last call's end is the hub's work on the
answers (normalising, executing the fields, the access-log append, encoding).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

import orjson

from bench import procs, scenarios
from bench.profile import _drive, _token, in_process


async def _run(args: argparse.Namespace, departments: procs.Departments, folder: Any) -> None:

    import connectors.http as http
    from gateway.app import create_app
    from gateway.config import load_settings

    calls: list[tuple[str, float, float]] = []
    names = {int(url.rsplit(":", 1)[1]): name for name, url in departments.urls.items()}
    original = http.AiohttpTransport.exchange

    async def timed(self: Any, method: str, url: Any, *args: Any) -> Any:  # every department request
        started = time.perf_counter()
        try:
            return await original(self, method, url, *args)
        finally:
            calls.append((names.get(url.port or 0, "?"), started, time.perf_counter()))

    http.AiohttpTransport.exchange = timed  # type: ignore[method-assign]
    app = create_app(load_settings(procs.hub_config(departments, folder, cache_ttl_s=0)))
    codes = departments.project_codes(args.matters + 1)
    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {_token()}".encode()),
    ]

    def body(code: str) -> bytes:
        return orjson.dumps({"query": scenarios.MATTER, "variables": {"code": code}})

    before, after, totals = [], [], []
    async with app.router.lifespan_context(app):
        await _drive(app, [body(codes[-1])], headers, 1, 1)  # builds the matter index
        departments.faults(latency_ms=args.latency_ms)
        for code in codes[: args.matters]:
            calls.clear()
            start = time.perf_counter()
            await _drive(app, [body(code)], headers, 1, 1)
            total = (time.perf_counter() - start) * 1000
            print(f"matter {code}: {total:.1f} ms")
            calls[:] = [c for c in calls if c[1] >= start]  # not a background refresh's calls
            for name, began, ended in sorted(calls, key=lambda c: c[1]):
                began_ms, ended_ms = 1000 * (began - start), 1000 * (ended - start)
                print(f"  {name:<18} start {began_ms:6.1f} ms  end {ended_ms:6.1f} ms")
            if calls:
                totals.append(total)
                before.append(1000 * (min(c[1] for c in calls) - start))
                after.append(total - 1000 * (max(c[2] for c in calls) - start))
    if totals:
        print(
            f"median of {len(totals)}: {statistics.median(totals):.1f} ms per matter; before the first "
            f"department call {statistics.median(before):.1f} ms; after the last answer "
            f"{statistics.median(after):.1f} ms (departments at {args.latency_ms} ms)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.waves", description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=40)
    parser.add_argument("--matters", type=int, default=5)
    return in_process(_run, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
