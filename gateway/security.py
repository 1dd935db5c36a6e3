"""Hard limits and the security layer around /graphql.

Two entry points, both driven by ``[limits]`` (validated by :class:`LimitsSettings`)
and ``[auth]`` (see ``gateway/auth.py``):

* :func:`middleware` — Starlette middleware, outermost first: security headers,
  CORS by allow list, request body size (413), authentication (401), a rate
  limit per principal (429 with ``Retry-After``), a deadline per request (504).
* :func:`extensions` — Strawberry schema extensions: error masking (production),
  trusted documents, token, depth and alias limits, introspection off
  (production), root access for anonymous callers, a cost estimate, and the
  access log.

Every refusal is a JSON body shaped like a GraphQL response, with
``extensions.code``; none is a 500.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import math
import re
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from graphql import (
    ExecutionResult as GraphQLExecutionResult,
)
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_operation_ast,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import (
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from gateway.auth import AuthenticationError, authenticate, authenticator_for
from gateway.config import ConfigError, Settings
from gateway.principal import Principal

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


class LimitsSettings(BaseModel):
    """The ``[limits]`` section."""

    model_config = ConfigDict(extra="forbid")

    max_body_bytes: int = Field(65_536, ge=1_024)
    max_url_bytes: int = Field(8_192, ge=256)
    deadline_s: float = Field(15.0, gt=0, le=600)
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
    introspection: bool | None = Field(None, description="default: on in demo, off in production")
    mask_errors: bool | None = Field(None, description="default: off in demo, on in production")
    public_fields: list[str] = Field(
        default_factory=lambda: ["approvalGuide"], description="root fields anonymous callers may use"
    )
    exempt_paths: list[str] = Field(
        default_factory=lambda: ["/healthz", "/livez", "/readyz", "/metrics", "/static/"],
        description="paths without authentication, rate limit or deadline",
    )
    rate_limit: RateLimitSettings = RateLimitSettings()
    cors: CorsSettings = CorsSettings()


def limits_settings(settings: Settings) -> LimitsSettings:
    """The validated ``[limits]`` section; raises :class:`ConfigError` naming the field."""
    try:
        return LimitsSettings.model_validate(settings.limits)
    except ValidationError as exc:
        raise ConfigError(f"invalid [limits] section: {exc}") from exc


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


def _exempt(scope: Scope, prefixes: tuple[str, ...]) -> bool:
    path: str = scope.get("path", "")
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in prefixes)


# Self-hosted GraphiQL: scripts and styles from this origin only. Inline styles
# stay allowed because the editor sets them from script; inline scripts do not.
IDE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"


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
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                csp = IDE_CSP if content_type.startswith(b"text/html") else API_CSP
                for name, value in (
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                    (b"content-security-policy", csp.encode()),
                    (b"cross-origin-opener-policy", b"same-origin"),
                ):
                    if name not in names:
                        headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimitMiddleware:
    """Refuse bodies over ``max_body`` bytes (413) and URLs over ``max_url`` bytes (414).

    The body is read up to the limit before the app sees it, so a slow or lying
    client (no or wrong Content-Length) cannot make the app buffer more.
    """

    def __init__(self, app: ASGIApp, *, max_body: int, max_url: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_url = max_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope.get("raw_path") or b"") + len(scope.get("query_string", b"")) > self.max_url:
            await send_error(send, 414, f"the URL is longer than {self.max_url} bytes", "URL_TOO_LONG")
            return
        declared = HTTPConnection(scope).headers.get("content-length")
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _exempt(scope, self.exempt) or scope.get("method") == "OPTIONS":
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _exempt(scope, self.exempt) or scope.get("method") == "OPTIONS":
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


class DeadlineMiddleware:
    """Cut a request off after ``deadline_s``: 504 with a GraphQL error, never a 500."""

    def __init__(self, app: ASGIApp, *, deadline_s: float, exempt: tuple[str, ...]) -> None:
        self.app = app
        self.deadline_s = deadline_s
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _exempt(scope, self.exempt):
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            async with asyncio.timeout(self.deadline_s):
                await self.app(scope, receive, tracking_send)
        except TimeoutError:
            if not started:
                await send_error(
                    send,
                    504,
                    f"the request did not finish within its deadline of {self.deadline_s:g} s",
                    "DEADLINE_EXCEEDED",
                )


def middleware(settings: Settings) -> list[Middleware]:
    """The security middleware stack for ``settings``, outermost first."""
    limits = limits_settings(settings)
    authenticator_for(settings)  # a bad [auth] section fails here, when the app is built
    exempt = tuple(limits.exempt_paths)
    stack = [Middleware(SecurityHeadersMiddleware)]
    if limits.cors.allow_origins:
        if "*" in limits.cors.allow_origins and _production(settings):
            raise ConfigError("[limits.cors] allow_origins may not contain '*' in production mode")
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=limits.cors.allow_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "Accept", "X-Case-Number", "X-Request-Id"],
                expose_headers=["Retry-After", "X-Request-Id"],
                max_age=limits.cors.max_age_s,
            )
        )
    stack.append(
        Middleware(BodyLimitMiddleware, max_body=limits.max_body_bytes, max_url=limits.max_url_bytes)
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


# ---------------------------------------------------------------------------------
# Strawberry extensions


def principal_of(context: Any) -> Principal:
    """The principal in a GraphQL context (the gateway's ``Context`` or a test dict)."""
    principal = (
        context.get("principal") if isinstance(context, Mapping) else getattr(context, "principal", None)
    )
    if isinstance(principal, Principal):
        return principal
    from gateway.principal import ANONYMOUS

    return ANONYMOUS


def _refuse(execution_context: Any, message: str, code: str, **extra: object) -> None:
    """Stop before execution with one error (strawberry skips execution when a result is set)."""
    execution_context.result = GraphQLExecutionResult(
        data=None, errors=[GraphQLError(message, extensions={"code": code, **extra})]
    )


class CostEstimate:
    """An upper bound of the work a document asks for.

    Every field costs 1; the cost of a field's selection is multiplied by how
    many objects it may return: the ``first``/``last`` argument for a paged
    field (else its declared default, else ``default_page_size``), or for a plain
    list ``list_sizes['Type.field']`` (else ``default_list_size``). A list right
    under a paged field (``edges``, ``nodes``) is covered by that field's page.
    Introspection counts 1 per root field: it is cheap and limited elsewhere.
    """

    def __init__(self, *, default_page_size: int, default_list_size: int, list_sizes: Mapping[str, int]):
        self.default_page_size = default_page_size
        self.default_list_size = default_list_size
        self.list_sizes = dict(list_sizes)

    def of(
        self,
        schema: GraphQLSchema,
        document: Any,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
    ) -> int:
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            return 0
        root = schema.get_root_type(operation.operation)
        if root is None:
            return 0
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        walk = _CostWalk(self, schema, fragments, variables or {}, operation)
        return walk.selection(operation.selection_set, root, paged=False, visiting=frozenset())


class _CostWalk:
    def __init__(
        self,
        estimate: CostEstimate,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        operation: OperationDefinitionNode,
    ) -> None:
        self.estimate = estimate
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.defaults = {v.variable.name.value: v.default_value for v in operation.variable_definitions or ()}

    def selection(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLNamedType,
        *,
        paged: bool,
        visiting: frozenset[str],
    ) -> int:
        total = 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                total += self.field(node, parent, paged=paged, visiting=visiting)
            elif isinstance(node, InlineFragmentNode):
                target = (
                    self.schema.get_type(node.type_condition.name.value) if node.type_condition else parent
                )
                if target is not None:
                    total += self.selection(node.selection_set, target, paged=paged, visiting=visiting)
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in visiting:
                    continue  # unknown or circular: validation refuses these anyway
                target = self.schema.get_type(fragment.type_condition.name.value)
                if target is not None:
                    total += self.selection(
                        fragment.selection_set, target, paged=paged, visiting=visiting | {name}
                    )
        return total

    def field(
        self, node: FieldNode, parent: GraphQLNamedType, *, paged: bool, visiting: frozenset[str]
    ) -> int:
        name = node.name.value
        if name.startswith("__") or not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return 1
        definition = parent.fields.get(name)
        if definition is None:
            return 1
        named = get_named_type(definition.type)
        if node.selection_set is None or not isinstance(
            named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType
        ):
            return 1
        field_type = (
            definition.type.of_type if isinstance(definition.type, GraphQLNonNull) else definition.type
        )
        size = self.page_size(node, definition)
        if size is not None:
            # A paged field returning a connection object: its edges/nodes list is the page.
            covered = not isinstance(field_type, GraphQLList)
            inner = self.selection(node.selection_set, named, paged=covered, visiting=visiting)
            return 1 + size * inner
        if isinstance(field_type, GraphQLList):
            # A list right under a paged field (edges, nodes) is that page.
            key = f"{parent.name}.{name}"
            multiplier = 1 if paged else self.estimate.list_sizes.get(key, self.estimate.default_list_size)
            inner = self.selection(node.selection_set, named, paged=False, visiting=visiting)
        else:
            multiplier = 1
            inner = self.selection(node.selection_set, named, paged=paged, visiting=visiting)
        return 1 + multiplier * inner

    def page_size(self, node: FieldNode, definition: Any) -> int | None:
        declared = next((a for a in ("first", "last") if a in definition.args), None)
        if declared is None:
            return None
        for argument in node.arguments or ():
            if argument.name.value not in ("first", "last"):
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return max(0, int(value.value))
            if isinstance(value, VariableNode):
                raw = self.variables.get(value.name.value)
                if raw is None and isinstance(self.defaults.get(value.name.value), IntValueNode):
                    raw = int(self.defaults[value.name.value].value)  # type: ignore[union-attr]
                if isinstance(raw, int) and not isinstance(raw, bool):
                    return max(0, raw)
        default = definition.args[declared].default_value
        if isinstance(default, int) and not isinstance(default, bool):
            return default
        return self.estimate.default_page_size


def root_fields(document: Any, operation_name: str | None) -> set[str]:
    """Names of the root fields an operation selects (through fragments)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return set()
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    names: set[str] = set()

    def visit(selection_set: SelectionSetNode, seen: frozenset[str]) -> None:
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                names.add(node.name.value)
            elif isinstance(node, InlineFragmentNode):
                visit(node.selection_set, seen)
            elif isinstance(node, FragmentSpreadNode) and node.name.value not in seen:
                fragment = fragments.get(node.name.value)
                if fragment is not None:
                    visit(fragment.selection_set, seen | {node.name.value})

    visit(operation.selection_set, frozenset())
    return names


class _TooBig(Exception):
    pass


class _Repeated(Exception):
    def __init__(self, key: str, count: int) -> None:
        super().__init__(key)
        self.key = key
        self.count = count


def expanded_fields(document: Any, limit: int, max_repeats: int = 10**9) -> int:
    """How many fields the document's operations select once fragments are expanded.

    Memoised per fragment, so a fragment bomb (each fragment spreading the one
    before twice) costs linear time here; stops counting past ``limit``. Raises
    ``ValueError`` on a fragment cycle and :class:`_Repeated` when one selection
    set (fragments merged in) asks for the same response key more than
    ``max_repeats`` times: graphql-core's overlapping-fields check is quadratic in that.
    """
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    memo: dict[str, tuple[int, Counter[str]]] = {}
    active: set[str] = set()

    def of_set(selection_set: SelectionSetNode) -> tuple[int, Counter[str]]:
        total = 0
        keys: Counter[str] = Counter()
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                total += 1 + (of_set(node.selection_set)[0] if node.selection_set else 0)
                keys[(node.alias or node.name).value] += 1
            elif isinstance(node, InlineFragmentNode):
                size, inner = of_set(node.selection_set)
                total += size
                keys.update(inner)
            elif isinstance(node, FragmentSpreadNode):
                size, inner = of_fragment(node.name.value)
                total += size
                keys.update(inner)
            if total > limit:
                raise _TooBig
        if keys:
            key, count = keys.most_common(1)[0]
            if count > max_repeats:
                raise _Repeated(key, count)
        return total, keys

    def of_fragment(name: str) -> tuple[int, Counter[str]]:
        if name in memo:
            return memo[name]
        if name in active:
            raise ValueError(name)
        fragment = fragments.get(name)
        if fragment is None:
            return 0, Counter()  # validation reports unknown fragments
        active.add(name)
        memo[name] = of_set(fragment.selection_set)
        active.discard(name)
        return memo[name]

    total = 0
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            total += of_set(definition.selection_set)[0]
            if total > limit:
                raise _TooBig
    return total


class DocumentGuard(SchemaExtension):
    """Before validation: refuse documents too big once fragments expand, and fragment cycles.

    Strawberry's depth and alias validators walk fragments without memoising;
    a small fragment bomb would keep them busy for seconds. This check is linear.
    """

    def __init__(self, *, max_fields: int, max_repeats: int) -> None:
        self.max_fields = max_fields
        self.max_repeats = max_repeats

    def on_validate(self) -> Iterator[None]:
        document = self.execution_context.graphql_document
        if document is not None:
            try:
                expanded_fields(document, self.max_fields, self.max_repeats)
            except _Repeated as exc:
                raise GraphQLError(
                    f"{exc.key[:64]!r} is selected {exc.count} times in one selection set "
                    f"(at most {self.max_repeats}); use fewer repeats",
                    extensions={"code": "QUERY_TOO_COMPLEX", "limit": self.max_repeats},
                ) from None
            except _TooBig:
                raise GraphQLError(
                    f"the document selects more than {self.max_fields} fields with its fragments expanded",
                    extensions={"code": "QUERY_TOO_COMPLEX", "limit": self.max_fields},
                ) from None
            except ValueError as exc:
                raise GraphQLError(
                    f"fragment {str(exc)[:64]!r} spreads itself (a fragment cycle)",
                    extensions={"code": "GRAPHQL_VALIDATION_FAILED"},
                ) from None
            except RecursionError:
                raise GraphQLError(
                    "the document is nested too deeply", extensions={"code": "QUERY_TOO_COMPLEX"}
                ) from None
        yield


class OperationGuard(SchemaExtension):
    """Before execution: anonymous callers reach only public root fields; the cost is bounded."""

    def __init__(self, *, public: frozenset[str], estimate: CostEstimate, max_cost: int) -> None:
        self.public = public
        self.estimate = estimate
        self.max_cost = max_cost

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.result is None:
            if get_operation_ast(document, context.operation_name) is None:
                _refuse(context, "name the operation to run (operationName)", "GRAPHQL_VALIDATION_FAILED")
                yield
                return
            principal = principal_of(context.context)
            if not principal.authenticated:
                closed = sorted(
                    n
                    for n in root_fields(document, context.operation_name)
                    if n not in self.public and n != "__typename" and not n.startswith("__")
                )
                if closed:
                    _refuse(
                        context,
                        f"sign in first: {', '.join(closed[:5])} needs an authenticated caller",
                        "FORBIDDEN",
                        fields=closed[:20],
                    )
            if context.result is None:
                cost = self.estimate.of(
                    context.schema._schema, document, context.operation_name, context.variables
                )
                if cost > self.max_cost:
                    _refuse(
                        context,
                        f"the query's estimated cost {cost} exceeds the limit {self.max_cost}; "
                        "ask for smaller pages (first) or fewer fields",
                        "QUERY_TOO_COSTLY",
                        cost=cost,
                        limit=self.max_cost,
                    )
        yield


# -- trusted documents (persisted queries) --------------------------------------------

_HASH = re.compile(r"[0-9a-f]{64}")


def load_trusted_documents(path: Path) -> dict[str, str]:
    """sha256 hex -> document, from ``{hash: document}`` or an Apollo persisted-query manifest."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read [limits] trusted_documents: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"[limits] trusted_documents is not JSON: {exc}") from exc
    if isinstance(raw, dict) and isinstance(raw.get("operations"), list):
        pairs = [(op.get("id"), op.get("body")) for op in raw["operations"] if isinstance(op, dict)]
    elif isinstance(raw, dict):
        pairs = list(raw.items())
    else:
        raise ConfigError("[limits] trusted_documents must be a JSON object")
    documents: dict[str, str] = {}
    for key, body in pairs:
        if not isinstance(key, str) or not isinstance(body, str) or not _HASH.fullmatch(key):
            raise ConfigError("[limits] trusted_documents: every entry maps a sha256 hex hash to a document")
        if hashlib.sha256(body.encode()).hexdigest() != key:
            raise ConfigError(f"[limits] trusted_documents: {key[:12]}… is not the sha256 of its document")
        documents[key] = body
    return documents


class TrustedDocuments(SchemaExtension):
    """Only registered documents execute; a request may send just the hash.

    Speaks Apollo's automatic-persisted-query wire format
    (``extensions.persistedQuery.sha256Hash``) but never registers new documents.
    """

    def __init__(self, documents: Mapping[str, str]) -> None:
        self.documents = documents

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        persisted = (context.operation_extensions or {}).get("persistedQuery")
        wanted = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        if wanted is not None and not (isinstance(wanted, str) and _HASH.fullmatch(wanted)):
            raise GraphQLError(
                "persistedQuery.sha256Hash must be 64 lower-case hex digits",
                extensions={"code": "PERSISTED_QUERY_INVALID"},
            )
        if context.query is None:
            if wanted is None:
                raise GraphQLError(
                    "send a registered document's sha256Hash (trusted documents mode)",
                    extensions={"code": "PERSISTED_QUERY_NOT_FOUND"},
                )
            if wanted not in self.documents:
                raise GraphQLError(
                    "no registered document has this hash", extensions={"code": "PERSISTED_QUERY_NOT_FOUND"}
                )
            context.query = self.documents[wanted]
        else:
            actual = hashlib.sha256(context.query.encode()).hexdigest()
            if wanted is not None and wanted != actual:
                raise GraphQLError(
                    "persistedQuery.sha256Hash does not match the document",
                    extensions={"code": "PERSISTED_QUERY_HASH_MISMATCH"},
                )
            if actual not in self.documents:
                raise GraphQLError(
                    "only registered documents may run here (trusted documents mode)",
                    extensions={"code": "PERSISTED_QUERY_NOT_ALLOWED"},
                )
        yield


# -- production error masking -----------------------------------------------------

_URL = re.compile(r"\b[a-z][a-z0-9+.\-]*://\S+", re.IGNORECASE)
_SECRETISH = re.compile(r"(?i)\b(bearer|token|secret|password|api[_-]?key)\b\s*[:=]?\s*\S+")
INTERNAL_MESSAGE = "Unexpected error."


def _original(error: GraphQLError) -> BaseException | None:
    original = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    return original


def should_mask(error: GraphQLError) -> bool:
    """Mask errors that were not raised on purpose: anything but HubError / coded GraphQLError."""
    from connectors.errors import HubError

    if error.original_error is None:
        return False  # parse / validation / our own refusals: about the document
    original = _original(error)
    if isinstance(original, HubError):
        return False
    if isinstance(original, GraphQLError):
        return not (original.extensions or {}).get("code")
    return True


def scrub(message: str) -> str:
    """Drop URLs and credential-looking words from a message shown to callers."""
    return _SECRETISH.sub(r"\1 [redacted]", _URL.sub("[url]", message))


class ProductionErrors(MaskErrors):
    """Mask unexpected errors (keeping ``path``), scrub URLs and secrets from the rest."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=should_mask, error_message=INTERNAL_MESSAGE)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return GraphQLError(
            INTERNAL_MESSAGE,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions={"code": "INTERNAL_SERVER_ERROR"},
        )

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = super()._process_errors(errors)
        for error in processed:
            clean = scrub(error.message)
            if clean != error.message:
                error.message = clean
        return processed


class _Rules(SchemaExtension):
    """Depth and alias rules built once per app, not per request."""

    def __init__(self, rules: tuple[Any, ...]) -> None:
        self.rules = rules

    def on_operation(self) -> Iterator[None]:
        self.execution_context.validation_rules = self.execution_context.validation_rules + self.rules
        yield


def _validation_rules(limits: LimitsSettings, *, introspection: bool) -> tuple[Any, ...]:
    rules: list[Any] = []
    rules += QueryDepthLimiter(max_depth=limits.max_depth).validation_rules
    rules += MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules
    if not introspection:
        rules += DisableIntrospection().validation_rules
    return tuple(rules)


def extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Strawberry extension factories for ``settings`` (a fresh instance per request)."""
    limits = limits_settings(settings)
    production = _production(settings)
    introspection = limits.introspection if limits.introspection is not None else not production
    mask = limits.mask_errors if limits.mask_errors is not None else production
    if production and introspection:
        raise ConfigError("[limits] introspection = true is not allowed in production mode")

    factories: list[Callable[[], SchemaExtension]] = []
    if mask:
        # First in the list, so its after-operation step runs last and sees every error.
        factories.append(ProductionErrors)
    if limits.trusted_documents is not None:
        documents = load_trusted_documents(limits.trusted_documents)
        factories.append(functools.partial(TrustedDocuments, documents))
    factories.append(functools.partial(MaxTokensLimiter, max_token_count=limits.max_tokens))
    factories.append(
        functools.partial(DocumentGuard, max_fields=limits.max_fields, max_repeats=limits.max_repeats)
    )
    rules = _validation_rules(limits, introspection=introspection)
    factories.append(functools.partial(_Rules, rules))
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
        )
    )
    from schema.audit import AccessLogRecorder

    factories.append(AccessLogRecorder)
    return factories
