"""The /graphql endpoint: GraphQL over HTTP, and GraphiQL for browsers.

Follows the GraphQL-over-HTTP specification (graphql/graphql-over-http):

- POST with ``Content-Type: application/json`` (else 415), GET with the
  ``query``, ``variables``, ``operationName`` and ``extensions`` parameters;
  any other method gets 405 with ``Allow``.
- Mutations over GET get 405 with ``Allow: POST`` (GET must be safe).
- The response type is negotiated from ``Accept``:
  ``application/graphql-response+json`` when the caller accepts it and does
  not prefer ``application/json``; ``application/json`` otherwise (also with no
  ``Accept``); 406 when the caller accepts neither.
- With ``application/json`` every well-formed request gets 200, errors or not.
  With ``application/graphql-response+json`` a request error (unparseable or
  invalid document, unknown operation, bad variables) gets 400 and no ``data``;
  once execution starts the answer is 200, partial results included. A
  department's failure therefore never becomes the hub's HTTP status.
- A request that is not well-formed (bad JSON, ``query`` not a string) gets 400
  with a JSON ``errors`` body.

A GET that accepts HTML and carries no query gets the GraphiQL page, which loads
only this hub's own /static assets: government intranets are offline.

Subscriptions (schema/subscriptions.py) are served on the same path by
Strawberry's own transports:

- graphql-transport-ws over a WebSocket. The token comes in the handshake's
  ``Authorization`` header or in ``connection_init``'s payload
  (``{"Authorization": "Bearer …"}``, what browsers can send); a bad one closes
  the socket (4403). The hub pings every ``[push] keepalive_s`` and closes with
  4403 when the token expires; ``connection_init`` must come within
  ``[push] connection_init_timeout_s`` (4408); at most
  ``[push] max_subscriptions_per_connection`` operations per socket.
- GraphQL over SSE (the graphql-sse protocol, distinct connections mode): a
  POST or GET that accepts ``text/event-stream`` gets ``next`` events and a
  final ``complete``, with ``: ping`` comments every ``keepalive_s``; the usual
  bearer header authenticates it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.streaming import HTTPStreamTransport, SSETransport
from strawberry.schema.base import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_SSE_PROTOCOL, GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from domain.errors import HubError
from gateway.auth import AuthenticationError, authenticate, authenticator_for
from gateway.changes import PushSettings
from gateway.context import get_context

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"

GRAPHIQL_PAGE = Path(__file__).parent / "static" / "graphiql" / "index.html"
NO_STORE = "private, no-store"
_SHA256 = re.compile(r"[0-9a-f]{64}")


class PersistedQueryError(HubError):
    """An APQ request the hub answers without executing (Apollo's wire format)."""

    def __init__(self, message: str, code: str, status_code: int = 200) -> None:
        super().__init__(message)
        self.message = message
        self.code = code  # PERSISTED_QUERY_NOT_FOUND and the like, per instance
        self.status_code = status_code


class PersistedQueries:
    """Automatic persisted queries, as Apollo's clients and routers speak them.

    A request carrying ``extensions.persistedQuery = {version: 1, sha256Hash}``
    and no query runs the document stored under that hash, or is answered
    ``PERSISTED_QUERY_NOT_FOUND`` (HTTP 200, so the client resends hash and
    query). A request with both has its hash checked and its document stored.
    The store is the shared cache (``[cache]``: Redis across replicas), so
    every replica knows what any one of them was sent. A cache that cannot be
    reached only costs a round trip: the lookup misses and the client resends.

    Args:
        cache: an aiocache cache (``Services.cache``), or a callable returning it.
        ttl_s: how long a stored document is kept.
    """

    def __init__(self, cache: Any, *, ttl_s: float) -> None:
        self._cache = cache
        self.ttl_s = ttl_s

    def _store(self) -> Any:
        return self._cache() if callable(self._cache) else self._cache

    async def resolve(self, data: GraphQLRequestData) -> None:
        persisted = (data.extensions or {}).get("persistedQuery")
        if persisted is None:
            return
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            raise PersistedQueryError(
                "persistedQuery needs version 1 and a sha256Hash", "PERSISTED_QUERY_NOT_SUPPORTED", 400
            )
        wanted = persisted.get("sha256Hash")
        if not isinstance(wanted, str) or not _SHA256.fullmatch(wanted):
            raise PersistedQueryError(
                "persistedQuery.sha256Hash must be 64 lower-case hex digits", "PERSISTED_QUERY_INVALID", 400
            )
        key = f"apq:{wanted}"
        if data.query is None:
            try:
                stored = await self._store().get(key)
            except Exception:  # the store is down: a miss, the client sends the query
                stored = None
            if not isinstance(stored, str):
                raise PersistedQueryError("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
            data.query = stored
            return
        if hashlib.sha256(data.query.encode()).hexdigest() != wanted:
            raise PersistedQueryError(
                "provided sha does not match query", "PERSISTED_QUERY_HASH_MISMATCH", 400
            )
        try:
            await self._store().set(key, data.query, ttl=self.ttl_s)
        except Exception:
            pass  # not stored: the next hash-only request misses and resends the query


class HubTransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    """graphql-transport-ws with the hub's pings and an end at the token's expiry."""

    keepalive_s: float = 15.0
    _timer: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: Any) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self._timer is None:
            self._timer = asyncio.create_task(self._keep_alive())

    async def _keep_alive(self) -> None:
        while True:
            expires = self.context.token_expires_at
            left = None if expires is None else expires - time.time()
            if left is not None and left <= 0:
                await self.websocket.close(code=4403, reason="the bearer token has expired")
                return
            await asyncio.sleep(self.keepalive_s if left is None else min(self.keepalive_s, left))
            if expires is None or time.time() < expires:
                await self.send_message({"type": "ping"})

    async def shutdown(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
        await super().shutdown()


class GraphQLView(GraphQL):
    """Strawberry's ASGI view, held to the GraphQL-over-HTTP status and media rules."""

    def __init__(
        self,
        schema: BaseSchema,
        *,
        graphiql: bool = True,
        graphiql_headers: Callable[[], Mapping[str, str]] | None = None,
        push: PushSettings | None = None,
        allowed_origins: tuple[str, ...] = (),
        persisted_queries: PersistedQueries | None = None,
    ) -> None:
        """``graphiql_headers`` pre-fills GraphiQL's headers pane (the demo's token);
        ``persisted_queries`` turns on automatic persisted queries (APQ)."""
        push = push or PushSettings()
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_SSE_PROTOCOL),
            connection_init_wait_timeout=timedelta(seconds=push.connection_init_timeout_s),
            max_subscriptions_per_connection=push.max_subscriptions_per_connection,
            allowed_origins=allowed_origins,
        )
        self._keepalive_s = push.keepalive_s
        self.graphql_transport_ws_handler_class = type(
            "HubTransportWS", (HubTransportWSHandler,), {"keepalive_s": push.keepalive_s}
        )
        self._graphiql_html = GRAPHIQL_PAGE.read_text(encoding="utf-8") if graphiql else ""
        self._graphiql_headers = graphiql_headers
        self._persisted = persisted_queries

    @cached_property
    def _stream_transport_map(self) -> dict[str, HTTPStreamTransport]:
        # SSE only (graphql-sse), with the hub's keep-alive interval.
        transport = SSETransport(heartbeat_interval=self._keepalive_s)
        return {transport.protocol: transport}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(WebSocket(scope, receive, send))
            return
        if scope["type"] != "http":
            await Response(status_code=404)(scope, receive, send)
            return
        scope = _lower_media_type(scope)
        request = Request(scope, receive)
        try:
            if _wants_event_stream(request):
                response = await self._stream(request)
            else:
                response = await self._handle(request)
        except PersistedQueryError as exc:
            response = self._error_response(request, exc.status_code, exc.message, code=exc.code)
        except HTTPException as exc:
            response = self._error_response(request, exc.status_code, exc.reason)
        except StarletteHTTPException as exc:  # raised by authentication (401/403)
            response = self._error_response(request, exc.status_code, exc.detail, exc.headers)
        # Answers depend on who asks: no shared cache (a router's, a proxy's) may keep one,
        # unless the hub said otherwise for this answer.
        response.headers.setdefault("cache-control", NO_STORE)
        await response(scope, receive, send)

    async def _websocket(self, websocket: WebSocket) -> None:
        try:
            authenticate(websocket, websocket.app.state.settings)  # a bad handshake header: refused
        except AuthenticationError:
            await websocket.close(code=4403, reason="the bearer token was refused")
            return
        await self.run(websocket)

    async def on_ws_connect(self, context: Any) -> Any:
        """A token in ``connection_init``'s payload (browsers cannot set WebSocket headers)."""
        params = context.connection_params or {}
        raw = params.get("Authorization") or params.get("authorization") or params.get("token")
        if raw is None:
            return await super().on_ws_connect(context)
        if not isinstance(raw, str):
            raise ConnectionRejectionError({"message": "the token must be a string"})
        header = raw if raw.lower().startswith("bearer ") else f"Bearer {raw}"
        try:
            context.principal = authenticator_for(context.settings).principal(header)
        except AuthenticationError as exc:
            raise ConnectionRejectionError({"message": exc.reason}) from exc
        context.token_expires_at = authenticator_for(context.settings).expires_at(header)
        return await super().on_ws_connect(context)

    async def _stream(self, request: Request) -> Response:
        """GraphQL over SSE: strawberry's transport, after the same body checks as POST."""
        if request.method not in ("GET", "POST"):
            raise HTTPException(405, "GraphQL is served over GET and POST")
        if request.method == "POST" and not _is_json(request.headers.get("content-type")):
            raise HTTPException(415, f"POST bodies must be {JSON}")
        request.state.graphql_media_type = JSON
        return await self.run(request)

    async def _handle(self, request: Request) -> Response:
        if request.method not in ("GET", "POST"):
            raise HTTPException(405, "GraphQL is served over GET and POST")
        if request.method == "GET" and self._wants_ide(request):
            if not self.graphql_ide:
                raise HTTPException(404, "Not Found")
            return self._graphiql_page()
        media_type = negotiate(request.headers.get("accept"))
        request.state.graphql_media_type = media_type or JSON
        if media_type is None:
            raise HTTPException(
                406, f"this endpoint answers {GRAPHQL_RESPONSE_JSON} or {JSON}; Accept allows neither"
            )
        if request.method == "POST" and not _is_json(request.headers.get("content-type")):
            raise HTTPException(415, f"POST bodies must be {JSON}")

        response = await self.run(request)
        response.headers["content-type"] = f"{media_type}; charset=utf-8"
        if media_type == GRAPHQL_RESPONSE_JSON and getattr(request.state, "graphql_request_error", False):
            response.status_code = 400
        return response

    def should_render_graphql_ide(self, request: Any) -> bool:
        return False  # decided in _handle, before content negotiation

    def _wants_ide(self, request: Request) -> bool:
        accept = request.headers.get("accept", "")
        return "query" not in request.query_params and "text/html" in accept

    # -- strawberry hooks ------------------------------------------------------

    async def get_context(self, request: Any, response: Any) -> Any:
        return await get_context(request, response)

    async def render_graphql_ide(self, request: Request) -> Response:
        return self._graphiql_page()

    def _graphiql_page(self) -> Response:
        headers = dict(self._graphiql_headers()) if self._graphiql_headers else {}
        # Data for init.js in a non-executed JSON block: no inline script, so a strict
        # Content-Security-Policy (script-src 'self') still allows the page. "<" is
        # escaped so that nothing in the data can close the block.
        config = orjson.dumps({"headers": headers}).decode().replace("<", "\\u003c")
        html = self._graphiql_html.replace("{}<!--graphiql-config-->", config)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)  # orjson.JSONDecodeError is a json.JSONDecodeError

    async def parse_http_body(self, request: Any) -> GraphQLRequestData | list[GraphQLRequestData]:
        data = await super().parse_http_body(request)
        if isinstance(data, GraphQLRequestData) and not isinstance(data.operation_name, str | None):
            raise HTTPException(400, "The GraphQL operation's `operationName` must be a string or null.")
        return data

    async def execute_single(
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Response,
        context: Any,
        root_value: Any,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        if self._persisted is not None:
            await self._persisted.resolve(request_data)
        # GET carries queries only (no subscriptions here); refusing a mutation is 405.
        if request_adapter.method == "GET":
            allowed = {OperationType.QUERY}
            try:
                return await self.schema.execute(
                    request_data.query,
                    root_value=root_value,
                    variable_values=request_data.variables,
                    context_value=context,
                    operation_name=request_data.operation_name,
                    allowed_operation_types=allowed,
                    operation_extensions=request_data.extensions,
                )
            except InvalidOperationTypeError as exc:
                raise HTTPException(405, exc.as_http_error_reason("GET")) from exc
            except CannotGetOperationTypeError as exc:
                raise HTTPException(400, exc.as_http_error_reason()) from exc
            except MissingQueryError as exc:
                raise HTTPException(400, "No GraphQL query found in the request") from exc
        return await super().execute_single(
            request=request,
            request_adapter=request_adapter,
            sub_response=sub_response,
            context=context,
            root_value=root_value,
            request_data=request_data,
        )

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        processed = await super().process_result(request, result)
        if _is_request_error(result):
            request.state.graphql_request_error = True
            if request.state.graphql_media_type == GRAPHQL_RESPONSE_JSON:
                # A request error never started execution: the spec says no ``data`` at all.
                processed.pop("data", None)
        return processed

    # -- errors that never reach GraphQL execution -------------------------------

    def _error_response(
        self,
        request: Request,
        status: int,
        message: str,
        headers: Mapping[str, str] | None = None,
        *,
        code: str | None = None,
    ) -> Response:
        media_type = getattr(request.state, "graphql_media_type", None) or JSON
        headers = dict(headers or {})
        if status == 405:
            headers["Allow"] = "POST" if request.method == "GET" else "GET, POST"
        error: dict[str, Any] = {"message": message}
        if code is not None:
            error["extensions"] = {"code": code}
        return Response(
            orjson.dumps({"errors": [error]}),
            status_code=status,
            media_type=f"{media_type}; charset=utf-8",
            headers=headers,
        )


def _wants_event_stream(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return any(part.split(";", 1)[0].strip().lower() == "text/event-stream" for part in accept.split(","))


def _is_request_error(result: ExecutionResult) -> bool:
    """True when the document never executed: parse, validation or variable errors."""
    if isinstance(result, PreExecutionError):
        return True
    # graphql-core reports variable coercion failures as a result with no data and
    # errors without a path; field errors always carry a path.
    errors = result.errors or []
    return result.data is None and bool(errors) and all(e.path is None for e in errors)


def _lower_media_type(scope: Scope) -> Scope:
    """``scope`` with its Content-Type's media type lower-cased (RFC 9110: case-insensitive).

    Strawberry compares it as written, so ``APPLICATION/JSON`` would be refused.
    """
    headers = scope.get("headers") or []
    for index, (name, value) in enumerate(headers):
        if name == b"content-type":
            media, sep, params = value.partition(b";")
            lowered = media.strip().lower() + sep + params.lower()
            if lowered == value:
                return scope
            changed = list(headers)
            changed[index] = (name, lowered)
            return {**scope, "headers": changed}
    return scope


def _media_params(value: str) -> tuple[str, dict[str, str]]:
    parts = [p.strip() for p in value.split(";")]
    params: dict[str, str] = {}
    for part in parts[1:]:
        name, _, val = part.partition("=")
        params[name.strip().lower()] = val.strip().strip('"').lower()
    return parts[0].lower(), params


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media, params = _media_params(content_type)
    return media == JSON and params.get("charset", "utf-8") == "utf-8"


def negotiate(accept: str | None) -> str | None:
    """The response media type for an ``Accept`` header, or None (406).

    Equal quality goes to the more specific match, then to the type listed
    first; ``*/*`` and a missing header keep legacy clients on plain JSON.
    """
    if not accept or not accept.strip():
        return JSON
    best: dict[str, tuple[float, int, int]] = {}
    for position, item in enumerate(accept.split(",")):
        if not item.strip():
            continue
        media, params = _media_params(item)
        try:
            q = float(params.get("q", "1"))
        except ValueError:
            q = 0.0
        for candidate in (GRAPHQL_RESPONSE_JSON, JSON):
            specificity = _match(media, candidate)
            if specificity < 0:
                continue
            current = best.get(candidate)
            # The most specific matching range decides a candidate's quality.
            if current is None or specificity > current[1]:
                best[candidate] = (q, specificity, position)
    # Higher quality, then the more specific match, then the one listed first.
    ranked = [(q, spec, -pos, c == JSON, c) for c, (q, spec, pos) in best.items() if q > 0]
    if not ranked:
        return None
    return max(ranked)[4]


def _match(media_range: str, candidate: str) -> int:
    """2 for an exact match, 1 for type/*, 0 for */*, -1 for none."""
    if media_range == candidate:
        return 2
    kind = candidate.split("/")[0]
    if media_range == f"{kind}/*":
        return 1
    if media_range == "*/*":
        return 0
    return -1
