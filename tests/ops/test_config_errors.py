"""Every configuration mistake is one line naming the key, exit 2, with one worker or two.

``onematter serve`` runs as a real process; the mistakes come in through the
environment overrides (``ONEMATTER__SECTION__KEY``), which are read exactly as
the file is. With ``--workers 2`` a mistake found only inside a worker would be
a crash loop (uvicorn restarts dead workers): the subprocess timeout catches that.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.gateway.hub import ONEMATTER

# (override, the key the line must name)
MISTAKES: list[tuple[dict[str, str], str]] = [
    ({"ONEMATTER__HUB__BOGUS": "1"}, "[hub] bogus: unknown key"),
    ({"ONEMATTER__HUB__INDEX_REFRESH_S": "-1"}, "[hub] index_refresh_s"),
    ({"ONEMATTER__REGISTRY__BOGUS": "1"}, "[registry] bogus: unknown key"),
    ({"ONEMATTER__REGISTRY__DATABASE_URL": "5"}, "[registry] database_url"),
    ({"ONEMATTER__CACHE__BOGUS": "1"}, "[cache] bogus: unknown key"),
    ({"ONEMATTER__CACHE__BACKEND": "memcached"}, "[cache] backend"),
    ({"ONEMATTER__CONNECTORS__PLANNING__BOGUS": "1"}, "[connectors.planning] bogus: unknown key"),
    ({"ONEMATTER__CONNECTORS__PLANNING__DEADLINE_S": "soon"}, "[connectors.planning] deadline_s"),
    ({"ONEMATTER__CONNECTORS__PLANNING__OPTIONS__PAGESIZE": "5"}, "[connectors.planning.options] pagesize"),
    (
        {"ONEMATTER__CONNECTORS__FIRE__OPTIONS__BATCH_SIZE": "'abc'"},
        "[connectors.fire.options] batch_size: must",
    ),
    (
        {"ONEMATTER__CONNECTORS__PLANNING__OPTIONS__PAGE_SIZE": "'abc'"},
        "[connectors.planning.options] page_size",
    ),
    (
        {"ONEMATTER__CONNECTORS__PLANNING__OPTIONS__PAGE_SIZE": "0"},
        "[connectors.planning.options] page_size: must",
    ),
    ({"ONEMATTER__AUTH__BOGUS": "1"}, "[auth] bogus: unknown key"),
    ({"ONEMATTER__AUTH__LEEWAY_S": "'a'"}, "[auth] leeway_s"),
    ({"ONEMATTER__LIMITS__BOGUS": "1"}, "[limits] bogus: unknown key"),
    ({"ONEMATTER__LIMITS__MAX_DEPTH": "-1"}, "[limits] max_depth"),
    ({"ONEMATTER__LIMITS__RATE_LIMIT__BURST": "0"}, "[limits.rate_limit] burst"),
    ({"ONEMATTER__OPS__BOGUS": "1"}, "[ops] bogus: unknown key"),
    ({"ONEMATTER__OPS__METRICS": "'sometimes'"}, "[ops] metrics"),
    ({"ONEMATTER__NOPE__X": "1"}, "[nope]: unknown section"),
]


def _serve(tmp_path: Path, override: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMATTER__")}
    env.update({"ONEMATTER__HUB__EMBEDDED": "false", **override})
    return subprocess.run(
        [str(ONEMATTER), "serve", "--port", "0", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize(
    ("override", "named"), MISTAKES, ids=[m[1].split(":")[0] + m[1][-3:] for m in MISTAKES]
)
def test_each_mistake_is_one_line_naming_the_key(
    tmp_path: Path, override: dict[str, str], named: str, workers: str
) -> None:
    done = _serve(tmp_path, override, "--workers", workers)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: invalid configuration: ")
    assert named in lines[0]
    assert done.stdout == ""  # nothing started, not even the banner
    assert not list(tmp_path.iterdir())  # no registry file created


def test_a_secret_like_value_is_not_echoed(tmp_path: Path) -> None:
    done = _serve(tmp_path, {"ONEMATTER__CACHE__REDIS_URL": "{password = 'hunter22'}"})
    assert done.returncode == 2
    assert "[cache] redis_url" in done.stderr
    assert "hunter22" not in done.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_taken_port_says_so_and_how_to_pick_another(tmp_path: Path, workers: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMATTER__")}
        done = subprocess.run(
            [str(ONEMATTER), "serve", "--port", str(port), "--workers", workers],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: the port is already in use; "
        "pick another port with --port N (make run PORT=N) or [hub] port"
    ]
    assert done.stdout == ""


@pytest.mark.parametrize("workers", ["0", "-1", "65"])
def test_a_worker_count_out_of_range_is_refused(tmp_path: Path, workers: str) -> None:
    done = _serve(tmp_path, {}, "--workers", workers)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: --workers must be 1-64 (got {workers})"


def test_version() -> None:
    from importlib.metadata import version

    done = subprocess.run([str(ONEMATTER), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.strip() == f"onematter {version('onematter-hub')}"
