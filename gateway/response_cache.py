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
"""

from __future__ import annotations

import functools
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from graphql import ExecutionResult, FieldNode, OperationDefinitionNode, OperationType
from strawberry.extensions import SchemaExtension

from domain.principal import Role

CACHEABLE_ROOTS = frozenset({"matter", "matters", "enterprise", "approvalGuide", "__typename"})
ROLE_SCOPED = frozenset({Role.WINDOW_STAFF})
PRINCIPAL_SCOPED = frozenset({Role.ENTERPRISE, Role.AGENT})
MAX_ENTRIES = 2_048


class ResultCache:
    """An LRU of ``key -> (stored_at, data, reads)`` with a time to live (one per app)."""

    def __init__(self, ttl_s: float, *, max_entries: int = MAX_ENTRIES, clock: Any = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[bytes, tuple[float, Any, dict[tuple[str, str], frozenset[str]]]] = (
            OrderedDict()
        )

    def get(self, key: bytes) -> tuple[Any, dict[tuple[str, str], frozenset[str]]] | None:
        entry = self._entries.get(key)
        if entry is None or self.clock() - entry[0] > self.ttl_s:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[1], entry[2]

    def put(self, key: bytes, data: Any, reads: dict[tuple[str, str], frozenset[str]]) -> None:
        self._entries[key] = (self.clock(), data, reads)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


def effective_ttl(settings: Any, configured: float) -> float:
    """The setting, capped by every enabled connector's cache TTL (0: off)."""
    ttls = [c.cache.ttl_s for c in settings.connectors.values() if c.enabled]
    return float(max(0.0, min([configured, *ttls])))


def response_cache(settings: Any, configured_ttl_s: float) -> list[Callable[[], SchemaExtension]]:
    """The extension factory for this app (one shared cache), or none when the TTL is 0."""
    ttl = effective_ttl(settings, configured_ttl_s)
    if ttl <= 0:
        return []
    return [functools.partial(ResponseCacheExtension, ResultCache(ttl))]


def scope_of(principal: Any) -> tuple[Any, ...] | None:
    """What the result may be shared across, or None when it must not be cached."""
    role = getattr(principal, "role", None)
    if role in ROLE_SCOPED:
        return (str(role),)
    if role in PRINCIPAL_SCOPED:
        return (str(role), principal.subject, principal.credit_code, tuple(sorted(principal.projects)))
    return None


class ResponseCacheExtension(SchemaExtension):
    """Serve an identical, cacheable query from ``cache`` (after the security checks ran)."""

    def __init__(self, cache: ResultCache) -> None:
        self.cache = cache

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        key = None if context.result is not None else self._key()
        if key is not None:
            found = self.cache.get(key)
            if found is not None:
                data, reads = found
                _replay(reads)
                context.result = ExecutionResult(data=data, errors=None)
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
            self.cache.put(key, result.data, _reads())

    def _key(self) -> bytes | None:
        context = self.execution_context
        document = context.graphql_document
        scope = scope_of(getattr(context.context, "principal", None))
        if document is None or scope is None or context.query is None:
            return None
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        name = context.operation_name
        chosen = [o for o in operations if name is None or (o.name is not None and o.name.value == name)]
        if len(chosen) != 1 or chosen[0].operation is not OperationType.QUERY:
            return None
        for selection in chosen[0].selection_set.selections:
            if not isinstance(selection, FieldNode) or selection.name.value not in CACHEABLE_ROOTS:
                return None
        try:
            return orjson.dumps(
                [context.query, context.variables or {}, name, scope, _as_of(context.context)],
                option=orjson.OPT_SORT_KEYS,
            )
        except TypeError:  # variables orjson cannot encode: not worth caching
            return None


def _failures(context: Any) -> int:
    """Failed and stale-served department calls so far, over every connector of the process."""
    total = 0
    for connector in getattr(getattr(context, "services", None), "connectors", {}).values():
        stats = getattr(getattr(connector, "pipeline", None), "stats", None)
        if callable(stats):
            snapshot = stats()
            total += sum(snapshot.errors.values()) + snapshot.stale_served
    return total


def _as_of(context: Any) -> str | None:
    as_of = getattr(context, "as_of", None)
    return as_of.isoformat() if as_of is not None else None


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
