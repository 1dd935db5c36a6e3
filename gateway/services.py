"""The composition root: what one hub process holds for its lifetime.

``Services.open(settings)`` builds every long-lived object once, in order: the
shared cache, one ``httpx.AsyncClient`` per connector, the connectors
(built-ins plus entry points), the registry (migrated) and the matter index.
``start()`` (the lifespan calls it) starts building the index in the
background; ``/readyz`` says "not ready" until it is built. ``aclose()``
releases everything in reverse. Resolvers reach these through the per-request
``Context`` (gateway/context.py), which also gets this request's DataLoaders
from ``loaders()``; the schema never writes here.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from connectors.base import Connector, ConnectorFactory, ProjectDirectory
from domain.errors import ConfigError
from gateway.changes import ChangeFeed, build_feed

if TYPE_CHECKING:
    import httpx
    from aiocache.base import BaseCache

    from gateway.config import Settings
    from registry.store import Registry
    from schema.loaders import Loaders
    from schema.matter_index import MatterIndex
    from schema.parts import DepartmentPart

# China has one time zone and no daylight saving: "today" for the statutory
# clocks is the date in UTC+8, whatever the server's own zone.
CHINA_TZ = timezone(timedelta(hours=8), name="Asia/Shanghai")


def today(settings: Settings) -> date:
    """'Today' for the clocks: pinned by ``hub.as_of`` or the date in China."""
    pinned = settings.hub.as_of
    return pinned if pinned is not None else datetime.now(CHINA_TZ).date()


class ServicesError(ConfigError):
    """The hub cannot start: the message says what is missing or wrong."""


@dataclass(eq=False)
class Services:
    """The process-wide parts every request shares."""

    settings: Settings
    connectors: dict[str, Connector]
    directory: ProjectDirectory
    registry: Registry
    cache: BaseCache
    matter_index: MatterIndex
    parts: Sequence[DepartmentPart] = ()  # the connectors' parts of Matter (schema.parts)
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    # Status changes for subscriptions (gateway/changes.py): in memory unless [push] says Redis.
    changes: ChangeFeed = field(default_factory=ChangeFeed)
    _exit: AsyncExitStack | None = field(default=None, repr=False)

    def as_of(self) -> date:
        """'Today' for the clocks: pinned by ``hub.as_of`` or the date in China."""
        return today(self.settings)

    def loaders(self) -> Loaders:
        """Fresh DataLoaders for one request (their caches must not outlive it)."""
        from schema.loaders import create_loaders

        return create_loaders(self.connectors, self.directory)

    def start(self) -> None:
        """Start building the matter index now, and refreshing it in the background."""
        self.matter_index.start()

    @property
    def ready(self) -> bool:
        """Whether the matter index has been built (``open`` built the rest)."""
        return self.matter_index.built

    @classmethod
    async def open(
        cls, settings: Settings, *, factories: Mapping[str, ConnectorFactory] | None = None
    ) -> Services:
        """Build everything once; on any failure, close what was already built.

        ``factories`` are the connector classes to build (by default those the
        settings enable): the app passes those its schema's parts came from.
        """
        # Imported here: these modules pull in drivers and SDKs the CLI's
        # parser must not pay for.
        from connectors.cache import build_cache
        from connectors.discovery import build_connectors
        from connectors.http import build_client
        from registry.store import Registry
        from schema.matter_index import MatterIndex
        from schema.parts import PartLoadError, parts_of

        stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            cache = build_cache(settings.cache)
            stack.push_async_callback(_close_cache, cache)

            enabled = {name: cs for name, cs in settings.connectors.items() if cs.enabled}
            clients: dict[str, httpx.AsyncClient] = {}

            def client_for(name: str) -> httpx.AsyncClient:
                # One client (one connection pool) per department, owned here.
                if name not in clients:
                    connector_settings = enabled.get(name) or _default_connector_settings()
                    clients[name] = build_client(connector_settings)
                    stack.push_async_callback(clients[name].aclose)
                return clients[name]

            connectors = build_connectors(
                settings.connectors, cache=cache, client_for=client_for, factories=factories
            )
            for connector in connectors.values():
                stack.push_async_callback(connector.aclose)
            unplaced = sorted(n for n in connectors if not (enabled.get(n) and enabled[n].base_url))
            if unplaced:
                # A department with no address is a configuration mistake, never a
                # silent outage (the embedded demo fills these in before we get here).
                raise ServicesError(
                    f"connector {unplaced[0]!r} has no base_url: set [connectors.{unplaced[0]}] base_url, "
                    f"or enabled = false (hub.embedded simulates the built-in departments)"
                )

            directory = _directory(connectors, settings)
            try:
                parts = parts_of(connectors)
            except PartLoadError as exc:
                raise ServicesError(str(exc)) from exc

            registry = await Registry.open(settings.registry.database_url)
            stack.push_async_callback(registry.close)

            changes = build_feed(settings)
            await changes.start()
            stack.push_async_callback(changes.aclose)
            matter_index = MatterIndex(
                directory,
                connectors,
                refresh_s=settings.hub.index_refresh_s,
                as_of=functools.partial(today, settings),
            )
            stack.push_async_callback(matter_index.aclose)
        except BaseException:
            await stack.aclose()
            raise
        return cls(
            settings=settings,
            connectors=dict(connectors),
            directory=directory,
            registry=registry,
            cache=cache,
            matter_index=matter_index,
            parts=parts,
            clients=clients,
            changes=changes,
            _exit=stack,
        )

    async def aclose(self) -> None:
        """Close connectors, clients, the registry and the cache (reverse order)."""
        if self._exit is not None:
            stack, self._exit = self._exit, None
            await stack.aclose()


def _default_connector_settings() -> Any:
    from connectors.settings import ConnectorSettings

    return ConnectorSettings()


def _directory(connectors: Mapping[str, Connector], settings: Settings) -> ProjectDirectory:
    """The connector that lists projects: ``hub.directory`` (planning by default)."""
    name = settings.hub.directory
    connector = connectors.get(name)
    if connector is None:
        raise ServicesError(f"the project directory connector {name!r} is not configured or not enabled")
    if not isinstance(connector, ProjectDirectory):
        raise ServicesError(f"connector {name!r} cannot act as the project directory")
    return connector


async def _close_cache(cache: BaseCache) -> None:
    close = getattr(cache, "close", None)
    if close is not None:
        await close()
