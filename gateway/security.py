"""Hard limits and the security layer around /graphql.

Two entry points, both driven by ``[limits]`` (validated by :class:`LimitsSettings`)
and ``[auth]`` (see ``gateway/auth.py``):

* :func:`middleware` — Starlette middleware, outermost first: security headers,
  CORS by allow list, request body size (413), authentication (401), a rate
  limit per principal (429 with ``Retry-After``), a deadline per request (504).
* :func:`extensions` — the Strawberry schema extensions of ``schema/limits.py``,
  configured: error masking (production), trusted documents, token, depth and
  alias limits, introspection off (production), root access for anonymous
  callers, a cost estimate, and the access log.

Every refusal is a JSON body shaped like a GraphQL response, with
``extensions.code``; none is a 500.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
import math
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

from domain.errors import ConfigError
from domain.principal import Principal, Role
from gateway.auth import AuthenticationError, authenticate, authenticator_for
from gateway.config import Settings, describe
from gateway.view import PersistedQueries
from schema.errors import HubErrors
from schema.limits import (
    CostEstimate,
    DocumentGuard,
    ListGuard,
    NoSuggestions,
    OperationGuard,
    TokenLimit,
    TrustedDocuments,
    ValidationRules,
    load_trusted_documents,
    validation_rules,
)

# ---------------------------------------------------------------------------------
# configuration


class RateLimitSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    requests_per_s: float = Field(50.0, gt=0, description="sustained rate per principal")
    burst: int = Field(100, ge=1, description="requests a principal may make at once")
    max_principals: int = Field(10_000, ge=100, description="buckets kept in memory (LRU)")


class CorsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allow_origins: list[str] = Field(default_factory=list, description="exact origins; empty: no CORS")
    max_age_s: int = 600
    allow_headers: list[str] = Field(
        default_factory=list,
        description="request headers allowed beyond the hub's own (e.g. a tracing header)",
    )
    expose_headers: list[str] = Field(
        default_factory=list, description="response headers a page may read beyond the hub's own"
    )


class LimitsSettings(BaseModel):
    """The ``[limits]`` section."""

    model_config = ConfigDict(extra="forbid")

    max_body_bytes: int = Field(65_536, ge=1_024)
    max_url_bytes: int = Field(8_192, ge=256)
    deadline_s: float = Field(
        15.0, gt=0, le=600, description="the whole request, from its first byte of body to the answer"
    )
    header_timeout_s: float = Field(
        10.0, gt=0, le=600, description="a request's head must arrive within this (408 and close)"
    )
    body_timeout_s: float = Field(
        10.0, gt=0, le=600, description="a request's body must arrive within this (408 and close)"
    )
    idle_timeout_s: float = Field(
        5.0, gt=0, le=3_600, description="a keep-alive connection with no request is closed after this"
    )
    max_header_bytes: int = Field(32_768, ge=4_096, description="request line and headers (431)")
    max_depth: int = Field(10, ge=1)
    max_aliases: int = Field(20, ge=0)
    max_tokens: int = Field(2_000, ge=10)
    max_cost: int = Field(25_000, ge=1)
    max_fields: int = Field(1_000, ge=10, description="fields selected once fragments are expanded")
    max_repeats: int = Field(10, ge=1, description="times one selection set may ask for the same key")
    default_page_size: int = Field(20, ge=1, description="cost of a paged list without `first`")
    default_list_size: int = Field(10, ge=1, description="cost multiplier of an unpaged list")
    list_sizes: dict[str, int] = Field(
        default_factory=dict, description="'Type.field' -> expected length, overriding default_list_size"
    )
    trusted_documents: Path | None = Field(
        None, description="a persisted-query manifest; when set, only its documents execute"
    )
    router_secret_env: str | None = Field(
        None,
        description="trusted-documents mode behind a router: the env var holding the secret the router "
        "sends in X-OneMatter-Router; such requests may run the router's own subgraph queries",
    )
    introspection: bool | None = Field(None, description="default: on in demo, off in production")
    mask_errors: bool | None = Field(None, description="default: off in demo, on in production")
    service_roles: list[Role] = Field(
        default_factory=lambda: [Role.INTEGRATOR],
        description="production: the roles that may read _service (give the router a token with one)",
    )
    public_fields: list[str] = Field(
        default_factory=lambda: ["approvalGuide"], description="root fields anonymous callers may use"
    )
    exempt_paths: list[str] = Field(
        default_factory=lambda: ["/healthz", "/livez", "/readyz", "/metrics", "/static/"],
        description="paths without authentication, rate limit or deadline",
    )
    persisted_queries: bool = Field(
        True, description="automatic persisted queries (APQ), stored in the shared cache"
    )
    persisted_query_ttl_s: float = Field(86_400.0, gt=0, description="how long an APQ document is kept")
    gzip_min_bytes: int = Field(1_024, ge=0, description="answers at least this big are gzipped; 0: never")
    max_list_items: int = Field(100, ge=1, description="entries of any list argument")
    max_entities: int = Field(
        500, ge=1, description="representations in one _entities call (a router's batch of references)"
    )
    rate_limit: RateLimitSettings = RateLimitSettings()
    cors: CorsSettings = CorsSettings()


def limits_settings(settings: Settings) -> LimitsSettings:
    """The validated ``[limits]`` section; raises :class:`ConfigError` naming the field."""
    try:
        return LimitsSettings.model_validate(settings.limits)
    except ValidationError as exc:
        raise ConfigError(describe(exc, ("limits",))) from None


def _production(settings: Settings) -> bool:
    return settings.hub.mode == "production"


# ---------------------------------------------------------------------------------
# ASGI middleware


def error_body(message: str, code: str, **extra: object) -> bytes:
    return json.dumps(
        {"data": None, "errors": [{"message": message, "extensions": {"code": code, **extra}}]},
        ensure_ascii=False,
    ).encode()


async def send_error(
    send: Send,
    status: int,
    message: str,
    code: str,
    headers: Mapping[str, str] | None = None,
    **extra: object,
) -> None:
    body = error_body(message, code, **extra)
    raw = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _declares_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return bool(value.split(b";")[0].strip().lower() == b"application/json")
    return False


class ExemptPaths:
    """Is a request's path exempt: equal to one of ``prefixes``, or under one that ends in ``/``.

    Built once per middleware from ``[limits] exempt_paths``: a set lookup and one
    ``startswith`` per request instead of a loop over the list.
    """

    __slots__ = ("exact", "folders")

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        self.exact = frozenset(prefixes)
        self.folders = tuple(p for p in prefixes if p.endswith("/"))

    def __call__(self, scope: Scope) -> bool:
        path: str = scope.get("path", "")
        return path in self.exact or path.startswith(self.folders)


# Self-hosted GraphiQL: scripts and styles from this origin only. Inline styles
# stay allowed because the editor sets them from script; inline scripts do not.
IDE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"


def _security_headers(csp: str) -> tuple[tuple[bytes, bytes], ...]:
    return (
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"content-security-policy", csp.encode()),
        (b"cross-origin-opener-policy", b"same-origin"),
    )


# Built once per process: the headers SecurityHeadersMiddleware adds, for HTML and for the rest.
_HTML_HEADERS = _security_headers(IDE_CSP)
_API_HEADERS = _security_headers(API_CSP)
_SECURITY_NAMES = frozenset(name for name, _ in _API_HEADERS)


class SecurityHeadersMiddleware:
    """Headers a browser expects; a strict CSP on HTML (the GraphiQL page)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                content_type: bytes | None = None
                names: set[bytes] | None = None  # only when the app set one of ours itself
                for name, value in headers:
                    lowered = name.lower()
                    if lowered == b"content-type":
                        if content_type is None:
                            content_type = value
                    elif names is None and lowered in _SECURITY_NAMES:
                        names = {k.lower() for k, _ in headers}
                ours = (
                    _HTML_HEADERS if content_type and content_type.startswith(b"text/html") else _API_HEADERS
                )
                if names is None:
                    headers += ours
                else:
                    headers += [(name, value) for name, value in ours if name not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


STARTED_STATE_KEY = "onematter.started"  # loop time the request reached the hub (DeadlineMiddleware)


class BodyLimitMiddleware:
    """Refuse bodies over ``max_body`` bytes (413), URLs over ``max_url`` bytes (414),
    and bodies that do not arrive within ``body_timeout_s`` (408, connection closed).

    The body is read up to the limit before the app sees it, so a slow or lying
    client (no or wrong Content-Length) cannot make the app buffer more, nor hold
    a request open by trickling its body.
    """

    def __init__(self, app: ASGIApp, *, max_body: int, max_url: int, body_timeout_s: float = 10.0) -> None:
        self.app = app
        self.max_body = max_body
        self.max_url = max_url
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})[STARTED_STATE_KEY] = asyncio.get_running_loop().time()
        if len(scope.get("raw_path") or b"") + len(scope.get("query_string", b"")) > self.max_url:
            await send_error(send, 414, f"the URL is longer than {self.max_url} bytes", "URL_TOO_LONG")
            return
        declared: str | None = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                declared = value.decode("latin-1")
                break
        if declared is not None:
            if not declared.isdigit():
                await send_error(send, 400, "the Content-Length header is not a number", "BAD_REQUEST")
                return
            if int(declared) > self.max_body:
                await self._too_large(send)
                return
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_body:
                        await self._too_large(send)
                        return
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            await send_error(
                send,
                408,
                f"the request body did not arrive within {self.body_timeout_s:g} s",
                "REQUEST_TIMEOUT",
                {"Connection": "close"},
            )
            return
        body = b"".join(chunks)
        if _declares_json(scope) and body.lstrip()[:1] not in (b"{", b"["):
            # Strawberry would fail on a JSON scalar body (a 500); a GraphQL request is an object.
            await send_error(send, 400, "the request body must be a JSON object", "BAD_REQUEST")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        await send_error(
            send,
            413,
            f"the request body is larger than {self.max_body} bytes",
            "PAYLOAD_TOO_LARGE",
            limit=self.max_body,
        )


class AuthMiddleware:
    """Authenticate once per request; a bad token gets 401 here, before any GraphQL work."""

    def __init__(self, app: ASGIApp, *, settings: Settings, exempt: tuple[str, ...]) -> None:
        self.app = app
        self.settings = settings
        self.exempt = exempt
        self.is_exempt = ExemptPaths(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.is_exempt(scope) or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        try:
            authenticate(HTTPConnection(scope), self.settings)
        except AuthenticationError as exc:
            await send_error(send, 401, exc.reason, exc.code, exc.headers())
            return
        await self.app(scope, receive, send)


class TokenBucket:
    """Per-key token buckets in memory, least recently used keys evicted first."""

    def __init__(
        self, *, rate: float, burst: int, max_keys: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """0 when a request may go ahead, else the seconds until one may."""
        now = self.clock()
        tokens, last = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait


def principal_key(scope: Scope, principal: Principal) -> str:
    if principal.authenticated:
        return f"{principal.role}:{principal.subject}"
    client = scope.get("client") or ("unknown", 0)
    return f"anonymous:{client[0]}"


class RateLimitMiddleware:
    """429 with ``Retry-After`` once a principal's bucket is empty (per process)."""

    def __init__(self, app: ASGIApp, *, settings: Settings, bucket: TokenBucket, exempt: tuple[str, ...]):
        self.app = app
        self.settings = settings
        self.bucket = bucket
        self.exempt = exempt
        self.is_exempt = ExemptPaths(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.is_exempt(scope) or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        principal = authenticate(HTTPConnection(scope), self.settings)  # cached by AuthMiddleware
        wait = self.bucket.take(principal_key(scope, principal))
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            await send_error(
                send,
                429,
                f"rate limit exceeded: retry after {retry_after} s",
                "RATE_LIMITED",
                {"Retry-After": str(retry_after)},
                retryAfter=retry_after,
            )
            return
        await self.app(scope, receive, send)


STREAMING_TYPES = (b"text/event-stream", b"multipart/mixed")


class DeadlineMiddleware:
    """Cut a request off after ``deadline_s``: 504 with a GraphQL error, never a 500.

    A streamed answer (a subscription over SSE or multipart) is bounded until its
    response starts; from then on it lasts as long as the subscription.
    """

    def __init__(self, app: ASGIApp, *, deadline_s: float, exempt: tuple[str, ...]) -> None:
        self.app = app
        self.deadline_s = deadline_s
        self.exempt = exempt
        self.is_exempt = ExemptPaths(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.is_exempt(scope):
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                content_type = next(
                    (v for k, v in message.get("headers", ()) if k.lower() == b"content-type"), b""
                )
                if content_type.split(b";")[0].strip().lower() in STREAMING_TYPES:
                    deadline.reschedule(None)
            await send(message)

        # The deadline runs from when the request reached the hub: reading its body counts.
        loop = asyncio.get_running_loop()
        began = scope.get("state", {}).get(STARTED_STATE_KEY, loop.time())
        deadline = asyncio.timeout_at(began + self.deadline_s)
        try:
            async with deadline:
                await self.app(scope, receive, tracking_send)
        except TimeoutError:
            if not started:
                await send_error(
                    send,
                    504,
                    f"the request did not finish within its deadline of {self.deadline_s:g} s",
                    "DEADLINE_EXCEEDED",
                )


CORS_ALLOW_HEADERS = (
    "Authorization",
    "Content-Type",
    "Accept",
    "X-Case-Number",
    "X-Request-Id",
    "traceparent",
)
CORS_EXPOSE_HEADERS = ("Retry-After", "X-Request-Id")


def _merged(defaults: tuple[str, ...], extra: list[str]) -> list[str]:
    merged = list(defaults)
    for header in extra:
        if header.lower() not in {h.lower() for h in merged}:
            merged.append(header)
    return merged


def middleware(settings: Settings) -> list[Middleware]:
    """The security middleware stack for ``settings``, outermost first."""
    limits = limits_settings(settings)
    authenticator_for(settings)  # a bad [auth] section fails here, when the app is built
    exempt = tuple(limits.exempt_paths)
    stack = [Middleware(SecurityHeadersMiddleware)]
    if limits.gzip_min_bytes:
        # Only for callers that send Accept-Encoding: gzip (routers and browsers do).
        stack.append(Middleware(GZipMiddleware, minimum_size=limits.gzip_min_bytes))
    if limits.cors.allow_origins:
        if "*" in limits.cors.allow_origins and _production(settings):
            raise ConfigError("[limits.cors] allow_origins may not contain '*' in production mode")
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=limits.cors.allow_origins,
                allow_methods=["GET", "POST"],
                allow_headers=_merged(CORS_ALLOW_HEADERS, limits.cors.allow_headers),
                expose_headers=_merged(CORS_EXPOSE_HEADERS, limits.cors.expose_headers),
                max_age=limits.cors.max_age_s,
            )
        )
    stack.append(
        Middleware(
            BodyLimitMiddleware,
            max_body=limits.max_body_bytes,
            max_url=limits.max_url_bytes,
            body_timeout_s=min(limits.body_timeout_s, limits.deadline_s),
        )
    )
    stack.append(Middleware(AuthMiddleware, settings=settings, exempt=exempt))
    if limits.rate_limit.enabled:
        bucket = TokenBucket(
            rate=limits.rate_limit.requests_per_s,
            burst=limits.rate_limit.burst,
            max_keys=limits.rate_limit.max_principals,
        )
        stack.append(Middleware(RateLimitMiddleware, settings=settings, bucket=bucket, exempt=exempt))
    stack.append(Middleware(DeadlineMiddleware, deadline_s=limits.deadline_s, exempt=exempt))
    return stack


def persisted_queries(settings: Settings, cache: Callable[[], Any]) -> PersistedQueries | None:
    """APQ for /graphql, or None: turned off, or trusted-documents mode (only its manifest runs)."""
    limits = limits_settings(settings)
    if not limits.persisted_queries or limits.trusted_documents is not None:
        return None
    return PersistedQueries(cache, ttl_s=limits.persisted_query_ttl_s)


ROUTER_HEADER = "X-OneMatter-Router"


def _router_check(limits: LimitsSettings) -> Callable[[Any], bool] | None:
    """For trusted-documents mode behind a router: is this request the router's own?

    The router enforces the trusted documents for its clients and then sends the
    hub queries of its own making (entity fetches, the SDL); it proves it is the
    router with a shared secret in ``X-OneMatter-Router``. The caller's token
    still decides what each field shows.
    """
    if limits.router_secret_env is None:
        return None
    secret = os.environ.get(limits.router_secret_env, "")
    if len(secret.encode()) < 32:
        raise ConfigError(
            f"[limits] router_secret_env names ${limits.router_secret_env}, which must hold at least 32 bytes"
        )
    expected = secret.encode()

    def from_router(context: Any) -> bool:
        request = getattr(context, "request", None)
        headers = getattr(request, "headers", None)
        sent = headers.get(ROUTER_HEADER) if headers is not None else None
        return sent is not None and hmac.compare_digest(sent.encode(), expected)

    return from_router


def extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Strawberry extension factories for ``settings`` (a fresh instance per request)."""
    limits = limits_settings(settings)
    production = _production(settings)
    introspection = limits.introspection if limits.introspection is not None else not production
    mask = limits.mask_errors if limits.mask_errors is not None else production
    if production and introspection:
        raise ConfigError("[limits] introspection = true is not allowed in production mode")

    factories: list[Callable[[], SchemaExtension]] = []
    if production:
        factories.append(NoSuggestions)
    if mask:
        # First in the list, so its after-operation step runs last and sees every error.
        factories.append(functools.partial(HubErrors, scrub=True))
    if limits.trusted_documents is not None:
        from gateway.portal import trusted_portal_documents

        # The reference portal's own documents are registered too: it is a client shipped with the hub.
        documents = {**trusted_portal_documents(), **load_trusted_documents(limits.trusted_documents)}
        factories.append(functools.partial(TrustedDocuments, documents, exempt=_router_check(limits)))
    factories.append(functools.partial(TokenLimit, max_token_count=limits.max_tokens))
    factories.append(
        functools.partial(DocumentGuard, max_fields=limits.max_fields, max_repeats=limits.max_repeats)
    )
    rules = validation_rules(
        max_depth=limits.max_depth, max_aliases=limits.max_aliases, introspection=introspection
    )
    factories.append(functools.partial(ValidationRules, rules))
    estimate = CostEstimate(
        default_page_size=limits.default_page_size,
        default_list_size=limits.default_list_size,
        list_sizes=limits.list_sizes,
    )
    factories.append(
        functools.partial(
            OperationGuard,
            # The federation SDL (_service) is as open as introspection: a router may fetch it.
            public=frozenset(limits.public_fields) | ({"_service"} if introspection else set()),
            estimate=estimate,
            max_cost=limits.max_cost,
            service_roles=frozenset(r.value for r in limits.service_roles) if production else None,
        )
    )
    # After the operation guard: a caller who may not run the fields hears that first.
    factories.append(
        functools.partial(ListGuard, max_items=limits.max_list_items, max_entities=limits.max_entities)
    )
    from schema.audit import AccessLogRecorder

    factories.append(AccessLogRecorder)
    return factories
