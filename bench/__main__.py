"""``python -m bench`` (``make bench``) and ``python -m bench --peer`` (``make bench-peer``).

Starts the five simulated department systems in their own process, then for
each scenario the hub as ``onematter serve`` with a generated configuration,
drives it from a separate load-generator process over loopback, prints a
table and writes the figures as JSON under bench/results/. The ``peer`` scenario
(``--peer`` runs only it) drives the hub and Hive Gateway (bench/peer) alternately,
A B A B: cold with neither side caching results, warm with both caching whole
results for the same time; it prints the ratios, and the JSON records the peer's
configuration.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from bench import procs, scenarios

RESULTS = procs.ROOT / "bench" / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--peer", action="store_true", help="only the hub against Hive Gateway, A B A B (--only peer)"
    )
    parser.add_argument(
        "--only", action="append", choices=[*scenarios.SUITE, "transport"], help="run only these scenarios"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up before each run")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients for throughput runs")
    parser.add_argument("--workers", type=int, default=1, help="hub workers (uvicorn processes)")
    parser.add_argument("--repeats", type=int, default=2, help="A B rounds with --peer (default 2)")
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 60 or not 1 <= args.clients <= 256 or not 1 <= args.repeats <= 5:
        parser.error("--duration must be in (0, 60], --clients 1-256, --repeats 1-5")
    wanted = ["peer"] if args.peer else (args.only or list(scenarios.SUITE))
    if "peer" in wanted and not procs.Peer.installed():
        print(
            "warning: the peer is not installed, so the figures against it are not measured: "
            "run `npm ci --prefix bench/peer` (make bench-peer does)",
            file=sys.stderr,
        )
        if args.peer:
            return 2

    settings = scenarios.Settings(
        duration_s=args.duration,
        warmup_s=args.warmup,
        clients=args.clients,
        workers=args.workers,
        repeats=args.repeats,
    )
    started = time.monotonic()
    report: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": scenarios.machine(),
        "settings": asdict(settings),
        "git": _git_revision(),
    }
    rows: list[scenarios.Row] = []
    if "transport" in wanted:
        rows += _transport()
        wanted = [w for w in wanted if w != "transport"]
    with scenarios.Bench.open(settings) as bench:
        for name in wanted:
            rows += _run(scenarios.SUITE[name], bench)
        rows += scenarios.memory(bench)
        report["peer"] = bench.peer_config  # what the peer ran with, per scenario
    report["finished_load_average"] = scenarios.machine()["load_average"]
    report["seconds"] = round(time.monotonic() - started, 1)
    report["rows"] = [asdict(r) for r in rows]
    print_table(rows, report)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{'peer' if args.peer else 'bench'}-{stamp}.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwritten: {path.relative_to(procs.ROOT)}")
    return 0


def _run(scenario: Any, bench: scenarios.Bench) -> list[scenarios.Row]:
    print(f"... {scenario.__name__}", file=sys.stderr, flush=True)
    try:
        rows: list[scenarios.Row] = scenario(bench)
        return rows
    except Exception as exc:  # one broken scenario must not hide the others' figures
        return [scenarios.Row(scenario.__name__, {}, note=f"failed: {type(exc).__name__}: {exc}"[:300])]


def _transport() -> list[scenarios.Row]:
    from bench import transport

    departments = procs.Departments.start(projects=50)
    try:
        code = departments.project_codes(1)[0]
        results = transport.run(f"{departments.urls['fire']}/api/v1/projects/{code}")
    finally:
        departments.stop()
    return [
        scenarios.Row(f"HTTP client: {name} (32 concurrent GETs)", figures)
        for name, figures in results.items()
    ]


def print_table(rows: list[scenarios.Row], report: dict[str, Any]) -> None:
    m = report["machine"]
    print(
        f"\nmachine: {m['nproc']} cores, {m['cpu']}, Python {m['python']}, node {m['node'] or '-'}; "
        f"load average {m['load_average']} -> {report['finished_load_average']}"
    )
    print(
        "(a shared machine: ratios between runs of the same round hold, absolute times move; "
        "CPU per request moves least)"
    )
    print(f"{'scenario':<52} {'figures':<78} {'target':<34} met")
    print("-" * 170)
    for row in rows:
        figures = _short(row.figures)
        met = "-" if row.met is None else ("yes" if row.met else "NO")
        print(f"{row.scenario:<52} {figures:<78} {row.target:<34} {met}")
        if row.note:
            print(f"{'':<52} {row.note}")


def _short(figures: dict[str, Any]) -> str:
    if "lines" in figures:
        return " | ".join(figures["lines"]) or "(no output)"
    names = {
        "rps": "req/s",
        "p50_ms": "p50",
        "p95_ms": "p95",
        "p99_ms": "p99",
        "server_cpu_ms_per_request": "cpu ms/req",
        "cpu_ms_per_request": "cpu ms/req",
        "requests_per_s": "req/s",
    }
    parts = []
    for key, value in figures.items():
        if key in ("runs", "requests", "index_build_calls"):
            continue
        label = names.get(key, key)
        if isinstance(value, dict):
            value = ",".join(f"{k[:4]}={v}" for k, v in value.items())
        parts.append(f"{label}={value}")
    return " ".join(parts)


def _git_revision() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


if __name__ == "__main__":
    sys.exit(main())
