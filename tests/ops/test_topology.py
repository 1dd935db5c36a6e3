"""The scale-out topology as plain processes, on loopback only.

::

    client ─▶ Hive Gateway (deploy/router) ─┬─▶ balancer ─┬─▶ hub replica A ─┐
                                            │             └─▶ hub replica B ─┼─▶ departments
                                            └─▶ appointments subgraph        │   (this process)
                                                 (deploy/appointments)       └─▶ PostgreSQL, Redis

Two ``onematter serve`` replicas share a fresh PostgreSQL database and a Redis
namespace (both removed afterwards; tests/ops/test_replicas.py's fixtures), a
round-robin TCP balancer in this process stands for the load balancer, the
router composes the hub with a second subgraph that extends ``Matter``, and
the test checks a query crossing both (with the caller's request id and trace
reaching the departments), a department outage surfacing through the router
with its error extensions, and the router still answering after a replica is
killed. Needs node and ``npm ci --prefix deploy/router`` (``make
test`` runs it); without node it skips.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.world import World
from gateway.embedded import EmbeddedDepartments
from tests.gateway.hub import RunningHub, free_port, token
from tests.ops.conftest import complete_project
from tests.ops.test_replicas import Shared, departments, replica_env, shared

__all__ = ["departments", "shared"]  # module-scoped fixtures, shared with the two-replica test

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]
ROUTER_DIR = ROOT / "deploy" / "router"
APPOINTMENTS_DIR = ROOT / "deploy" / "appointments"
HUB_CONFIG = ROOT / "deploy" / "hub.toml"
SECRET_ENV = "ONEMATTER_AUTH_SECRET"
HIVE_GATEWAY = ROUTER_DIR / "node_modules" / ".bin" / "hive-gateway"
STARTUP_S = 120.0

CROSSING = """
query Crossing($code: String!) {
  matter(projectCode: $code) {
    projectCode name
    items { department kind status }
    firePath { path }
    sources { department status errorCode }
    windowAppointments { window day purpose }
  }
}
"""


def _router_installed() -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the process topology test (Hive Gateway) is skipped")
    if not HIVE_GATEWAY.exists():
        message = (
            "deploy/router's packages are not installed: run `npm ci --prefix deploy/router` (make test does)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


# -- the load balancer ---------------------------------------------------------------


class Balancer:
    """Round-robin TCP balancing on a loopback port; a replica that refuses is skipped."""

    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self._next = itertools.cycle(range(len(backends)))
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def __enter__(self) -> Balancer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the balancer did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = None
        for _ in self.backends:
            port = self.backends[next(self._next)]
            with contextlib.suppress(OSError):
                upstream = await asyncio.open_connection("127.0.0.1", port)
                break
        if upstream is None:
            writer.close()
            return
        up_reader, up_writer = upstream

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while chunk := await src.read(65536):
                    dst.write(chunk)
                    await dst.drain()
            with contextlib.suppress(OSError):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


# -- processes -------------------------------------------------------------------------


@contextlib.contextmanager
def process(
    name: str, command: list[str], *, cwd: Path, env: dict[str, str], ready: str, log: Path
) -> Iterator[None]:
    """Start ``command``, wait until GET ``ready`` answers 200 (bounded), stop it afterwards."""
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + STARTUP_S
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited during startup:\n{log.read_text()[-3000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(ready, timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start in time:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)  # polling for readiness, not timing anything
            yield
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def served(hub: RunningHub) -> int:
    """GraphQL requests the replica logged since the last call (its access lines)."""
    count = 0
    while True:
        try:
            line = hub.output.get_nowait()
        except queue.Empty:
            return count
        if line is None:
            return count
        hub.lines.append(line)
        count += '"path": "/graphql"' in line or '"path":"/graphql"' in line


@pytest.fixture(scope="module")
def production_secret() -> Iterator[str]:
    """An HS256 secret of our own (production mode refuses the demo one), for replicas and tokens."""
    previous = os.environ.get(SECRET_ENV)
    os.environ[SECRET_ENV] = secret = secrets.token_hex(32)
    try:
        yield secret
    finally:
        if previous is None:
            os.environ.pop(SECRET_ENV, None)
        else:
            os.environ[SECRET_ENV] = previous


@pytest.fixture(scope="module")
def topology(
    shared: Shared,
    departments: EmbeddedDepartments,
    production_secret: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    _router_installed()
    # The replicas run on deploy/hub.toml, as in compose.yaml (production mode), with the
    # addresses of this machine's services and departments as environment overrides.
    env = replica_env(shared, departments)
    # Tracing on, exporting nowhere: the replicas continue the caller's trace to the departments.
    env |= {"ONEMATTER__OPS__TRACING": "true", "OTEL_TRACES_EXPORTER": "none"}
    # Fire uncached: each matter asks it (the matter index the replicas build at start
    # fills the other departments' caches), so its outage and the headers it got show.
    env |= {
        "ONEMATTER__CONNECTORS__FIRE__CACHE__TTL_S": "0",
        "ONEMATTER__CONNECTORS__FIRE__CACHE__STALE_S": "0",
    }
    folder = tmp_path_factory.mktemp("topology")
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMATTER__")}
    with (
        RunningHub.start(tmp_path_factory.mktemp("a"), extra_env=env, config=HUB_CONFIG) as a,
        RunningHub.start(tmp_path_factory.mktemp("b"), extra_env=env, config=HUB_CONFIG) as b,
        Balancer([int(a.url.rsplit(":", 1)[1]), int(b.url.rsplit(":", 1)[1])]) as balancer,
    ):
        appointments_port = free_port()
        appointments = f"http://127.0.0.1:{appointments_port}/graphql"
        router_port = free_port()
        router_env = {
            **base_env,
            "NODE_ENV": "production",
            "SUBGRAPHS": f"onematter=http://127.0.0.1:{balancer.port}/graphql,appointments={appointments}",
            "ROUTER_TOKEN": token("INTEGRATOR"),
        }
        with (
            process(
                "the appointments subgraph",
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--app-dir",
                    str(APPOINTMENTS_DIR),
                    "app:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(appointments_port),
                    "--no-access-log",
                ],
                cwd=folder,
                env=base_env,
                ready=f"{appointments}?query=%7BappointmentWindows%7D",
                log=folder / "appointments.log",
            ),
            process(
                "Hive Gateway",
                [
                    str(HIVE_GATEWAY),
                    "supergraph",
                    "--config-path",
                    str(ROUTER_DIR / "gateway.config.ts"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(router_port),
                ],
                cwd=ROUTER_DIR,
                env=router_env,
                ready=f"http://127.0.0.1:{router_port}/readiness",
                log=folder / "router.log",
            ),
        ):
            yield {"router": f"http://127.0.0.1:{router_port}/graphql", "replicas": (a, b), "log": folder}


def through_router(topology: dict[str, Any], code: str, **headers: str) -> httpx.Response:
    return httpx.post(
        topology["router"],
        json={"query": CROSSING, "variables": {"code": code}},
        headers={"Authorization": f"Bearer {token('WINDOW_STAFF')}", **headers},
        timeout=30,
    )


def codes(world: World, count: int) -> list[str]:
    """Projects every department knows, so a matter calls all five."""
    first = complete_project(world)
    from fixtures.world import DEPARTMENTS

    others = [c for c in sorted(world.projects) if all(world.view(d, c) for d in DEPARTMENTS)]
    return [first, *[c for c in others if c != first]][:count]


def test_a_query_crosses_the_hub_and_the_second_subgraph(
    topology: dict[str, Any], departments: EmbeddedDepartments, world: World
) -> None:
    code = codes(world, 1)[0]
    trace_id = secrets.token_hex(16)
    headers = {"X-Request-Id": "router-run-1", "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
    response = through_router(topology, code, **headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    matter = body["data"]["matter"]
    assert matter["projectCode"] == code and matter["name"]
    assert matter["windowAppointments"] and all(a["window"] for a in matter["windowAppointments"])
    # The replicas run deploy/hub.toml's production mode: introspection is off.
    refused = topology["replicas"][0].post(
        {"query": "{ __schema { queryType { name } } }"}, role="WINDOW_STAFF"
    )
    assert "errors" in refused.json(), refused.text
    # The router passed the request id on; the hub sent it to the departments.
    seen = httpx.get(f"{departments.urls['fire']}/_admin/requests", timeout=10).json()
    ours = [r["headers"] for r in seen if r["headers"].get("x-request-id") == "router-run-1"]
    assert ours
    # And the caller's trace: client -> router -> hub -> department, one trace id.
    assert {h["traceparent"].split("-")[1] for h in ours} == {trace_id}


def test_a_department_outage_surfaces_through_the_router(
    topology: dict[str, Any], departments: EmbeddedDepartments, world: World
) -> None:
    code = codes(world, 2)[1]
    fire = departments.urls["fire"]
    httpx.put(f"{fire}/_admin/faults", json={"maintenance": True}, timeout=10).raise_for_status()
    try:
        response = through_router(topology, code)
        direct = topology["replicas"][0].post(
            {
                "query": CROSSING.replace("windowAppointments { window day purpose }", ""),
                "variables": {"code": code},
            },
            role="WINDOW_STAFF",
        )
    finally:
        httpx.put(f"{fire}/_admin/faults", json={"maintenance": False}, timeout=10).raise_for_status()
    assert response.status_code == 200, response.text
    body = response.json()
    matter = body["data"]["matter"]
    # The rest still answers: the hub's other departments and the second subgraph.
    assert matter["projectCode"] == code and matter["windowAppointments"] and matter["items"]
    assert matter["firePath"] is None
    assert {"department": "fire", "status": "UNAVAILABLE", "errorCode": "DEPARTMENT_UNAVAILABLE"} in matter[
        "sources"
    ]
    (error,) = [e for e in body.get("errors", []) if e.get("extensions", {}).get("department") == "fire"]
    (hubs,) = [e for e in direct.json()["errors"] if e.get("extensions", {}).get("department") == "fire"]
    # The hub's error arrives intact through the router: its extensions, message and path.
    assert hubs["extensions"] == {"code": "DEPARTMENT_UNAVAILABLE", "department": "fire", "retryable": True}
    assert {k: error["extensions"][k] for k in hubs["extensions"]} == hubs["extensions"]
    assert error["message"] == hubs["message"]
    assert error["path"] == ["matter", "firePath"]


def test_the_router_still_answers_with_one_replica_killed(topology: dict[str, Any], world: World) -> None:
    a, b = topology["replicas"]
    code = codes(world, 1)[0]
    served(a), served(b)
    for _ in range(4):
        assert through_router(topology, code).status_code == 200
    # Kill the replica the router's connections went to (the other one then has to answer).
    victim, survivor = (a, b) if served(a) >= served(b) else (b, a)
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait(timeout=30)

    answers = []
    for _ in range(8):  # bounded: the first may meet a connection to the dead replica
        response = through_router(topology, code)
        answers.append(response.status_code == 200 and "errors" not in response.json())
    assert answers[-5:] == [True] * 5, answers
    assert served(survivor) >= 5
