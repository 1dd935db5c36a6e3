"""The processes a benchmark run starts: departments, the hub, the peer, the load generator.

Everything listens on 127.0.0.1 and is stopped at the end of the run, by
process id. The hub is started the way a user starts it: ``onematter serve
--config FILE --workers N`` (uvicorn, uvloop, httptools).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
PEER_DIR = ROOT / "bench" / "peer"
PYTHON = sys.executable
ONEMATTER = str(Path(sys.executable).with_name("onematter"))
STARTUP_S = 120.0

# The fixtures' demo credentials (fixtures/serve.py DEMO), as the embedded demo sets them.
DEMO_CREDENTIALS = {
    "ONEMATTER_UTILITIES_API_KEY": "demo-utilities-key",
    "ONEMATTER_REAL_ESTATE_CLIENT_ID": "onematter-hub",
    "ONEMATTER_REAL_ESTATE_CLIENT_SECRET": "demo-secret",
}
CREDENTIAL_VARS = {
    "utilities": {"api_key": "ONEMATTER_UTILITIES_API_KEY"},
    "real_estate": {
        "client_id": "ONEMATTER_REAL_ESTATE_CLIENT_ID",
        "client_secret": "ONEMATTER_REAL_ESTATE_CLIENT_SECRET",
    },
}
JSON_DEPARTMENTS = ("planning", "fire", "utilities")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[Any], *, sig: int = signal.SIGINT, timeout: float = 20.0) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def rss_mb(pid: int) -> float:
    """Resident set size of one process, from /proc."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- departments ---------------------------------------------------------------------


@dataclass
class Departments:
    """The five department systems, one process each: real systems do not share a core's queue."""

    processes: list[subprocess.Popen[str]]
    urls: dict[str, str]
    as_of: str
    admin: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))

    @classmethod
    def start(cls, projects: int = 200) -> Departments:
        from fixtures.world import DEPARTMENTS

        processes = [
            subprocess.Popen(
                [PYTHON, "-m", "bench.departments", "--projects", str(projects), "--only", name],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for name in DEPARTMENTS
        ]
        urls: dict[str, str] = {}
        as_of = ""
        for process in processes:
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line:
                for p in processes:
                    stop(p)
                raise RuntimeError("the department systems did not start")
            started = json.loads(line)
            urls.update(started["urls"])
            as_of = started["as_of"]
        ordered = {name: urls[name] for name in DEPARTMENTS if name in urls}
        return cls(processes=processes, urls=ordered, as_of=as_of)

    def faults(self, **settings: Any) -> None:
        """Set the same faults on every department (latency_ms=40, ...)."""
        for name in self.urls:
            self.fault(name, **settings)

    def fault(self, name: str, **settings: Any) -> None:
        self.admin.put(f"{self.urls[name]}/_admin/faults", json=settings).raise_for_status()

    def reset(self) -> None:
        for url in self.urls.values():
            self.admin.post(f"{url}/_admin/reset", json={"settings": True}).raise_for_status()

    def lookups(self) -> dict[str, int]:
        """Requests each department served since the last reset (health and documents left out)."""
        counts = {}
        for name, url in self.urls.items():
            paths = self.admin.get(f"{url}/_admin/stats").json()["paths"]
            counts[name] = sum(
                n for p, n in paths.items() if not any(w in p for w in ("health", "openapi", "wsdl", "token"))
            )
        return counts

    def project_codes(self, count: int) -> list[str]:
        """The first ``count`` project codes of the planning directory."""
        codes: list[str] = []
        page = 1
        while len(codes) < count:
            answer = self.admin.get(
                f"{self.urls['planning']}/api/projects", params={"page": page, "size": 50}
            )
            answer.raise_for_status()
            body = answer.json()
            codes += [r["projectCode"] for r in body["records"]]
            if page >= body["pages"]:
                break
            page += 1
        return codes[:count]

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def stop(self) -> None:
        self.admin.close()
        for process in self.processes:
            if process.stdin is not None:
                process.stdin.close()  # each process stops when its stdin closes
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                stop(process)


# -- the hub ---------------------------------------------------------------------------


def hub_config(
    departments: Departments,
    folder: Path,
    *,
    only: tuple[str, ...] | None = None,
    cache_ttl_s: float = 30.0,
    deadline_s: float = 2.0,
    workers: int = 1,
    response_cache_ttl_s: float | None = None,
) -> Path:
    """A TOML configuration for the hub over ``departments`` (the ones in ``only``)."""
    lines = [
        "[hub]",
        "embedded = false",
        f'as_of = "{departments.as_of}"',
        f"workers = {workers}",
        "[registry]",
        f'database_url = "sqlite:///{folder / "registry.db"}"',
        "[cache]",
        'backend = "memory"',
        # One principal drives all the load: the per-principal rate limit would be the
        # thing measured. Everything else stays at its default.
        "[limits.rate_limit]",
        "enabled = false",
    ]
    if response_cache_ttl_s is not None:  # the whole-result cache ([ops], default 2 s)
        lines += ["[ops]", f"response_cache_ttl_s = {response_cache_ttl_s}"]
    for name, url in departments.urls.items():
        lines.append(f"[connectors.{name}]")
        if only is not None and name not in only:
            lines.append("enabled = false")
            continue
        lines += [f'base_url = "{url}"', f"deadline_s = {deadline_s}", f"cache = {{ ttl_s = {cache_ttl_s} }}"]
        creds = CREDENTIAL_VARS.get(name)
        if creds:
            lines.append("credentials = { " + ", ".join(f'{k} = "{v}"' for k, v in creds.items()) + " }")
    _disable_extra_connectors(lines, departments)
    path = folder / "hub.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _disable_extra_connectors(lines: list[str], departments: Departments) -> None:
    from connectors.discovery import available

    for name in available():  # a connector installed beyond the five has no department here
        if name not in departments.urls:
            lines += [f"[connectors.{name}]", "enabled = false"]


@dataclass
class Hub:
    process: subprocess.Popen[str]
    url: str
    folder: Path
    log: Any

    @classmethod
    def start(cls, config: Path, *, workers: int = 1, env: dict[str, str] | None = None) -> Hub:
        port = free_port()
        folder = config.parent
        log = open(folder / "hub.log", "w", encoding="utf-8")
        environ = {k: v for k, v in os.environ.items() if not k.startswith("ONEMATTER__")}
        environ.update(DEMO_CREDENTIALS)
        environ.update(env or {})
        process = subprocess.Popen(
            [ONEMATTER, "serve", "--config", str(config), "--port", str(port), "--workers", str(workers)],
            cwd=folder,
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        hub = cls(process=process, url=f"http://127.0.0.1:{port}", folder=folder, log=log)
        hub.wait_ready(workers)
        return hub

    def wait_ready(self, workers: int) -> None:
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the hub exited during startup; see {self.folder / 'hub.log'}")
            try:
                if httpx.get(f"{self.url}/livez", timeout=1).status_code == 200:
                    if workers <= 1 or len(self.workers()) >= workers:
                        return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the hub did not start in time")

    def workers(self) -> list[int]:
        """The processes that serve requests: the uvicorn workers, or the hub itself."""
        kids = [p for p in children(self.process.pid) if _is_python(p)]
        return kids or [self.process.pid]

    def access_log_entries(self) -> int:
        """Entries in this hub's access log (its SQLite registry, read beside the running hub)."""
        import sqlite3

        with contextlib.closing(sqlite3.connect(self.folder / "registry.db", timeout=30)) as db:
            return int(db.execute("SELECT count(*) FROM access_log").fetchone()[0])

    def stop(self) -> None:
        stop(self.process)
        self.log.close()


def _is_python(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
    except OSError:
        return False
    return b"multiprocessing" in cmd or b"onematter" in cmd


# -- the peer --------------------------------------------------------------------------


PEER_CONFIG = PEER_DIR / "gateway.config.ts"


@dataclass
class Peer:
    process: subprocess.Popen[str]
    url: str
    log: Any
    config: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def installed() -> bool:
        return (PEER_DIR / "node_modules" / ".bin" / "hive-gateway").exists()

    @classmethod
    def start(
        cls, departments: Departments, folder: Path, *, forks: int = 1, response_cache_ttl_s: float = 0.0
    ) -> Peer:
        """Compose the supergraph and start Hive Gateway; ``response_cache_ttl_s`` > 0 turns
        its response cache on (bench/peer/gateway.config.ts)."""
        ttl_ms = round(response_cache_ttl_s * 1000)
        env = {
            **os.environ,
            "PLANNING_URL": departments.urls["planning"],
            "FIRE_URL": departments.urls["fire"],
            "UTILITIES_URL": departments.urls["utilities"],
            "UTILITIES_API_KEY": DEMO_CREDENTIALS["ONEMATTER_UTILITIES_API_KEY"],
            "NODE_ENV": "production",
            "PEER_RESPONSE_CACHE_TTL_MS": str(ttl_ms),
        }
        supergraph = folder / "supergraph.graphql"
        bin_dir = PEER_DIR / "node_modules" / ".bin"
        composed = subprocess.run(
            [str(bin_dir / "mesh-compose"), "-o", str(supergraph)],
            cwd=PEER_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if composed.returncode != 0 or not supergraph.exists():
            raise RuntimeError(f"mesh-compose failed:\n{composed.stdout[-2000:]}\n{composed.stderr[-2000:]}")
        port = free_port()
        log = open(folder / "peer.log", "w", encoding="utf-8")
        process = subprocess.Popen(
            [
                str(bin_dir / "hive-gateway"),
                "supergraph",
                str(supergraph),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--fork",
                str(forks),
                "--config-path",
                str(PEER_CONFIG),
            ],
            cwd=PEER_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        config = {
            "gateway": f"@graphql-hive/gateway {_npm_version('@graphql-hive/gateway')}",
            "composition": f"@graphql-mesh/compose-cli {_npm_version('@graphql-mesh/compose-cli')}, "
            f"@omnigraph/openapi {_npm_version('@omnigraph/openapi')}",
            "departments": list(JSON_DEPARTMENTS),
            "forks": forks,
            "response_caching": {"session": "global (null)", "ttl_ms": ttl_ms} if ttl_ms > 0 else None,
            "config_file": PEER_CONFIG.read_text(encoding="utf-8"),
        }
        peer = cls(process=process, url=f"http://127.0.0.1:{port}", log=log, config=config)
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the peer exited during startup; see {folder / 'peer.log'}")
            try:
                if httpx.get(f"{peer.url}/healthcheck", timeout=1).status_code == 200:
                    return peer
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the peer did not start in time")

    def workers(self) -> list[int]:
        return children(self.process.pid) or [self.process.pid]

    def stop(self) -> None:
        stop(self.process, sig=signal.SIGTERM)
        self.log.close()


def _npm_version(package: str) -> str | None:
    try:
        manifest = json.loads((PEER_DIR / "node_modules" / package / "package.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    version = manifest.get("version")
    return str(version) if version else None


# -- the load generator ------------------------------------------------------------------


def load(
    url: str,
    bodies: list[dict[str, Any]],
    *,
    headers: dict[str, str] | None = None,
    concurrency: int = 1,
    duration_s: float = 5.0,
    warmup_s: float = 0.0,
    max_requests: int = 10_000,
) -> dict[str, Any]:
    """Run bench.load in its own process; its JSON result."""
    spec = {
        "url": url,
        "bodies": [json.dumps(b) for b in bodies],
        "headers": headers or {},
        "concurrency": concurrency,
        "duration_s": duration_s,
        "warmup_s": warmup_s,
        "max_requests": max_requests,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    try:
        done = subprocess.run(
            [PYTHON, "-m", "bench.load", f.name],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=duration_s + warmup_s + 120,
        )
    finally:
        os.unlink(f.name)
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="onematter-bench-"))


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
