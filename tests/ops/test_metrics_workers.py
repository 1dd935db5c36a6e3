"""``onematter serve --workers 2``: a worker that dies takes its breaker series with it.

A real two-worker hub process over the five simulated departments (in this
test process, on loopback ports); one worker is killed with SIGKILL, uvicorn
starts a replacement, and the next scrape shows only live workers' gauges.
"""

from __future__ import annotations

import os
import queue
import signal
from pathlib import Path

import httpx

from fixtures.world import World
from gateway.config import Settings
from gateway.embedded import (
    DEMO_CREDENTIALS,
    EmbeddedDepartments,
    embed_environment,
)
from tests.conftest import AS_OF
from tests.gateway.hub import RunningHub
from tests.ops.conftest import MATTER, complete_project, samples, value
from tests.ops.test_replicas import departments

__all__ = ["departments"]  # the module-scoped department systems of the two-replica test

BREAKER = "onematter_department_breaker_state"
WAIT_S = 60.0


def hub_env(departments: EmbeddedDepartments) -> dict[str, str]:
    env = {"ONEMATTER__HUB__EMBEDDED": "false", **embed_environment(Settings(), departments.urls, AS_OF)}
    for values in DEMO_CREDENTIALS.values():
        env.update(dict(values.values()))
    from connectors.discovery import available

    for name in set(available()) - set(departments.urls):  # installed plug-ins: not simulated here
        env[f"ONEMATTER__CONNECTORS__{name.upper()}__ENABLED"] = "false"
    # One failure opens fire's breaker, and stays open for the test's length.
    env["ONEMATTER__CONNECTORS__FIRE__BREAKER__FAILURES"] = "1"
    env["ONEMATTER__CONNECTORS__FIRE__BREAKER__RESET_S"] = "600"
    env["ONEMATTER__CONNECTORS__FIRE__RETRY__ATTEMPTS"] = "1"
    return env


def breaker_pids(text: str) -> dict[str, float]:
    """Worker pid -> fire's breaker state, as one scrape reports it."""
    return {
        dict(key)["pid"]: state
        for key, state in samples(text, BREAKER).items()
        if dict(key)["department"] == "fire"
    }


def scrape(hub: RunningHub) -> str:
    response = httpx.get(f"{hub.url}/metrics", timeout=10)
    assert response.status_code == 200
    return response.text


def wait_for_line(hub: RunningHub, needle: str) -> None:
    """Read the hub's output until a line containing ``needle`` (bounded)."""
    while True:
        try:
            line = hub.output.get(timeout=WAIT_S)
        except queue.Empty:
            raise AssertionError(f"no {needle!r} line within {WAIT_S} s:\n{hub.banner}") from None
        if line is None:
            raise AssertionError(f"the hub exited:\n{hub.banner}")
        hub.lines.append(line)
        if needle in line:
            return


def test_a_killed_worker_leaves_no_breaker_series_behind(
    departments: EmbeddedDepartments, tmp_path: Path, world: World
) -> None:
    httpx.put(f"{departments.urls['fire']}/_admin/faults", json={"error_rate": 1.0}, timeout=10)
    try:
        with RunningHub.start(tmp_path, workers=2, extra_env=hub_env(departments)) as hub:
            first = breaker_pids(scrape(hub))
            assert len(first) == 2, first  # one series per worker, whichever answered
            code = complete_project(world)
            opened: dict[str, float] = {}
            for _ in range(40):  # until a worker's fire breaker is open (each request: a new connection)
                body = hub.query(MATTER, {"code": code})
                assert body["data"]["matter"]["projectCode"] == code
                opened = {pid: s for pid, s in breaker_pids(scrape(hub)).items() if s == 2}
                if opened:
                    break
            assert opened, "no worker's breaker opened"
            victim = sorted(opened)[0]
            calls_before = value(scrape(hub), "onematter_department_calls_total", department="fire")

            os.kill(int(victim), signal.SIGKILL)
            wait_for_line(hub, f"Child process [{victim}] died")
            wait_for_line(hub, "Application startup complete")

            after = breaker_pids(scrape(hub))
            assert victim not in after, after
            assert len(after) == 2 and set(first) - {victim} <= set(after)
            # The dead worker's counters stay: totals never go back.
            assert value(scrape(hub), "onematter_department_calls_total", department="fire") >= calls_before
    finally:
        httpx.put(f"{departments.urls['fire']}/_admin/faults", json={"error_rate": 0.0}, timeout=10)
