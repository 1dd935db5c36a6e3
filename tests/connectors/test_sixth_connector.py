"""Acceptance: a sixth department (环评, environmental assessment) joins with no edit in the hub.

The test writes the connector package with ``onematter connector new``,
pip-installs it into this venv as an integration engineer would, and checks
that the hub finds it through its entry point, builds it beside the built-in
connectors from configuration alone, and can call the department through it;
that its part adds ``Matter.environment`` to the schema and the SDL with no
file of schema/ changed; and that ``onematter serve`` with no configuration
(``make run``) starts its simulated system and shows the part in real matter
queries. The package is uninstalled afterwards.
"""

from __future__ import annotations

import importlib
import importlib.util
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiocache import SimpleMemoryCache

from connectors.base import Connector
from connectors.discovery import available, build_connectors, discover
from connectors.http import build_client
from connectors.scaffold import Names, write_skeleton
from connectors.settings import ConnectorSettings

NAME = "environment"
NAMES = Names.of(NAME, "生态环境局（环评）")
API_KEY_ENV = NAMES.env


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _forget_module() -> None:
    for module in [m for m in sys.modules if m == NAMES.module or m.startswith(NAMES.module + ".")]:
        del sys.modules[module]
    importlib.invalidate_caches()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The scaffolded package, installed into the venv for this module's tests only."""
    source = tmp_path_factory.mktemp("sixth") / NAMES.dist
    write_skeleton(NAMES, source)
    _pip("uninstall", "-y", NAMES.dist)  # a leftover from an interrupted run
    result = _pip("install", "--no-deps", "--no-build-isolation", str(source))
    assert result.returncode == 0, result.stdout + result.stderr
    _forget_module()
    try:
        yield source
    finally:
        _pip("uninstall", "-y", NAMES.dist)
        _forget_module()


def _importable_built_ins() -> dict[str, ConnectorSettings]:
    """Built-in connectors whose module is not written yet are disabled, not the test's subject."""
    return {
        name: ConnectorSettings(enabled=False)
        for name, target in available().items()
        if name != NAME and importlib.util.find_spec(target.split(":")[0]) is None
    }


def test_discovered_through_its_entry_point(installed: Path) -> None:
    assert available()[NAME] == f"{NAMES.module}.connector:{NAMES.cls}"
    factory = discover(lambda name: name == NAME)[NAME]
    assert factory.title == "生态环境局（环评）"
    module_file = Path(sys.modules[NAMES.module].__file__ or "")
    assert installed not in module_file.parents, "loaded from the installed package, not the source tree"


@pytest.fixture
async def environment_url(installed: Path) -> AsyncIterator[str]:
    from fixtures.serve import serve_app

    fixture = importlib.import_module(f"{NAMES.module}.fixture")
    server = await serve_app(fixture.create_app())
    try:
        yield server.url
    finally:
        await server.stop()


async def test_built_beside_the_built_ins_from_configuration_alone(
    environment_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixture = importlib.import_module(f"{NAMES.module}.fixture")
    monkeypatch.setenv(API_KEY_ENV, fixture.DEMO_API_KEY)
    # What an operator writes in the hub's TOML file: a [connectors.environment] table.
    settings = {
        **_importable_built_ins(),
        NAME: ConnectorSettings(base_url=environment_url, credentials={"api_key": API_KEY_ENV}),
    }
    clients: list[httpx.AsyncClient] = []

    def client_for(name: str) -> httpx.AsyncClient:
        clients.append(build_client(settings.get(name, ConnectorSettings())))
        return clients[-1]

    try:
        connectors = build_connectors(settings, cache=SimpleMemoryCache(), client_for=client_for)
        # The hub's source list is these connectors (the gateway's `sources` resolver lists
        # context.connectors, which the lifespan builds with build_connectors).
        disabled = {name for name, s in settings.items() if not s.enabled}
        assert set(connectors) == set(available()) - disabled
        assert NAME in connectors
        sixth = connectors[NAME]
        assert isinstance(sixth, Connector)
        view = await sixth.fetch_project(fixture.KNOWN)
        assert view is not None and view.department == NAME
        assert view.items[0].status.value == "APPROVED"
        assert (await sixth.health()).status == "UP"
        assert sixth.pipeline.stats().department == NAME
    finally:
        for client in clients:
            await client.aclose()


@contextmanager
def _serve_in_thread(app: Any) -> Iterator[str]:
    """The department on a loopback port, in its own thread (the hub runs as another process)."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # listening already: connections queue until the server accepts them
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", ws="none"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def test_listed_in_the_hubs_sources(installed: Path, tmp_path: Path) -> None:
    """The real thing: ``onematter serve`` with the package installed lists it in ``sources``."""
    from tests.gateway.hub import RunningHub

    fixture = importlib.import_module(f"{NAMES.module}.fixture")
    with _serve_in_thread(fixture.create_app()) as url:
        config = {  # configuration only: environment overrides of [connectors.environment]
            "ONEMATTER__CONNECTORS__ENVIRONMENT__BASE_URL": url,
            "ONEMATTER__CONNECTORS__ENVIRONMENT__CREDENTIALS": f'{{api_key = "{API_KEY_ENV}"}}',
            API_KEY_ENV: fixture.DEMO_API_KEY,
        }
        with RunningHub.start(tmp_path, extra_env=config) as hub:
            body = hub.query("{ sources { department title status breakerState } }", role="INTEGRATOR")
    assert "errors" not in body, body
    sources = {source["department"]: source for source in body["data"]["sources"]}
    assert {"planning", NAME} <= set(sources)
    assert sources[NAME] == {
        "department": NAME,
        "title": "生态环境局（环评）",
        "status": "UP",
        "breakerState": "CLOSED",
    }


def test_its_part_adds_a_field_to_matter_and_the_sdl(installed: Path) -> None:
    import schema
    from schema import build_schema, parts_of

    parts = {p.department: p for p in parts_of(discover())}
    part = parts[NAME].part
    assert part.field == NAME
    # The part comes from the installed package: nothing under the hub's schema/ names it.
    part_module = Path(sys.modules[f"{NAMES.module}.part"].__file__ or "")
    schema_dir = Path(schema.__file__ or "").parent
    assert schema_dir not in part_module.parents and installed not in part_module.parents
    assert not any("EnvironmentDecision" in p.read_text(encoding="utf-8") for p in schema_dir.glob("*.py"))

    sdl = build_schema().execute_sync("{ _service { sdl } }").data["_service"]["sdl"]  # type: ignore[index]
    matter = sdl[sdl.index("type Matter ") :].split("\n}", 1)[0]
    assert "  environment: [EnvironmentDecision!]" in matter
    assert "  firePath: FirePath" in matter  # the built-in parts are still there
    assert "type EnvironmentDecision {" in sdl
    # Without the connector (e.g. disabled), its field is not in the schema.
    five = [p for name, p in parts.items() if name != NAME]
    assert "EnvironmentDecision" not in build_schema(parts=five).as_str()


MATTERS = """
{ matters(first: 30) { edges { node {
    projectCode
    environment { fileNumber name status rawStatus decisionNumber }
    sources { department status known }
} } } }
"""

MATTER = """
query($code: String!) { matter(projectCode: $code) {
    projectCode name environment { fileNumber status } items { department kind }
} }
"""


def test_make_run_starts_its_system_and_shows_its_part(installed: Path, tmp_path: Path) -> None:
    """No configuration: the embedded default starts the plug-in's simulator like the five."""
    from tests.gateway.hub import RunningHub

    with RunningHub.start(tmp_path) as hub:
        body = hub.query(MATTERS)
        assert "errors" not in body, body["errors"][:3]
        nodes = [edge["node"] for edge in body["data"]["matters"]["edges"]]
        sources = {n["projectCode"]: {s["department"]: s for s in n["sources"]} for n in nodes}
        assert all(s[NAME]["status"] == "OK" for s in sources.values())
        known = [n for n in nodes if sources[n["projectCode"]][NAME]["known"]]
        unknown = [n for n in nodes if not sources[n["projectCode"]][NAME]["known"]]
        assert known and unknown  # the simulation knows every third project
        assert all(n["environment"] and n["environment"][0]["fileNumber"].startswith(NAME) for n in known)
        assert all(n["environment"] == [] for n in unknown)

        code = known[0]["projectCode"]
        one = hub.query(MATTER, {"code": code})
    assert "errors" not in one, one["errors"]
    matter = one["data"]["matter"]
    assert matter["environment"] == [
        {"fileNumber": d["fileNumber"], "status": d["status"]} for d in known[0]["environment"]
    ]
    assert {"department": NAME, "kind": f"{NAME}.approval"} in matter["items"]


def test_uninstalled_it_is_gone_again(installed: Path) -> None:
    # Runs last in this module: after uninstalling, discovery no longer lists it.
    result = _pip("uninstall", "-y", NAMES.dist)
    assert result.returncode == 0, result.stderr
    _forget_module()
    assert NAME not in available()
