"""The benchmark scenarios and the targets each one checks.

Every scenario starts what it needs (the hub as ``onematter serve`` with a
generated configuration, the peer), drives it with ``bench.load`` in its own
process, and returns rows for the table: the figures, the target and whether
it was met. Loads are bounded in time and in requests and go to 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import procs

# All five departments: what a portal's one-matter screen asks for.
MATTER = """query Matter($code: String!) { matter(projectCode: $code) {
  projectCode name stage
  items { department kind name status fileNumber certificateNumber decidedOn overdue }
  civilAirDefence { requirement status } firePath { path } utilities { utility status }
  realEstate { type status } phasedPermit { mode phases { phase eligible } }
  sources { department status } } }"""

# The same facts as the peer's query below: what Hive Gateway can reach over the OpenAPI
# documents of the three JSON systems (planning, fire, utilities).
MATTER_JSON = """query Matter($code: String!) { matter(projectCode: $code) {
  projectCode name parcelCode site
  items { department name status fileNumber certificateNumber submittedOn decidedOn }
  firePath { path } utilities { utility ticketNumber status } } }"""

PEER_MATTER = """query Matter($code: String!) {
  getProject(projectCode: $code) { ... on planning_Project {
    projectCode projectName parcelCode site
    files { itemName stepName result fileNo licenceNo receivedDate concludedDate } } }
  getFireProject(project_code: $code) { ... on fire_ProjectAnswer {
    data { project_code review_path
      cases { biz_name status status_desc case_no doc_no apply_date finish_date } } } }
  getProjectApplication(ProjectCode: $code) { ... on utilities_Application {
    ApplicationId Status CertificateNumber SubmittedAt CompletedAt
    Tickets { Utility TicketNumber Status } } } }"""

MATTERS_PAGE = """query Page { matters(first: 50) { totalCount edges { node {
  projectCode stage items { department status } firePath { path } utilities { utility status } } } } }"""

DEADLINE_S = 2.0  # each connector's deadline in these runs (the default)
# The whole-result cache's time to live on both sides of the warm comparison: the hub's
# default ``[ops] response_cache_ttl_s`` and the peer's ``responseCaching.ttl``.
RESPONSE_CACHE_TTL_S = 2.0

# The targets, printed beside each figure.
COLD_SINGLE_P50_MS = 45.0  # the slowest department (40 ms) + 5 ms
HUB_SHARE_P50_MS = 5.0  # the same 5 ms over the departments alone as measured beside the hub
WARM_ONE_CLIENT_P50_MS = 1.5
WARM_RATIO = 1.0  # hub / cached peer, 50 clients
COLD_RATIO = 1.0  # hub / uncached peer, 50 clients
COLD_P95_RATIO = 1.1
RSS_MB = 300


@dataclass
class Row:
    scenario: str
    figures: dict[str, Any]
    target: str = ""
    met: bool | None = None
    note: str = ""


@dataclass
class Settings:
    duration_s: float = 10.0
    warmup_s: float = 2.0
    clients: int = 50
    workers: int = 1
    repeats: int = 2  # A B A B


@dataclass
class Bench:
    settings: Settings
    departments: procs.Departments
    folder: Path
    token: str
    codes: list[str]
    rss_mb: dict[str, float] = field(default_factory=dict)
    peer_config: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    @contextlib.contextmanager
    def open(cls, settings: Settings) -> Iterator[Bench]:
        from domain.principal import Role
        from gateway.auth import authenticator_for
        from gateway.config import Settings as HubSettings

        folder = procs.workdir()
        departments = procs.Departments.start(projects=200)
        try:
            token = authenticator_for(HubSettings()).mint(
                subject="bench", role=Role.WINDOW_STAFF, ttl_s=6 * 3600
            )
            yield cls(settings, departments, folder, token, departments.project_codes(200))
        finally:
            departments.stop()
            procs.remove(folder)

    # -- helpers -------------------------------------------------------------------------

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def bodies(self, query: str, codes: list[str]) -> list[dict[str, Any]]:
        return [{"query": query, "variables": {"code": c}} for c in codes]

    @contextlib.contextmanager
    def hub(
        self,
        name: str,
        *,
        only: tuple[str, ...] | None = None,
        cache_ttl_s: float = 30.0,
        response_cache_ttl_s: float | None = None,
        workers: int | None = None,
    ) -> Iterator[procs.Hub]:
        folder = self.folder / name
        folder.mkdir()
        workers = workers or self.settings.workers
        config = procs.hub_config(
            self.departments,
            folder,
            only=only,
            cache_ttl_s=cache_ttl_s,
            workers=workers,
            response_cache_ttl_s=response_cache_ttl_s,
        )
        hub = procs.Hub.start(config, workers=workers)
        try:
            yield hub
            self.rss_mb[name] = max(procs.rss_mb(pid) for pid in hub.workers())
        finally:
            hub.stop()

    def drive(
        self, target: Any, query: str, codes: list[str], *, clients: int, headers: bool = True, **kw: Any
    ) -> dict[str, Any]:
        """Load ``target`` (a Hub or Peer): a warm-up run, then the counted run with its server CPU."""
        options = {"duration_s": self.settings.duration_s, "max_requests": 100_000, **kw}
        warmup_s = options.pop("warmup_s", self.settings.warmup_s)
        url = f"{target.url}/graphql"
        bodies = self.bodies(query, codes)
        sent_headers = self.headers if headers else {}
        if warmup_s:
            procs.load(url, bodies, headers=sent_headers, concurrency=clients, duration_s=warmup_s)
        pids = target.workers()
        cpu = sum(procs.cpu_seconds(p) for p in pids)
        result = procs.load(url, bodies, headers=sent_headers, concurrency=clients, **options)
        spent = sum(procs.cpu_seconds(p) for p in pids) - cpu
        requests = result["requests"]
        result["server_cpu_ms_per_request"] = round(spent * 1000 / requests, 2) if requests else None
        return result


# -- the suite ---------------------------------------------------------------------------


def cold_single(bench: Bench) -> list[Row]:
    """One matter, cache cold, every department 40 ms: one client, a new project each time.

    Beside the hub, in the same process and run, the departments alone (bench/fanout.py): the
    requests the hub's connectors send for that matter, all five at once from a bare client,
    per project hub then departments (A B A B). The hub's p50 minus theirs is its own share.
    """
    from bench import fanout

    latency = 40
    bench.departments.faults(latency_ms=latency)
    try:
        # No department cache: building the matter index (on the first request) reads every
        # project, and with a cache those reads would answer the "cold" matters below.
        with bench.hub("cold", cache_ttl_s=0) as hub:
            codes = bench.codes
            measured = codes[: min(150, len(codes) - 1)]  # each once: every answer is a cache miss
            result = fanout.measure(
                hub.url,
                bench.token,
                MATTER,
                bench.departments.urls,
                fanout.demo_credentials(),
                measured,
                warmup_codes=codes[-1:],
            )
    finally:
        bench.departments.reset()
    r, alone, share = result["hub"], result["departments"], result["share"]
    departments = len(bench.departments.urls)
    return [
        Row(
            "one matter, cache cold, departments 40 ms (1 client)",
            {
                "p50_ms": r["p50_ms"],
                "p99_ms": r["p99_ms"],
                "sum_of_departments_ms": latency * departments,
                "max_of_departments_ms": latency,
                "requests": r["requests"],
                "complete": r["complete"],
            },
            f"p50 <= {COLD_SINGLE_P50_MS:.0f} ms",
            _lt(r["p50_ms"], COLD_SINGLE_P50_MS, inclusive=True),
            note="alternating with the row below, per project (A B A B)",
        ),
        Row(
            "departments alone, all five at once (1 client)",
            {
                "p50_ms": alone["p50_ms"],
                "p99_ms": alone["p99_ms"],
                "requests": alone["requests"],
                "complete": alone["complete"],
                "client_cpu_ms_per_fanout": alone["client_cpu_ms_per_fanout"],
                "by_department_p50_ms": alone["by_department_p50_ms"],  # each one's own answer
            },
        ),
        Row(
            "the hub's own share, p50 (hub minus departments alone)",
            {"p50_ms": share["p50_ms"], "paired_median_ms": share["paired_median_ms"]},
            f"hub over the departments alone <= {HUB_SHARE_P50_MS:.0f} ms",
            _lt(share["p50_ms"], HUB_SHARE_P50_MS, inclusive=True),
        ),
    ]


def cache_off(bench: Bench) -> list[Row]:
    """One matter, cache off, no added latency: throughput at 50 clients (the cold path's cost)."""
    with bench.hub("cache-off", cache_ttl_s=0) as hub:
        r = bench.drive(hub, MATTER, bench.codes, clients=bench.settings.clients)
    return [Row(f"one matter, cache off ({bench.settings.clients} clients)", _figures(r))]


def warm(bench: Bench) -> list[Row]:
    """One matter, cache warm: p50 with one client, throughput at 50 clients."""
    codes = bench.codes[:20]
    with bench.hub("warm", cache_ttl_s=3600) as hub:
        bench.drive(hub, MATTER, codes, clients=1, max_requests=len(codes), warmup_s=0)  # fill the cache
        one = bench.drive(hub, MATTER, codes, clients=1)
        many = bench.drive(hub, MATTER, codes, clients=bench.settings.clients)
    return [
        Row(
            "one matter, cache warm (1 client)",
            _figures(one),
            f"p50 <= {WARM_ONE_CLIENT_P50_MS} ms",
            _lt(one["p50_ms"], WARM_ONE_CLIENT_P50_MS, inclusive=True),
        ),
        Row(f"one matter, cache warm ({bench.settings.clients} clients)", _figures(many)),
    ]


def matters_page(bench: Bench) -> list[Row]:
    """``matters(first: 50)``: latency, and upstream calls per department for one page."""
    with bench.hub("matters", cache_ttl_s=0) as hub:
        bench.departments.reset()
        bench.drive(hub, MATTERS_PAGE, [""], clients=1, max_requests=1, warmup_s=0)  # builds the index
        index_calls = bench.departments.lookups()
        bench.departments.reset()
        bench.drive(hub, MATTERS_PAGE, [""], clients=1, max_requests=1, warmup_s=0)
        calls = bench.departments.lookups()
        r = bench.drive(hub, MATTERS_PAGE, [""], clients=1, max_requests=200)
    worst = max(calls.values())
    return [
        Row(
            "matters(first: 50) (1 client)",
            {**_figures(r), "upstream_calls_per_page": calls, "index_build_calls": index_calls},
            "1 upstream call per department",
            worst <= 1,
        )
    ]


def one_failing(bench: Bench) -> list[Row]:
    """Fire fails 30% of calls (503): every answer 200, p99 within its deadline + 10%."""
    bench.departments.fault("fire", error_rate=0.3, error_status=503, seed=7)
    try:
        with bench.hub("failing", cache_ttl_s=0) as hub:
            r = bench.drive(hub, MATTER, bench.codes, clients=bench.settings.clients)
    finally:
        bench.departments.reset()
    statuses = r["statuses"]
    all_200 = set(statuses) == {"200"} and r["transport_errors"] == 0
    limit_ms = DEADLINE_S * 1.1 * 1000
    return [
        Row(
            f"fire failing 30% ({bench.settings.clients} clients)",
            {**_figures(r), "statuses": statuses, "complete": r["complete"]},
            f"all HTTP 200, p99 <= {limit_ms:.0f} ms",
            all_200 and _lt(r["p99_ms"], limit_ms, inclusive=True),
        )
    ]


def memory(bench: Bench) -> list[Row]:
    """The hub's RSS per worker after each run's load (the peer's beside it, no target)."""
    hub = {k: round(v, 1) for k, v in bench.rss_mb.items() if not k.startswith("peer-")}
    rows = [
        Row(
            "hub RSS per worker after load (MB)",
            hub,
            f"< {RSS_MB} MB",
            bool(hub) and max(hub.values()) < RSS_MB,
        )
    ]
    peers = {k: round(v, 1) for k, v in bench.rss_mb.items() if k.startswith("peer-")}
    if peers:
        rows.append(Row("peer RSS after load (MB)", peers))
    return rows


def registry(bench: Bench) -> list[Row]:
    """The registry coverage at 346 and 100,000 items (bench/registry_bench.py, owned by the registry)."""
    done = subprocess.run(
        [
            sys.executable,
            str(procs.ROOT / "bench" / "registry_bench.py"),
            "--runs",
            "5",
            "--import-rows",
            "0",
        ],
        cwd=procs.ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ},
    )
    lines = [line for line in done.stdout.splitlines() if "coverage" in line]
    if done.returncode != 0:
        lines.append(f"registry_bench failed: {done.stderr.strip().splitlines()[-1:]}")
    return [Row("registry coverage (346 and 100,000 items)", {"lines": lines})]


# -- the peer, side by side ------------------------------------------------------------------


def peer(bench: Bench) -> list[Row]:
    """Hub and Hive Gateway alternating, A B A B: cold (both without a result cache) and warm
    (both with their whole-result cache, the same TTL); three JSON departments each."""
    if not procs.Peer.installed():
        note = "not run: the peer is not installed (`make bench-peer` installs it)"
        return [
            Row("warm path, hub / cached peer", {}, f"throughput >= {WARM_RATIO}x", None, note),
            Row("cold path, hub / uncached peer", {}, f"throughput >= {COLD_RATIO}x", None, note),
        ]
    clients = bench.settings.clients
    codes = bench.codes
    warm_codes = codes[:20]
    ttl = RESPONSE_CACHE_TTL_S
    with (
        bench.hub("hub-vs-peer-off", only=procs.JSON_DEPARTMENTS, cache_ttl_s=0) as hub_off,
        bench.hub(
            "hub-vs-peer-warm", only=procs.JSON_DEPARTMENTS, cache_ttl_s=3600, response_cache_ttl_s=ttl
        ) as hub_warm,
        _peer(bench, "peer-cold", 0.0) as hive_cold,
        _peer(bench, "peer-warm", ttl) as hive_warm,
    ):
        bench.drive(hub_warm, MATTER_JSON, warm_codes, clients=1, max_requests=len(warm_codes), warmup_s=0)
        peers = (hive_cold, hive_warm)
        runs: dict[str, list[dict[str, Any]]] = {}
        logged: list[tuple[int, int]] = []  # (answers counted, access-log entries written) per warm hub run
        plan = [
            ("cold hub", hub_off, MATTER_JSON, codes, clients),
            ("cold peer", hive_cold, PEER_MATTER, codes, clients),
            ("warm hub", hub_warm, MATTER_JSON, warm_codes, clients),
            ("warm peer", hive_warm, PEER_MATTER, warm_codes, clients),
            ("warm hub 1", hub_warm, MATTER_JSON, warm_codes, 1),
            ("warm peer 1", hive_warm, PEER_MATTER, warm_codes, 1),
        ]
        for _ in range(bench.settings.repeats):
            for i in range(0, len(plan), 2):  # A B, then the next pair; the whole list again: A B A B
                for label, target, query, chosen, n in plan[i : i + 2]:
                    before = hub_warm.access_log_entries() if target is hub_warm else 0
                    result = bench.drive(target, query, chosen, clients=n, headers=target not in peers)
                    if target is hub_warm:
                        logged.append((result["requests"], hub_warm.access_log_entries() - before))
                    runs.setdefault(label, []).append(result)
    med = {label: _median(results) for label, results in runs.items()}
    cold_ratio = _ratio(med["cold hub"]["rps"], med["cold peer"]["rps"])
    cold_p95 = _ratio(med["cold hub"]["p95_ms"], med["cold peer"]["p95_ms"])
    warm_ratio = _ratio(med["warm hub"]["rps"], med["warm peer"]["rps"])
    # Each answer reads one matter: one access-log entry each, cache hits included (the
    # counted run's entries against its answers; warm-up answers are logged too, so >=).
    every_hit_logged = all(entries >= answers for answers, entries in logged)
    hub_cpu = med["warm hub"]["server_cpu_ms_per_request"]
    return [
        Row(f"cold path, hub ({clients} clients, cache off)", _figures(med["cold hub"])),
        Row(f"cold path, peer ({clients} clients, no response cache)", _figures(med["cold peer"])),
        Row(
            "cold path, hub / uncached peer",
            {"throughput_ratio": cold_ratio, "p95_ratio": cold_p95},
            f"throughput >= {COLD_RATIO}x, p95 <= {COLD_P95_RATIO}x",
            cold_ratio is not None
            and cold_p95 is not None
            and cold_ratio >= COLD_RATIO
            and cold_p95 <= COLD_P95_RATIO,
        ),
        Row(f"warm path, hub ({clients} clients, result cache {ttl:g} s)", _figures(med["warm hub"])),
        Row(f"warm path, peer ({clients} clients, responseCaching {ttl:g} s)", _figures(med["warm peer"])),
        Row(
            "warm path, hub / cached peer",
            {"throughput_ratio": warm_ratio, "every_hit_logged": every_hit_logged},
            f"throughput >= {WARM_RATIO}x, every hit logged",
            warm_ratio is not None and warm_ratio >= WARM_RATIO and every_hit_logged,
            note=f"access log: {logged} (answers counted, entries written) per run; hub {hub_cpu} ms CPU/req",
        ),
        Row(
            "warm path, hub (1 client)",
            _figures(med["warm hub 1"]),
            f"p50 <= {WARM_ONE_CLIENT_P50_MS} ms",
            _lt(med["warm hub 1"]["p50_ms"], WARM_ONE_CLIENT_P50_MS, inclusive=True),
        ),
        Row("warm path, cached peer (1 client)", _figures(med["warm peer 1"])),
    ]


def workers(bench: Bench) -> list[Row]:
    """Warm and cache-off paths at 50 clients with 1 and 2 hub workers, alternating."""
    clients = bench.settings.clients
    runs: dict[str, list[dict[str, Any]]] = {}
    for _ in range(bench.settings.repeats):
        for n in (1, 2):
            with bench.hub(f"workers-{n}-{len(runs)}", cache_ttl_s=3600, workers=n) as hub:
                warm_codes = bench.codes[:20]
                bench.drive(hub, MATTER, warm_codes, clients=1, max_requests=len(warm_codes), warmup_s=0)
                runs.setdefault(f"warm {n}", []).append(bench.drive(hub, MATTER, warm_codes, clients=clients))
            with bench.hub(f"workers-off-{n}-{len(runs)}", cache_ttl_s=0, workers=n) as hub:
                runs.setdefault(f"off {n}", []).append(bench.drive(hub, MATTER, bench.codes, clients=clients))
    med = {label: _median(results) for label, results in runs.items()}
    return [
        Row(f"one matter, cache warm, {n} worker(s) ({clients} clients)", _figures(med[f"warm {n}"]))
        for n in (1, 2)
    ] + [
        Row(f"one matter, cache off, {n} worker(s) ({clients} clients)", _figures(med[f"off {n}"]))
        for n in (1, 2)
    ]


@contextlib.contextmanager
def _peer(bench: Bench, name: str, response_cache_ttl_s: float) -> Iterator[procs.Peer]:
    folder = bench.folder / name
    folder.mkdir()
    hive = procs.Peer.start(bench.departments, folder, response_cache_ttl_s=response_cache_ttl_s)
    bench.peer_config[name] = hive.config
    try:
        yield hive
        bench.rss_mb[name] = max(procs.rss_mb(pid) for pid in hive.workers())
    finally:
        hive.stop()


SUITE = {
    "cold": cold_single,
    "cache-off": cache_off,
    "warm": warm,
    "matters": matters_page,
    "failing": one_failing,
    "registry": registry,
    "peer": peer,
    "workers": workers,
}


# -- figures ----------------------------------------------------------------------------------


def _figures(r: dict[str, Any]) -> dict[str, Any]:
    keys = ("rps", "p50_ms", "p95_ms", "p99_ms", "requests", "complete", "server_cpu_ms_per_request")
    figures = {k: r.get(k) for k in keys}
    if "runs" in r:  # a median's runs, each as measured (the table leaves them out)
        figures["runs"] = r["runs"]
    return figures


def _median(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("rps", "p50_ms", "p95_ms", "p99_ms", "complete", "server_cpu_ms_per_request"):
        values = [r[key] for r in results if r.get(key) is not None]
        out[key] = round(statistics.median(values), 2) if values else None
    out["requests"] = sum(r["requests"] for r in results)
    out["runs"] = [
        {k: r.get(k) for k in ("rps", "p50_ms", "p95_ms", "server_cpu_ms_per_request")} for r in results
    ]
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def _lt(value: float | None, limit: float, *, inclusive: bool = False) -> bool:
    return value is not None and (value <= limit if inclusive else value < limit)


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    node = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        node = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "node": node,
        "kernel": platform.release(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
