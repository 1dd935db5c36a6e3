"""A short-lived cache of whole GraphQL results, where the caller's scope allows it.

Window screens and portals repeat the same documents with the same variables;
a warm repeat still costs the execution of every field. This cache keeps a
successful query's ``data`` for ``[ops] response_cache_ttl_s`` seconds, per
process, and answers the identical request from it. It is careful about who
may see what and about evidence:

- **scope**: the key holds the document, the variables, the operation name and
  the caller's scope. WINDOW_STAFF read every matter alike, so their scope is
  the role; ENTERPRISE and AGENT callers see their own projects, so their scope
  is the whole principal (subject, credit code, projects). Other roles
  (auditors, integrators, administrators, anonymous callers) are never served
  from it: the ledger, the access log and the source figures must be live.
- **what**: queries whose root fields are all in ``CACHEABLE_ROOTS``; never a
  mutation, never a result with errors, never one computed while a department
  call failed or was answered from its stale copy (a partial answer is retried).
- **evidence**: the access log still gets one entry per read. The reads
  recorded when the result was computed are kept beside it and recorded again,
  for this caller and this request id, on every hit (schema/audit.py writes them).
- **freshness**: the time to live is the smaller of the setting and every
  enabled connector's ``cache.ttl_s``, so a hub with a department's cache off
  has this cache off too; it never keeps an answer longer than the department
  cache would.

Two doors lead to the same entries. :class:`ResponseCacheExtension` stores and
serves them inside Strawberry, after the security extensions ran. In front of
the GraphQL view, :class:`CachedResults` answers a POST whose document hash
(the sha256 of the query text, or the ``persistedQuery`` hash sent instead of
it), variables, operation name and scope match an entry without entering
GraphQL at all: no parsing, validation or execution, and the encoded answer is
sent as stored. The key holds the document's hash, not its text, so a hit can
only come from a document that executed successfully for that scope; anything
that does not match goes to the view untouched. A hit writes the caller's
access-log entries, and only then answers; if the log cannot be written, the
request takes the view's path, which withholds the data.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from graphql import ExecutionResult, FieldNode, OperationDefinitionNode, OperationType
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

from domain.principal import Principal, Role
from gateway.auth import PRINCIPAL_STATE_KEY
from gateway.metrics import OPERATION_STATE_KEY

if TYPE_CHECKING:
    from gateway.context import Context

CACHEABLE_ROOTS = frozenset({"matter", "matters", "enterprise", "approvalGuide", "__typename"})
ROLE_SCOPED = frozenset({Role.WINDOW_STAFF})
PRINCIPAL_SCOPED = frozenset({Role.ENTERPRISE, Role.AGENT})
MAX_ENTRIES = 2_048


@dataclass(slots=True)
class CachedResult:
    """One stored answer: its data, the reads to log again, and the bytes to send."""

    stored_at: float
    data: Any
    reads: dict[tuple[str, str], frozenset[str]]
    request_hash: str = ""  # the access log's hash of the request (registry/access_log.py)
    label: str | None = None  # the operation's metrics label (gateway/metrics.py)
    body: bytes = b""  # orjson of {"data": data}: what the view sends for this result
    gzipped: bytes | None = None  # ``body`` gzipped, made on the first hit that accepts gzip


class ResultCache:
    """An LRU of ``key -> CachedResult`` with a time to live (one per app)."""

    def __init__(self, ttl_s: float, *, max_entries: int = MAX_ENTRIES, clock: Any = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[bytes, CachedResult] = OrderedDict()

    def get(self, key: bytes) -> CachedResult | None:
        entry = self._entries.get(key)
        if entry is None or self.clock() - entry.stored_at > self.ttl_s:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry

    def put(
        self,
        key: bytes,
        data: Any,
        reads: dict[tuple[str, str], frozenset[str]],
        *,
        request_hash: str = "",
        label: str | None = None,
        aliases: Sequence[bytes] = (),
    ) -> CachedResult:
        """Keep ``data`` under ``key`` and under ``aliases`` (the same request, spelled otherwise)."""
        entry = CachedResult(self.clock(), data, reads, request_hash, label, orjson.dumps({"data": data}))
        for name in (key, *aliases):
            self._entries[name] = entry
            self._entries.move_to_end(name)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return entry


def result_key(
    document_hash: str, variables: Any, operation_name: str | None, scope: tuple[Any, ...], as_of: str | None
) -> bytes | None:
    """The cache key; None when the variables cannot be encoded (such a request is not cached)."""
    try:
        return orjson.dumps(
            [document_hash, variables or {}, operation_name, scope, as_of], option=orjson.OPT_SORT_KEYS
        )
    except TypeError:
        return None


def document_hash(query: str) -> str:
    """The sha256 hex of a document's text: what persisted-query clients send instead of it."""
    return hashlib.sha256(query.encode()).hexdigest()


def effective_ttl(settings: Any, configured: float) -> float:
    """The setting, capped by every enabled connector's cache TTL (0: off)."""
    ttls = [c.cache.ttl_s for c in settings.connectors.values() if c.enabled]
    return float(max(0.0, min([configured, *ttls])))


def result_cache_for(settings: Any, configured_ttl_s: float) -> ResultCache | None:
    """This app's one result cache, or None when the effective TTL is 0."""
    ttl = effective_ttl(settings, configured_ttl_s)
    return ResultCache(ttl) if ttl > 0 else None


def response_cache(cache: ResultCache | None) -> list[Callable[[], SchemaExtension]]:
    """The extension factory serving ``cache`` inside Strawberry, or none without a cache."""
    return [] if cache is None else [functools.partial(ResponseCacheExtension, cache)]


def scope_of(principal: Principal | None) -> tuple[Any, ...] | None:
    """What the result may be shared across, or None when it must not be cached."""
    if principal is None:
        return None
    role = principal.role
    if role in ROLE_SCOPED:
        return (str(role),)
    if role in PRINCIPAL_SCOPED:
        return (str(role), principal.subject, principal.credit_code, tuple(sorted(principal.projects)))
    return None


class ResponseCacheExtension(SchemaExtension):
    """Serve an identical, cacheable query from ``cache`` (after the security checks ran)."""

    def __init__(self, cache: ResultCache) -> None:
        self.cache = cache
        self._stored: CachedResult | None = None

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        keys = [] if context.result is not None else self._keys()
        key = keys[0] if keys else None
        if key is not None:
            found = self.cache.get(key)
            if found is not None:
                _replay(found.reads)
                context.result = ExecutionResult(data=found.data, errors=None)
                yield
                return
        failures = _failures(context.context) if key is not None else 0
        yield
        result = context.result
        if key is None or not isinstance(result, ExecutionResult) or result.errors or not result.data:
            return
        # A department that failed (or answered from its stale copy) while this ran may have
        # left a gap the document did not ask to see: such an answer is not kept. Counting
        # every request's failures errs on the safe side.
        if _failures(context.context) == failures:
            from registry.access_log import request_hash

            self._stored = self.cache.put(
                key,
                result.data,
                _reads(),
                request_hash=request_hash(context.query, context.variables, context.operation_name),
                aliases=keys[1:],
            )

    def on_operation(self) -> Iterator[None]:
        yield
        # The metrics extension (after this one, so finished first) has named the operation:
        # a hit answered in front of the view is counted under the same name.
        if self._stored is not None:
            from gateway.metrics import OPERATION_STATE_KEY

            state = getattr(getattr(self.execution_context.context, "request", None), "state", None)
            self._stored.label = getattr(state, OPERATION_STATE_KEY, None)

    def _keys(self) -> list[bytes]:
        """This request's key, then the keys of the same request as others may send it."""
        context = self.execution_context
        document = context.graphql_document
        hub: Context | None = context.context
        scope = scope_of(hub.principal if hub is not None else None)
        if document is None or scope is None or context.query is None:
            return []
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        name = context.operation_name
        chosen = [o for o in operations if name is None or (o.name is not None and o.name.value == name)]
        if len(chosen) != 1 or chosen[0].operation is not OperationType.QUERY:
            return []
        for selection in chosen[0].selection_set.selections:
            if not isinstance(selection, FieldNode) or selection.name.value not in CACHEABLE_ROOTS:
                return []
        names = [name]
        if len(operations) == 1:  # the one operation runs whether the request names it or not
            own = chosen[0].name.value if chosen[0].name is not None else None
            names += [n for n in (None, own) if n != name]
        digest, as_of = document_hash(context.query), _as_of(context.context)
        keys = [result_key(digest, context.variables, n, scope, as_of) for n in dict.fromkeys(names)]
        return [k for k in keys if k is not None]


def _failures(context: Context) -> int:
    """Failed and stale-served department calls so far, over every connector of the process."""
    total = 0
    for connector in context.connectors.values():
        snapshot = connector.pipeline.stats()
        total += sum(snapshot.errors.values()) + snapshot.stale_served
    return total


def _as_of(context: Context) -> str:
    return context.as_of.isoformat()


# -- the access log's recording (schema/audit.py) ------------------------------------------


def _reads() -> dict[tuple[str, str], frozenset[str]]:
    from schema import audit

    recording = audit._recording.get()  # the recorder's per-operation reads
    if recording is None:
        return {}
    return {key: frozenset(fields) for key, fields in recording.reads.items()}


def _replay(reads: dict[tuple[str, str], frozenset[str]]) -> None:
    from schema import audit

    recording = audit._recording.get()
    if recording is None:
        return
    for key, fields in reads.items():
        recording.reads.setdefault(key, set()).update(fields)


# -- the door in front of the GraphQL view ----------------------------------------------------

_CONTENT_TYPE = b"content-type"
_ACCEPT = b"accept"
_CASE_NUMBER = b"x-case-number"
_ACCEPT_ENCODING = b"accept-encoding"
_NO_STORE = b"private, no-store"  # gateway/view.py NO_STORE


class CachedResults:
    """ASGI, in front of the GraphQL view: answer a cached POST without entering GraphQL.

    Runs inside the security middleware, so the caller is authenticated, rate limited
    and under its deadline as on any other request. Only a POST with a JSON body, an
    acceptable media type, a caller whose scope may be cached and a stored entry for
    its key is answered here; everything else, and any doubt, goes to ``app``.
    """

    def __init__(self, app: ASGIApp, cache: ResultCache, *, gzip_min_bytes: int = 0) -> None:
        self.app = app
        self.cache = cache
        # The gzip middleware's threshold ([limits] gzip_min_bytes; 0: never): a hit big
        # enough is sent gzipped, compressed once per entry rather than once per answer,
        # and the middleware passes an answer that has its Content-Encoding untouched.
        self.gzip_min_bytes = gzip_min_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        state = scope.get("state") or {}
        principal = state.get(PRINCIPAL_STATE_KEY)
        if not isinstance(principal, Principal):
            await self.app(scope, receive, send)
            return
        key_scope = scope_of(principal)
        headers = _headers(scope)
        media_type = _media_type(headers) if key_scope is not None else None
        if key_scope is None or media_type is None:
            await self.app(scope, receive, send)
            return
        first = await receive()
        replay = _replaying(first, receive)
        whole = first["type"] == "http.request" and not first.get("more_body", False)
        entry = self._lookup(scope, first.get("body", b""), key_scope) if whole else None
        if entry is None or not await _logged(scope, principal, headers, entry):
            await self.app(scope, replay, send)
            return
        if entry.label is not None:
            state[OPERATION_STATE_KEY] = entry.label
        body = entry.body
        response_headers = [
            (b"content-type", f"{media_type}; charset=utf-8".encode("latin-1")),
            (b"cache-control", _NO_STORE),  # as the view sends every answer
        ]
        if (
            self.gzip_min_bytes
            and len(body) >= self.gzip_min_bytes
            and b"gzip" in headers.get(_ACCEPT_ENCODING, b"")  # as the middleware decides
        ):
            if entry.gzipped is None:
                entry.gzipped = gzip.compress(body, compresslevel=9, mtime=0)
            body = entry.gzipped
            # The middleware passes an answer with its encoding set, adding nothing.
            response_headers += [(b"content-encoding", b"gzip"), (b"vary", b"Accept-Encoding")]
        response_headers.append((b"content-length", str(len(body)).encode("latin-1")))
        await send({"type": "http.response.start", "status": 200, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})

    def _lookup(self, scope: Scope, body: bytes, key_scope: tuple[Any, ...]) -> CachedResult | None:
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(request, dict):
            return None
        query, variables = request.get("query"), request.get("variables")
        name, extensions = request.get("operationName"), request.get("extensions")
        if not isinstance(name, str | None) or not isinstance(variables, dict | None):
            return None
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        if persisted is not None and (not isinstance(persisted, dict) or persisted.get("version") != 1):
            return None  # the view answers what is wrong with it
        sent_hash = persisted.get("sha256Hash") if persisted is not None else None
        if isinstance(query, str):
            digest = document_hash(query)
            if sent_hash is not None and sent_hash != digest:
                return None  # the view reports the mismatch
        elif query is None and isinstance(sent_hash, str):
            digest = sent_hash  # only a document with this hash can have stored an entry
        else:
            return None
        services = getattr(getattr(scope.get("app"), "state", None), "services", None)
        as_of = services.as_of().isoformat() if services is not None else None
        key = result_key(digest, variables, name, key_scope, as_of)
        return self.cache.get(key) if key is not None else None


def _headers(scope: Scope) -> dict[bytes, bytes]:
    wanted = (_CONTENT_TYPE, _ACCEPT, _CASE_NUMBER, _ACCEPT_ENCODING)
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        lowered = name.lower()
        if lowered in wanted and lowered not in found:
            found[lowered] = value
    return found


def _media_type(headers: dict[bytes, bytes]) -> str | None:
    """The response media type as the view would pick it; None when the view must decide.

    Callers send the same few Content-Type and Accept pairs: the answer is kept per
    short pair (at most ``_MAX_MEDIA_TYPES`` of them), the negotiation runs once for each.
    """
    pair = (headers.get(_CONTENT_TYPE), headers.get(_ACCEPT))
    known = _MEDIA_TYPES.get(pair, _UNKNOWN)
    if known is not _UNKNOWN:
        return known  # type: ignore[return-value]
    media_type = _negotiated(headers)
    if sum(len(v) for v in pair if v is not None) <= _MAX_PAIR_BYTES:
        if len(_MEDIA_TYPES) >= _MAX_MEDIA_TYPES:
            _MEDIA_TYPES.clear()
        _MEDIA_TYPES[pair] = media_type
    return media_type


_MEDIA_TYPES: dict[tuple[bytes | None, bytes | None], str | None] = {}
_MAX_MEDIA_TYPES = 64
_MAX_PAIR_BYTES = 512
_UNKNOWN = object()


def _negotiated(headers: dict[bytes, bytes]) -> str | None:
    from gateway.view import _is_json, negotiate

    content_type = headers.get(_CONTENT_TYPE)
    if content_type is None or not _is_json(content_type.decode("latin-1").lower()):
        return None
    accept = headers.get(_ACCEPT)
    if accept is None:
        return negotiate(None)
    text = accept.decode("latin-1")
    if "event-stream" in text.lower():  # a subscription's stream: the view's business
        return None
    return negotiate(text)


def _replaying(first: Message, receive: Receive) -> Receive:
    """``receive`` as the app downstream should see it: ``first`` again, then the rest."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return first
        return await receive()

    return replay


async def _logged(
    scope: Scope, principal: Principal, headers: dict[bytes, bytes], entry: CachedResult
) -> bool:
    """Write this caller's access-log entries for a hit; False if they could not be written."""
    if not entry.reads:
        return True
    services = getattr(getattr(scope.get("app"), "state", None), "services", None)
    registry = getattr(services, "registry", None)
    if registry is None:
        return False
    from gateway.context import request_id_of, safe_id
    from schema.audit import write_reads

    # RequestIdMiddleware has put it in the state; request_id_of finds or makes one otherwise.
    request_id = (scope.get("state") or {}).get("request_id")
    if not isinstance(request_id, str) or not request_id:
        from starlette.requests import Request

        request_id = request_id_of(Request(scope))
    case_number = headers.get(_CASE_NUMBER)
    try:
        await write_reads(
            registry.sessionmaker,
            entry.reads,
            principal=principal,
            case_number=safe_id(case_number.decode("latin-1")) if case_number is not None else None,
            request_id=request_id,
            request_hash=entry.request_hash,
        )
    except Exception:  # the view's path tries again and, failing, withholds the data
        return False
    return True
