"""The change feed: status changes the hub has seen, fanned out to every subscriber.

Where changes come from (see docs/portal.md): the matter index's refresh
diffs each project's department parts (``domain.changes.diff``), and a
department's webhook (gateway/webhooks.py) triggers an immediate refresh of
one project. Both publish here.

Two backends, chosen by ``[push] backend``:

* ``memory`` (the default with the in-memory cache): subscribers in this
  process hear what this process saw;
* ``redis`` (the default with the Redis cache): a change is claimed once
  across replicas (``SET NX`` on its id) and appended to a Redis stream; every
  replica reads the stream and hands each entry to its own subscribers, so a
  change detected by any replica reaches subscribers on all of them. The
  reader resumes from the last entry it read after a Redis hiccup, so nothing
  is lost while a subscriber stays connected.

A change id is announced once: the claim keeps a second replica (or a second
detection in this one) from publishing it again, and each process remembers
the ids it handed out. A subscriber too slow to keep up is closed with a
reason rather than silently skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domain.changes import Change
from domain.errors import ConfigError, SubscriptionEnded, TooManySubscriptions

if TYPE_CHECKING:
    from gateway.services import Services

log = logging.getLogger("onematter.changes")

RECENT_IDS = 10_000  # change ids each process remembers having handed out


class PushSettings(BaseModel):
    """The ``[push]`` section: the change feed, subscriptions and department webhooks."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["memory", "redis"] | None = Field(
        None, description="default: redis when [cache] backend is redis, else memory"
    )
    redis_url: str | None = Field(None, description="default: [cache] redis_url")
    stream_max_len: int = Field(10_000, ge=100, description="entries kept in the Redis stream")
    claim_ttl_s: int = Field(3_600, ge=60, description="how long a replica's claim on a change id lasts")
    max_subscriptions_per_connection: int = Field(10, ge=1)
    max_subscriptions_per_principal: int = Field(20, ge=1)
    connection_init_timeout_s: float = Field(10.0, gt=0, le=300)
    keepalive_s: float = Field(15.0, gt=0, le=300, description="pings on idle subscriptions")
    queue_size: int = Field(1_000, ge=10, description="updates buffered per subscriber before it is closed")
    webhook_tolerance_s: float = Field(300.0, ge=10, le=3_600)
    demo_script_s: float = Field(
        0.0, ge=0, description="embedded demo: move a few planted projects one step every N seconds (0: off)"
    )
    webhooks: dict[str, str] = Field(
        default_factory=dict,
        description="department -> environment variable holding its webhook secret "
        "(default ONEMATTER_WEBHOOK_SECRET_<DEPARTMENT>)",
    )


def push_settings(settings: Any) -> PushSettings:
    """The validated ``[push]`` section; raises :class:`ConfigError` naming the field."""
    try:
        return PushSettings.model_validate(getattr(settings, "push", None) or {})
    except ValidationError as exc:
        raise ConfigError(f"invalid [push] section: {exc}") from exc


_END = object()


@dataclass(eq=False)
class Subscription:
    """One subscriber's queue of changes; iterate it, ``close()`` it when done."""

    feed: ChangeFeed
    owner: str
    queue: asyncio.Queue[Any]
    closed: bool = False
    reason: str | None = None

    def __aiter__(self) -> AsyncIterator[Change]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Change]:
        while True:
            item = await self.queue.get()
            if item is _END:
                if self.reason is not None:
                    raise SubscriptionEnded(self.reason)
                return
            yield item

    async def next(self, wait_s: float | None) -> Change | None:
        """The next change, or None when the feed ended it cleanly or ``wait_s`` passed."""
        try:
            item = await asyncio.wait_for(self.queue.get(), wait_s)
        except TimeoutError:
            return None
        if item is _END:
            self.queue.put_nowait(_END)  # stays ended for later calls
            if self.reason is not None:
                raise SubscriptionEnded(self.reason)
            return None
        assert isinstance(item, Change)
        return item

    def close(self) -> None:
        self.feed._forget(self)

    def _end(self, reason: str | None = None) -> None:
        if not self.closed:
            self.closed, self.reason = True, reason
            # Make room for the end marker: a full queue is exactly the too-slow case.
            while self.queue.full():
                self.queue.get_nowait()
            self.queue.put_nowait(_END)


@dataclass(eq=False)
class ChangeFeed:
    """The in-memory feed: fan-out to this process's subscribers, each change once."""

    max_per_principal: int = 20
    queue_size: int = 1_000
    _subscribers: set[Subscription] = field(default_factory=set)
    _recent: OrderedDict[str, None] = field(default_factory=OrderedDict)
    _claims: OrderedDict[str, None] = field(default_factory=OrderedDict)
    _closed: bool = False
    _joined: asyncio.Event = field(default_factory=asyncio.Event)
    watching: bool = False  # the matter index publishes here (see watch)

    # -- subscribing ---------------------------------------------------------------

    def subscribe(self, owner: str) -> Subscription:
        """A new subscription for ``owner`` (a principal key); raises :class:`TooManySubscriptions`."""
        if self._closed:
            raise SubscriptionEnded("the hub is shutting down")
        held = sum(1 for s in self._subscribers if s.owner == owner)
        if held >= self.max_per_principal:
            raise TooManySubscriptions(
                f"this caller already holds {held} subscriptions (at most {self.max_per_principal})"
            )
        subscription = Subscription(self, owner, asyncio.Queue(self.queue_size))
        self._subscribers.add(subscription)
        self._joined.set()
        return subscription

    def held(self, owner: str | None = None) -> int:
        """Subscriptions open now (``owner``'s only, if given)."""
        return sum(1 for s in self._subscribers if owner is None or s.owner == owner)

    async def until_held(self, count: int) -> None:
        """Return once at least ``count`` subscriptions are open."""
        while self.held() < count:
            self._joined.clear()
            await self._joined.wait()

    def _forget(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)
        subscription._end()

    # -- publishing ------------------------------------------------------------------

    async def publish(self, changes: Sequence[Change]) -> int:
        """Announce ``changes``; returns how many were new (not announced before)."""
        return self._deliver(changes)

    def _deliver(self, changes: Sequence[Change]) -> int:
        delivered = 0
        for change in changes:
            if change.id in self._recent:
                continue
            self._recent[change.id] = None
            if len(self._recent) > RECENT_IDS:
                self._recent.popitem(last=False)
            delivered += 1
            for subscription in list(self._subscribers):
                try:
                    subscription.queue.put_nowait(change)
                except asyncio.QueueFull:
                    self._subscribers.discard(subscription)
                    subscription._end("the subscriber fell behind: too many updates were waiting")
        return delivered

    async def claim(self, key: str, ttl_s: int) -> bool:
        """True the first time ``key`` is claimed (within ``ttl_s``): webhook event ids."""
        if key in self._claims:
            return False
        self._claims[key] = None
        if len(self._claims) > RECENT_IDS:
            self._claims.popitem(last=False)
        return True

    async def start(self) -> None:
        """Start whatever the backend needs (nothing in memory)."""

    async def aclose(self) -> None:
        """End every subscription cleanly (their streams complete) and stop."""
        self._closed = True
        for subscription in list(self._subscribers):
            self._forget(subscription)


@dataclass(eq=False)
class RedisChangeFeed(ChangeFeed):
    """Changes shared across replicas through a Redis stream; see the module docstring."""

    redis_url: str = ""
    namespace: str = "onematter"
    stream_max_len: int = 10_000
    claim_ttl_s: int = 3_600
    _client: Any = None
    _reader: asyncio.Task[None] | None = None
    _last_id: str = "$"

    @property
    def stream(self) -> str:
        return f"{self.namespace}:changes"

    async def start(self) -> None:
        from redis.asyncio import Redis

        self._client = Redis.from_url(self.redis_url)
        # Read from the stream's current end: start from its last id so nothing published
        # after this point is missed, even before the reader's first XREAD.
        last = await self._client.xrevrange(self.stream, count=1)
        self._last_id = last[0][0].decode() if last else "0-0"
        self._reader = asyncio.create_task(self._read(), name="change-feed-reader")

    async def publish(self, changes: Sequence[Change]) -> int:
        assert self._client is not None, "start() the feed first"
        published = 0
        for change in changes:
            claimed = await self._client.set(
                f"{self.namespace}:change:{change.id}", b"1", nx=True, ex=self.claim_ttl_s
            )
            if not claimed:
                continue  # another replica (or an earlier detection here) announced it
            payload = json.dumps(change.to_json(), ensure_ascii=False)
            await self._client.xadd(
                self.stream, {"change": payload}, maxlen=self.stream_max_len, approximate=True
            )
            published += 1
        return published

    async def claim(self, key: str, ttl_s: int) -> bool:
        assert self._client is not None, "start() the feed first"
        return bool(await self._client.set(f"{self.namespace}:claim:{key}", b"1", nx=True, ex=ttl_s))

    async def _read(self) -> None:
        backoff = 0.1
        while not self._closed:
            try:
                answer = await self._client.xread({self.stream: self._last_id}, block=1_000, count=100)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis away: retry from the last entry read, nothing skipped
                log.warning("change feed: reading the Redis stream failed; retrying", exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            for _stream, entries in answer or ():
                changes = []
                for entry_id, fields in entries:
                    self._last_id = entry_id.decode()
                    try:
                        changes.append(Change.from_json(json.loads(fields[b"change"])))
                    except (KeyError, ValueError, TypeError):
                        log.warning("change feed: skipping a malformed stream entry %s", self._last_id)
                self._deliver(changes)

    async def aclose(self) -> None:
        await super().aclose()
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def build_feed(settings: Any) -> ChangeFeed:
    """The feed ``[push]`` (and ``[cache]``) ask for; call ``await feed.start()`` before use."""
    push = push_settings(settings)
    cache = settings.cache
    backend = push.backend or ("redis" if cache.backend == "redis" else "memory")
    most, size = push.max_subscriptions_per_principal, push.queue_size
    if backend == "memory":
        return ChangeFeed(max_per_principal=most, queue_size=size)
    url = push.redis_url or cache.redis_url
    if not url:
        raise ConfigError("[push] backend is redis but neither push.redis_url nor cache.redis_url is set")
    return RedisChangeFeed(
        max_per_principal=most,
        queue_size=size,
        redis_url=url,
        namespace=cache.namespace,
        stream_max_len=push.stream_max_len,
        claim_ttl_s=push.claim_ttl_s,
    )


def watch(services: Services) -> None:
    """Connect change detection to the feed, once: the matter index's refreshes publish on it.

    The lifespan starts the index (``Services.start``); it refreshes every ``index_refresh_s``.
    """
    feed = services.changes
    if feed.watching:
        return
    services.matter_index.observe(feed.publish)
    feed.watching = True
