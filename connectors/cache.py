"""The shared answer cache: in-memory by default, Redis when configured.

Several hub replicas pointed at one Redis share answers (and stale answers),
so a matter fetched through one replica is served by the other without a
department call. Values are pickled: they are the hub's own frozen records,
written and read only by the hub. aiocache 0.12 is used the way 1.0 also
supports: cache instances are built and passed explicitly, never through
aiocache's global ``caches`` registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote, urlsplit

from aiocache import SimpleMemoryCache
from aiocache.serializers import PickleSerializer

from domain.errors import ConfigError

if TYPE_CHECKING:
    from aiocache.base import BaseCache

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
    return RedisCache(
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
