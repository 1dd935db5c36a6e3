"""The real hub over the real fixture systems on loopback, for the schema tests.

``hub`` starts the five simulated departments (``fixtures.serve``) over the
shared test world, builds the app's services with settings pointing at them,
and talks to ``gateway.app.create_app`` in-process through
``httpx.ASGITransport``. Departments are driven through their ``/_admin``
endpoints: faults, stats (upstream calls), reset.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.discovery import available
from connectors.settings import BreakerSettings, CacheSettings, ConnectorSettings, RetrySettings
from domain.errors import ConnectorError
from domain.principal import Role
from fixtures.serve import RunningDepartments
from fixtures.world import World
from gateway.app import create_app
from gateway.auth import authenticator_for
from gateway.config import CacheBackendSettings, HubSettings, RegistrySettings, Settings
from gateway.embedded import DEMO_CREDENTIALS
from gateway.services import Services

GRAPHQL_RESPONSE = "application/graphql-response+json"
# Paths that are not lookups: health checks and descriptions do not count as upstream calls.
NOT_LOOKUPS = ("health", "openapi", "wsdl")


def hub_settings(
    urls: dict[str, str],
    tmp_path: Path,
    world: World,
    *,
    cache_ttl_s: float = 0.0,
    stale_s: float = 0.0,
    deadline_s: float = 2.0,
    overrides: dict[str, dict[str, Any]] | None = None,
    limits: dict[str, Any] | None = None,
) -> Settings:
    """Settings pointing every connector at the loopback departments; caching off by default.

    ``limits`` is the ``[limits]`` table, e.g. ``{"rate_limit": {"enabled": False}}``.
    """
    connectors = {}
    for name, url in urls.items():
        options: dict[str, Any] = {
            "base_url": url,
            "deadline_s": deadline_s,
            "retry": RetrySettings(attempts=2, backoff_s=0.01, max_backoff_s=0.02, jitter_s=0.0),
            "cache": CacheSettings(ttl_s=cache_ttl_s, stale_s=stale_s),
            "breaker": BreakerSettings(failures=50, reset_s=0.5),
            "credentials": {key: var for key, (var, _) in DEMO_CREDENTIALS.get(name, {}).items()},
        }
        options.update((overrides or {}).get(name, {}))
        connectors[name] = ConnectorSettings(**options)
    # Connectors installed in this environment beyond the five (e.g. a sixth department) stay off.
    for name in available():
        connectors.setdefault(name, ConnectorSettings(enabled=False))
    return Settings(
        hub=HubSettings(as_of=world.as_of, embedded=False),
        registry=RegistrySettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'registry.db'}"),
        # A namespace per hub: aiocache's memory backend is shared by the whole process.
        cache=CacheBackendSettings(namespace=f"test-{uuid.uuid4().hex}"),
        connectors=connectors,
        limits=dict(limits or {}),
    )


@dataclass
class Hub:
    """The app under test and the departments behind it."""

    client: httpx.AsyncClient
    departments: RunningDepartments
    services: Services
    settings: Settings
    admin_client: httpx.AsyncClient  # to the departments' /_admin endpoints
    tokens: dict[Role, str] = field(default_factory=dict)

    def token(self, role: Role = Role.WINDOW_STAFF) -> str:
        if role not in self.tokens:
            self.tokens[role] = authenticator_for(self.settings).mint(subject=f"test-{role.value}", role=role)
        return self.tokens[role]

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, *, role: Role | None = Role.WINDOW_STAFF
    ) -> httpx.Response:
        headers = {"Accept": GRAPHQL_RESPONSE}
        if role is not None:
            headers["Authorization"] = f"Bearer {self.token(role)}"
        return await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )

    async def query(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        """POST the query; assert HTTP 200 (a department's failure is never the hub's status)."""
        response = await self.post(query, variables, **kw)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def admin(self, department: str, method: str, path: str, body: Any = None) -> Any:
        url = f"{self.departments.urls[department]}/_admin/{path}"
        response = await self.admin_client.request(method, url, json=body)
        response.raise_for_status()
        return response.json()

    async def fault(self, department: str, **settings: Any) -> None:
        await self.admin(department, "PUT", "faults", settings)

    async def reset_stats(self) -> None:
        for name in self.departments.urls:
            await self.admin(name, "POST", "reset")

    async def upstream_calls(self, *, tokens: bool = True) -> dict[str, int]:
        """Calls each department served since the last reset (health checks left out).

        ``tokens=False`` leaves out OAuth2 token requests too, counting lookups only.
        """
        skip = NOT_LOOKUPS if tokens else (*NOT_LOOKUPS, "token")
        counts = {}
        for name in self.departments.urls:
            stats = await self.admin(name, "GET", "stats")
            counts[name] = sum(n for path, n in stats["paths"].items() if not any(w in path for w in skip))
        return counts


HubFactory = Callable[..., Awaitable[Hub]]


@pytest.fixture
def demo_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for values in DEMO_CREDENTIALS.values():
        for var, value in values.values():
            monkeypatch.setenv(var, value)


@pytest.fixture
def domain_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serve only the schema modules that exist (kept for harnesses that import it; all exist now)."""
    import importlib.util

    import schema

    present = tuple(m for m in schema.DOMAIN_MODULES if importlib.util.find_spec(m) is not None)
    monkeypatch.setattr(schema, "DOMAIN_MODULES", present)


@pytest.fixture
async def make_hub(
    world: World,
    departments: RunningDepartments,
    tmp_path: Path,
    demo_credentials: None,
) -> AsyncIterator[HubFactory]:
    """``await make_hub(**hub_settings options)``: the app over the running departments.

    ``faults`` (department -> fault settings) are set before the hub starts, so its
    matter index is built with them; ``ready=False`` does not wait for that build
    (which /readyz waits for) to finish.
    """
    stack = AsyncExitStack()
    admin = httpx.AsyncClient()
    stack.push_async_callback(admin.aclose)

    async def make(
        *, faults: dict[str, dict[str, Any]] | None = None, ready: bool = True, **options: Any
    ) -> Hub:
        for name, fault in (faults or {}).items():
            response = await admin.put(f"{departments.urls[name]}/_admin/faults", json=fault)
            response.raise_for_status()
        settings = hub_settings(departments.urls, tmp_path, world, **options)
        services = await Services.open(settings)
        stack.push_async_callback(services.aclose)
        app = create_app(settings, services=services)
        # ASGITransport does not run the lifespan; the app's lifespan installs the services.
        await stack.enter_async_context(app.router.lifespan_context(app))
        if ready:
            # The build the lifespan started, which /readyz waits for; the hub retries a failed
            # first build, so does this (a loaded test machine can miss a 2 s deadline once).
            for attempt in range(3):
                try:
                    await services.matter_index.ready()
                    break
                except ConnectorError:
                    if attempt == 2:
                        raise
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub")
        stack.push_async_callback(client.aclose)
        return Hub(
            client=client, departments=departments, services=services, settings=settings, admin_client=admin
        )

    async with stack:
        yield make


@pytest.fixture
async def hub(make_hub: HubFactory) -> Hub:
    return await make_hub()


def errors_by_path(body: dict[str, Any]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(e.get("path") or ()): e for e in body.get("errors", [])}
