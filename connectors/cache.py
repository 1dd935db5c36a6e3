"""The shared answer cache: in-memory by default, Redis when configured.

Several hub replicas pointed at one Redis share answers (and stale answers),
so a matter fetched through one replica is served by the other without a
department call. Values are pickled: they are the hub's own frozen records,
written and read only by the hub. aiocache 0.12 is used the way 1.0 also
supports: cache instances are built and passed explicitly, never through
aiocache's global ``caches`` registry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlsplit

from aiocache import SimpleMemoryCache
from aiocache.serializers import PickleSerializer

from domain.errors import ConfigError

if TYPE_CHECKING:
    from aiocache.base import BaseCache

log = logging.getLogger("onematter.cache")

# A Redis round trip slower than this is treated as a cache miss (the pipeline
# logs it and goes to the department) instead of eating the call's deadline.
REDIS_TIMEOUT_S = 0.25


class CacheBackendSettings(Protocol):
    @property
    def backend(self) -> str: ...
    @property
    def redis_url(self) -> str | None: ...
    @property
    def namespace(self) -> str: ...


class CacheConfigError(ConfigError):
    """The cache settings are unusable; the message says which setting (never a password)."""


def build_cache(settings: CacheBackendSettings) -> BaseCache:
    """An aiocache cache for ``[cache]``: ``backend = "memory" | "redis"``, ``redis_url``, ``namespace``."""
    if settings.backend == "memory":
        # timeout=None: no asyncio.wait_for around dict operations on the hot path.
        return SimpleMemoryCache(namespace=settings.namespace, timeout=None)
    if settings.backend == "redis":
        return _redis_cache(settings.redis_url, settings.namespace)
    raise CacheConfigError(f"cache.backend must be 'memory' or 'redis', not {settings.backend!r}")


def _redis_cache(url: str | None, namespace: str) -> BaseCache:
    from aiocache import RedisCache  # needs the redis package; imported only when used

    if not url:
        raise CacheConfigError("cache.backend is 'redis' but cache.redis_url is not set")
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise CacheConfigError("cache.redis_url must start with redis:// or rediss://")
    try:
        port = parts.port or 6379
    except ValueError as exc:
        raise CacheConfigError("cache.redis_url has an invalid port") from exc
    db_text = parts.path.lstrip("/") or "0"
    if not db_text.isdigit():
        raise CacheConfigError("cache.redis_url must name a numeric database (redis://host:6379/0)")
    return FallbackCache(
        RedisCache(
            serializer=PickleSerializer(),
            namespace=namespace,
            timeout=REDIS_TIMEOUT_S,
            endpoint=parts.hostname or "127.0.0.1",
            port=port,
            db=int(db_text),
            password=unquote(parts.password) if parts.password else None,
            ssl=parts.scheme == "rediss",
            create_connection_timeout=REDIS_TIMEOUT_S,
        )
    )


# After a failed Redis call, this long goes by before Redis is tried again (a Redis
# that is down is not asked, and waited for, on every lookup).
RETRY_PRIMARY_S = 5.0


class OutageWindow:
    """Failures of a shared service, logged as one warning line per kind per outage window.

    The first failure opens a window of ``window_s``; while it is open, ``degraded``
    is true and each kind of failure (a read, a write, an exception class, as the
    caller names it) is logged once, without a traceback. The next failure after
    the window has gone by opens a new one and is logged again, so an outage that
    lasts shows one line per kind every ``window_s``, not one per call.
    """

    def __init__(self, window_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self.clock = clock
        self._until = 0.0
        self._logged: set[Hashable] = set()

    @property
    def degraded(self) -> bool:
        return self.clock() < self._until

    def failed(self, kind: Hashable, logger: logging.Logger, message: str, *args: object) -> None:
        """Record one failure; log ``message % args`` if ``kind`` was not logged in this window."""
        if not self.degraded:
            self._until = self.clock() + self.window_s
            self._logged.clear()
        if kind not in self._logged:
            self._logged.add(kind)
            logger.warning(message, *args)


class FallbackCache:
    """The shared cache (Redis), with this process's memory standing in while it is down.

    Every call goes to ``primary``; when it fails, the call is answered from an
    in-memory cache instead and Redis is left alone for ``retry_s``. Answers are
    then shared by no other replica (and the memory is per process), but each
    replica still caches: a Redis outage costs the sharing, not the cache.
    ``degraded`` says whether the memory is standing in now (``/readyz`` reports it).
    """

    def __init__(
        self,
        primary: BaseCache,
        *,
        retry_s: float = RETRY_PRIMARY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.fallback = SimpleMemoryCache(namespace=getattr(primary, "namespace", None), timeout=None)
        self.retry_s = retry_s
        self.clock = clock
        self._outage = OutageWindow(retry_s, clock=lambda: self.clock())

    @property
    def namespace(self) -> str | None:
        return getattr(self.primary, "namespace", None)

    def __getattr__(self, name: str) -> Any:
        # Anything else (aiocache's raw(), its settings) is the shared cache's own.
        return getattr(self.primary, name)

    @property
    def degraded(self) -> bool:
        return self._outage.degraded

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if not self.degraded:
            try:
                return await getattr(self.primary, method)(*args, **kwargs)
            except Exception as exc:
                self._outage.failed(
                    type(exc).__name__,
                    log,
                    "shared cache unreachable (%s); caching in memory for %g s",
                    type(exc).__name__,
                    self.retry_s,
                )
        return await getattr(self.fallback, method)(*args, **kwargs)

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call("get", *args, **kwargs)

    async def set(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call("set", *args, **kwargs)

    async def multi_get(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call("multi_get", *args, **kwargs)

    async def multi_set(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call("multi_set", *args, **kwargs)

    async def delete(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call("delete", *args, **kwargs)

    async def clear(self, *args: Any, **kwargs: Any) -> Any:
        return await self._call("clear", *args, **kwargs)

    async def close(self) -> None:
        try:
            await self.primary.close()
        finally:
            await self.fallback.close()
