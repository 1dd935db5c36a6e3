"""The embedded default: the simulated department systems, started by the hub.

When ``hub.embedded`` is on and a built-in department's connector has no
``base_url``, ``onematter serve`` starts the fixture systems once, in the parent
process, on loopback ports, in a background thread with its own event loop.
An installed plug-in connector with no ``base_url`` whose class names a
``simulator`` (``connectors.base.SimulatedSystem``) is started the same way,
over the same world's project codes, with its demo credentials.
It then points the connectors at them through environment overrides
(``ONEMATTER__CONNECTORS__<NAME>__BASE_URL``), so that uvicorn workers, which
re-read the configuration, inherit the same departments. Demo credentials are
set in the environment only where none are set already.

Nothing here is imported by the app itself: only ``onematter serve`` and tests
use it: the simulated departments stay out of the serving app (the import-layer
contract in pyproject.toml allows this module, and no other gateway module, to
import fixtures).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Mapping, MutableMapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from gateway.config import Settings

# The departments the fixtures simulate (fixtures.world.DEPARTMENTS), repeated here
# so that deciding whether to start them does not import the fixture world.
FIXTURE_DEPARTMENTS = ("planning", "civil_air_defence", "fire", "utilities", "real_estate")

# The demo world is seen from a fixed day, shortly after the zone's first phased
# permit (天嘉·上河九章, 2023-09-28), so that the README's examples reproduce on any
# machine on any day. ``hub.as_of`` (ONEMATTER__HUB__AS_OF) picks another day.
DEMO_AS_OF = date(2023, 10, 31)

# The connectors read their credentials from these variables (connectors.settings:
# the file names the variable, never the value); the values are the fixtures' demo ones.
DEMO_CREDENTIALS: dict[str, dict[str, tuple[str, str]]] = {
    "utilities": {"api_key": ("ONEMATTER_UTILITIES_API_KEY", "demo-utilities-key")},
    "real_estate": {
        "client_id": ("ONEMATTER_REAL_ESTATE_CLIENT_ID", "onematter-hub"),
        "client_secret": ("ONEMATTER_REAL_ESTATE_CLIENT_SECRET", "demo-secret"),
    },
}


def simulators_to_embed(settings: Settings) -> dict[str, str]:
    """Plug-in connectors that are enabled, have no base URL and name a simulator: name -> path."""
    if not settings.hub.embedded:
        return {}
    from connectors.discovery import declared, discover

    def wanted(name: str) -> bool:
        configured = settings.connectors.get(name)
        enabled = configured is None or (configured.enabled and not configured.base_url)
        return name not in FIXTURE_DEPARTMENTS and enabled

    found = {}
    for name, factory in discover(wanted).items():
        path = declared(factory, "simulator")
        if path is not None:
            found[name] = path
    return found


def departments_to_embed(settings: Settings) -> list[str]:
    """Built-in departments that are enabled and have no base URL configured."""
    if not settings.hub.embedded:
        return []
    missing = []
    for name in FIXTURE_DEPARTMENTS:
        configured = settings.connectors.get(name)
        if configured is None or (configured.enabled and not configured.base_url):
            missing.append(name)
    return missing


def env_name(*path: str) -> str:
    return "ONEMATTER__" + "__".join(p.upper() for p in path)


def embed_environment(
    settings: Settings,
    urls: dict[str, str],
    as_of: date,
    credentials: Mapping[str, Mapping[str, tuple[str, str]]] | None = None,
) -> dict[str, str]:
    """The environment overrides that point connectors at the embedded departments.

    ``credentials``: the plug-in simulators' demo credentials, as ``DEMO_CREDENTIALS``.
    """
    demos = {**DEMO_CREDENTIALS, **(credentials or {})}
    env: dict[str, str] = {}
    for name, url in urls.items():
        env[env_name("connectors", name, "base_url")] = url
        configured = settings.connectors.get(name)
        demo = demos.get(name)
        if demo and (configured is None or not configured.credentials):
            table = ", ".join(f'{key} = "{var}"' for key, (var, _) in demo.items())
            env[env_name("connectors", name, "credentials")] = "{" + table + "}"
    if settings.hub.as_of is None:
        # The fixture world is built relative to a date; pin the hub's clocks to it.
        env[env_name("hub", "as_of")] = as_of.isoformat()
    return env


def set_demo_credentials(
    environ: MutableMapping[str, str],
    credentials: Mapping[str, Mapping[str, tuple[str, str]]] | None = None,
) -> None:
    """Set the demo credential variables that are not set already."""
    for values in [*DEMO_CREDENTIALS.values(), *(credentials or {}).values()]:
        for var, value in values.values():
            environ.setdefault(var, value)


@dataclass
class EmbeddedDepartments:
    """The fixture systems running in a background thread; ``stop()`` ends them."""

    urls: dict[str, str]
    as_of: date
    projects: int
    _loop: asyncio.AbstractEventLoop = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _running: Any = field(repr=False)
    # plug-in simulators' demo credentials: name -> credential -> (variable, value)
    credentials: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    _plugins: list[Any] = field(default_factory=list, repr=False)  # their servers

    def stop(self, timeout: float = 10.0) -> None:
        if not self._thread.is_alive():
            return

        async def stop_all() -> None:
            await asyncio.gather(self._running.stop(), *(server.stop() for server in self._plugins))

        future = asyncio.run_coroutine_threadsafe(stop_all(), self._loop)
        try:
            future.result(timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)


def start_embedded(
    departments: list[str],
    *,
    seed: int,
    projects: int,
    as_of: date | None,
    webhooks: dict[str, tuple[str, str]] | None = None,
    script_s: float = 0.0,
    simulators: Mapping[str, str] | None = None,
) -> EmbeddedDepartments:
    """Build the fixture world and start ``departments`` (and plug-in ``simulators``) on loopback.

    ``webhooks`` maps a department to (the hub's webhook URL, its secret): after
    ``POST /_admin/advance`` it pushes the change there. ``script_s`` > 0 moves a few
    planted projects one step every that many seconds (``fixtures.serve.Script``).
    ``simulators`` maps a plug-in connector to its simulator (``module:ATTRIBUTE``).
    """
    from connectors.base import SimulatedSystem
    from connectors.discovery import load_attribute
    from fixtures.advance import Notifier
    from fixtures.generate import build_world
    from fixtures.serve import Script, serve_app, start_departments

    world = build_world(seed=seed, projects=projects, as_of=as_of)
    codes = sorted(world.projects)
    systems: dict[str, SimulatedSystem] = {}
    for name, path in (simulators or {}).items():
        simulator = load_attribute(path)
        system = simulator(codes) if callable(simulator) else None
        if not isinstance(system, SimulatedSystem):
            raise TypeError(f"connector {name!r}: its simulator {path} did not return a SimulatedSystem")
        systems[name] = system
    loop = asyncio.new_event_loop()
    started: Future[Any] = Future()
    plugins: list[Any] = []
    plugin_urls: dict[str, str] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def boot() -> None:
            try:
                notify = {name: Notifier(url, secret) for name, (url, secret) in (webhooks or {}).items()}
                running = await start_departments(world, departments=tuple(departments), notify=notify)
                for name, system in systems.items():
                    server = await serve_app(system.app)
                    plugins.append(server)
                    plugin_urls[name] = server.url
            except BaseException as exc:
                started.set_exception(exc)
                raise
            started.set_result(running)
            if script_s > 0:
                running.script = asyncio.ensure_future(Script(world, running.apps, interval_s=script_s).run())

        loop.run_until_complete(boot())
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=run, name="onematter-departments", daemon=True)
    thread.start()
    running = started.result(timeout=120)
    return EmbeddedDepartments(
        urls={**running.urls, **plugin_urls},
        as_of=world.as_of,
        projects=len(world.projects),
        _loop=loop,
        _thread=thread,
        _running=running,
        credentials={name: dict(system.credentials) for name, system in systems.items()},
        _plugins=plugins,
    )


def demo_webhooks(
    settings: Settings, departments: list[str], hub_url: str, environ: MutableMapping[str, str]
) -> dict[str, tuple[str, str]]:
    """department -> (webhook URL, secret); the demo secret is set where none is set already."""
    from gateway.changes import push_settings
    from gateway.webhooks import DEMO_WEBHOOK_SECRET, secret_variable

    push = push_settings(settings)
    found: dict[str, tuple[str, str]] = {}
    for name in departments:
        variable = secret_variable(push, name)
        environ.setdefault(variable, DEMO_WEBHOOK_SECRET)
        found[name] = (f"{hub_url.rstrip('/')}/webhooks/{name}", environ[variable])
    return found


def apply(
    settings: Settings, environ: MutableMapping[str, str] | None = None, *, hub_url: str | None = None
) -> EmbeddedDepartments | None:
    """Start what the configuration lacks and export the overrides; None if nothing to embed.

    With ``hub_url`` the departments push their changes to the hub's webhooks there.
    """
    from gateway.changes import push_settings

    environ = os.environ if environ is None else environ
    departments = departments_to_embed(settings)
    simulators = simulators_to_embed(settings)
    if not departments and not simulators:
        return None
    embedded = start_embedded(
        departments,
        seed=settings.hub.fixture_seed,
        projects=settings.hub.fixture_projects,
        as_of=settings.hub.as_of or DEMO_AS_OF,
        webhooks=demo_webhooks(settings, departments, hub_url, environ) if hub_url else None,
        script_s=push_settings(settings).demo_script_s,
        simulators=simulators,
    )
    set_demo_credentials(environ, embedded.credentials)
    environ.update(embed_environment(settings, embedded.urls, embedded.as_of, embedded.credentials))
    return embedded
