"""The deploy assets, checked as far as a machine without a container daemon allows.

- both Dockerfiles pass hadolint (the linter's own binary, from the dev extras);
- compose.yaml passes ``docker-compose config`` (Docker Compose's own binary, from
  the dev extras: it validates and resolves the file without a daemon), and the
  resolved topology is what the docs say;
- the hub's Dockerfile runs as a non-root user, installs the package, starts the
  ``onematter`` command and probes /livez and /readyz; .dockerignore lets in
  what it copies;
- deploy/hub.toml passes the hub's own configuration checks;
- deploy/healthcheck.py (the image's probe) passes against a running hub and
  fails against nothing.

Building and running the images needs a daemon: tests/ops/test_topology.py runs
the same topology as processes instead.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.config import load_settings
from gateway.serve import check_sections
from tests.gateway.hub import RunningHub, free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
HUB_CONFIG = ROOT / "deploy" / "hub.toml"
HEALTHCHECK = ROOT / "deploy" / "healthcheck.py"
SECRETS = {"ONEMATTER_AUTH_SECRET": "s" * 64, "POSTGRES_PASSWORD": "p" * 32, "ROUTER_TOKEN": "t.t.t"}
# The order `onematter fixtures serve --port-base N` gives the simulated departments.
PORT_ORDER = ("planning", "civil_air_defence", "fire", "utilities", "real_estate")


def run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per line of a Dockerfile, continuations joined, comments dropped."""
    found: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        found.append((word.upper(), rest.strip()))
    return found


def final_stage(path: Path) -> list[tuple[str, str]]:
    steps = instructions(path)
    last = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last:]


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "deploy/router/Dockerfile"])
def test_the_dockerfiles_pass_hadolint(dockerfile: str) -> None:
    result = run([str(BIN / "hadolint"), "--failure-threshold", "info", dockerfile])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_hub_image_runs_unprivileged_with_its_probe_and_command() -> None:
    stage = final_stage(DOCKERFILE)
    words = [word for word, _ in stage]
    (user,) = [rest for word, rest in stage if word == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0  # numeric, so the runtime can check it is not root
    assert words.index("USER") < words.index("ENTRYPOINT")
    (entrypoint,) = [json.loads(rest) for word, rest in stage if word == "ENTRYPOINT"]
    assert entrypoint == ["onematter"]
    (command,) = [json.loads(rest) for word, rest in stage if word == "CMD"]
    assert command[:1] == ["serve"] and "--config" in command
    installs = [rest for word, rest in stage if word == "RUN" and "pip install" in rest]
    assert installs and "onematter-hub" in installs[0] and "--no-index" in installs[0]
    (healthcheck,) = [rest for word, rest in stage if word == "HEALTHCHECK"]
    probe = json.loads(healthcheck[healthcheck.index("CMD") + 3 :].strip())
    assert probe[-1] == "/opt/onematter/healthcheck.py"
    copies = [shlex.split(rest) for word, rest in stage if word == "COPY"]
    assert ["deploy/healthcheck.py", "/opt/onematter/healthcheck.py"] in copies
    assert ("EXPOSE", "8000") in stage


def test_dockerignore_lets_in_what_the_dockerfiles_copy() -> None:
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def included(path: str) -> bool:
        keep = True
        for rule in rules:  # the last matching rule wins, as in Docker's own matching
            negate = rule.startswith("!")
            pattern = rule[1:] if negate else rule
            if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern.rstrip("/") + "/*"):
                keep = negate
        return keep

    sources = [
        source
        for word, rest in instructions(DOCKERFILE)
        if word == "COPY" and "--from" not in rest
        for source in shlex.split(rest)[:-1]
    ]
    assert sources
    for source in sources:
        probe = source.rstrip("/") + ("/__init__.py" if source.endswith("/") else "")
        assert included(probe), f"{source} is excluded by .dockerignore"
        assert (ROOT / source).exists(), source


def compose_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS and not k.startswith("ONEMATTER")}
    return run(
        [str(BIN / "docker-compose"), "--file", str(COMPOSE), "config", "--format", "json"],
        env={**clean, **env},
    )


def test_compose_file_resolves_to_the_documented_topology() -> None:
    result = compose_config(SECRETS)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    services = config["services"]
    assert set(services) == {"hub-a", "hub-b", "router", "appointments", "departments", "postgres", "redis"}
    for name in ("hub-a", "hub-b"):
        hub = services[name]
        assert hub["build"]["context"] == str(ROOT) and hub["build"]["dockerfile"] == "Dockerfile"
        assert hub["networks"]["default"]["aliases"] == ["hub"]
        (mount,) = hub["volumes"]
        assert (mount["source"], mount["target"], mount["read_only"]) == (
            str(HUB_CONFIG),
            "/etc/onematter/hub.toml",
            True,
        )
        assert hub["command"] == ["serve", "--config", "/etc/onematter/hub.toml"]
        environment = hub["environment"]
        assert environment["ONEMATTER_AUTH_SECRET"] == SECRETS["ONEMATTER_AUTH_SECRET"]
        assert environment["ONEMATTER__REGISTRY__DATABASE_URL"].endswith("@postgres:5432/onematter")
        assert {k: v["condition"] for k, v in hub["depends_on"].items()} == {
            "postgres": "service_healthy",
            "redis": "service_healthy",
            "departments": "service_healthy",
        }
    router = services["router"]
    assert router["build"]["context"] == str(ROOT / "deploy" / "router")
    subgraphs = dict(entry.split("=", 1) for entry in router["environment"]["SUBGRAPHS"].split(","))
    assert subgraphs == {
        "onematter": "http://hub:8000/graphql",
        "appointments": "http://appointments:8001/graphql",
    }
    assert {k: v["condition"] for k, v in router["depends_on"].items()} == dict.fromkeys(
        ("hub-a", "hub-b", "appointments"), "service_healthy"
    )
    command = services["departments"]["command"]
    assert command[:2] == ["fixtures", "serve"] and command[command.index("--port-base") + 1] == "9001"


def test_compose_file_demands_its_secrets() -> None:
    result = compose_config({k: v for k, v in SECRETS.items() if k != "ONEMATTER_AUTH_SECRET"})
    assert result.returncode != 0
    assert "set ONEMATTER_AUTH_SECRET" in result.stderr


def test_the_hub_configuration_passes_the_hubs_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONEMATTER_AUTH_SECRET", SECRETS["ONEMATTER_AUTH_SECRET"])  # as compose.yaml sets it
    settings = load_settings(HUB_CONFIG, environ={})
    check_sections(settings)  # every section valid, as onematter serve checks before starting
    assert settings.hub.mode == "production" and settings.hub.embedded is False
    assert settings.cache.backend == "redis"
    for offset, name in enumerate(PORT_ORDER):
        connector = settings.connectors[name]
        assert connector.base_url == f"http://departments:{9001 + offset}/", name
        assert all(not var.startswith(("demo", "http")) for var in connector.credentials.values())


def test_the_image_probe_passes_on_a_running_hub_and_fails_on_nothing(tmp_path: Path) -> None:
    nothing = run(
        [sys.executable, str(HEALTHCHECK)],
        env={"ONEMATTER_HEALTHCHECK_URL": f"http://127.0.0.1:{free_port()}"},
    )
    assert nothing.returncode == 1
    assert nothing.stderr.startswith("unhealthy: /livez")
    with RunningHub.start(tmp_path) as hub:
        probed = run(
            [sys.executable, str(HEALTHCHECK)], env={**os.environ, "ONEMATTER_HEALTHCHECK_URL": hub.url}
        )
    assert probed.returncode == 0, probed.stderr
