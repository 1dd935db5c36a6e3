"""The access log in GraphQL: recording reads, and ``accessLog`` for auditors.

Resolvers record a read with one call, ``record_read(info, "matter", code)``
(:class:`schema.permissions.Guarded` does it for the fields it guards). The
:class:`AccessLogRecorder` extension collects the reads of one operation and,
once execution ends, appends them to the hash-chained log with the principal,
role, purpose (the 办件号 from ``X-Case-Number``), a hash of the request and the
fields read. If the log cannot be written the data is withheld: no log, no read.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.extensions import SchemaExtension
from strawberry.types import Info

from domain.errors import InvalidInput
from domain.principal import Principal
from registry import access_log as log
from schema.context import HubContext
from schema.documents import DOCUMENTS
from schema.paging import decode_cursor, encode_cursor, not_a_cursor
from schema.permissions import AccessLogReaders, requires

MAX_FIELDS = 200  # field paths kept per entry; a document cannot make an entry unbounded


@dataclass
class _Recording:
    reads: dict[tuple[str, str], set[str]] = field(default_factory=dict)


_recording: ContextVar[_Recording | None] = ContextVar("onematter_access_reads", default=None)


def _paths(selections: Any, prefix: str = "") -> list[str]:
    out: list[str] = []
    for selected in selections:
        name = getattr(selected, "name", None)
        if name is None:  # fragments: strawberry flattens spreads into their selections
            out += _paths(getattr(selected, "selections", ()), prefix)
            continue
        if name.startswith("__"):
            continue
        path = f"{prefix}{name}"
        children = getattr(selected, "selections", ())
        if children:
            out += _paths(children, f"{path}.")
        else:
            out.append(path)
    return out


def fields_read(info: Info[HubContext, None]) -> tuple[str, ...]:
    """The leaf field paths selected under the current field (``stages.items.status``)."""
    selected = info.selected_fields
    paths: list[str] = []
    for top in selected:
        paths += _paths(getattr(top, "selections", ()))
    return tuple(sorted(set(paths))[:MAX_FIELDS])


def record_read(info: Info[HubContext, None], kind: str, object_id: str) -> None:
    """Note that this operation read ``kind`` ("matter" or "enterprise") ``object_id``."""
    recording = _recording.get()
    if recording is None:
        # Without the recorder the read could not be logged: refuse rather than read silently.
        raise GraphQLError("the access log is not active", extensions={"code": "ACCESS_LOG_UNAVAILABLE"})
    recording.reads.setdefault((kind, object_id), set()).update(_fields_at(info))


def _fields_at(info: Info[HubContext, None]) -> tuple[str, ...]:
    """:func:`fields_read`, once per document position (the field nodes merged at this path).

    The paths depend on the document alone (not on variables: a ``@skip`` field
    is listed too), so they are kept with the operation's node (``schema.documents``).
    """
    raw: Any = getattr(info, "_raw_info", info)  # strawberry's Info wraps graphql-core's
    nodes = getattr(raw, "field_nodes", None)
    operation = getattr(raw, "operation", None)
    if not nodes or operation is None:
        return fields_read(info)
    key = ("fields read", *(id(n) for n in nodes))
    return DOCUMENTS.get(operation, key, lambda: fields_read(info))


def _sessionmaker(context: HubContext) -> async_sessionmaker[AsyncSession]:
    return context.registry.sessionmaker


class AccessLogRecorder(SchemaExtension):
    """Collects reads during execution and appends them to the access log before answering."""

    def on_operation(self) -> Any:
        token = _recording.set(_Recording())
        try:
            yield
        finally:
            _recording.reset(token)

    async def on_execute(self) -> AsyncIterator[None]:
        yield
        await self._flush(self.execution_context.result)

    async def on_stream_result(self, result: Any) -> AsyncIterator[None]:
        """A subscription's update: its reads are logged before it is sent (or it is withheld)."""
        await self._flush(result)
        yield

    async def _flush(self, result: Any) -> None:
        recording = _recording.get()
        if recording is None or not recording.reads:
            return
        context = self.execution_context
        try:
            await self._write(context, recording)
        except Exception:  # the caller learns only that nothing is returned, not why
            import logging

            logging.getLogger("onematter.access_log").exception("access log write failed")
            if result is not None:
                result.data = None
                result.errors = [
                    GraphQLError(
                        "the access log could not be written, so no data is returned",
                        extensions={"code": "ACCESS_LOG_UNAVAILABLE"},
                    )
                ]
        finally:
            recording.reads.clear()  # written once: a subscription's next update starts afresh

    async def _write(self, context: Any, recording: _Recording) -> None:
        gql_context: HubContext = context.context
        sessionmaker = _sessionmaker(gql_context)
        await write_reads(
            sessionmaker,
            recording.reads,
            principal=gql_context.principal,
            case_number=gql_context.case_number,
            request_id=gql_context.request_id,
            request_hash=log.request_hash(context.query, context.variables, context.operation_name),
        )


async def write_reads(
    sessionmaker: Any,
    reads: Mapping[tuple[str, str], Iterable[str]],
    *,
    principal: Principal,
    case_number: str | None,
    request_id: str | None,
    request_hash: str,
) -> None:
    """Append one entry per ``(kind, object id) -> fields read`` for this caller and request."""
    now = datetime.now(UTC)
    entries = [
        log.Read(
            principal=principal.subject,
            role=principal.role.value if principal.role else None,
            purpose=case_number,
            request_id=request_id,
            request_hash=request_hash,
            kind=kind,
            object_id=object_id,
            fields=tuple(sorted(fields)),
            at=now,
        )
        for (kind, object_id), fields in reads.items()
    ]
    await log.access_log_for(sessionmaker).append(entries)


# -- GraphQL: the log for auditors ---------------------------------------------------------

MAX_PAGE = 500


@strawberry.type(description="One read of a matter or an enterprise.")
class AccessLogEntry:
    id: strawberry.ID
    at: datetime
    principal: str
    role: str | None
    purpose: str | None = strawberry.field(description="the case number (办件号) the caller gave")
    request_id: str | None
    request_hash: str
    kind: str = strawberry.field(description="matter or enterprise")
    object_id: str = strawberry.field(description="the project code or credit code read")
    fields: list[str] = strawberry.field(description="the field paths read")
    prev_hash: str
    hash: str


@strawberry.type
class AccessLogPage:
    entries: list[AccessLogEntry]
    end_cursor: str | None
    has_next_page: bool


@strawberry.input
class AccessLogFilter:
    principal: str | None = None
    role: str | None = None
    case_number: str | None = None
    kind: str | None = None
    object_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@strawberry.type
class AccessLogIntegrity:
    intact: bool
    entries: int
    head_id: int | None
    head_hash: str | None
    first_bad_id: int | None
    reason: str | None


ACCESS_LOG_CURSOR = "access_log"  # the cursor kind: an entry's cursor holds its id


def _after(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    raw = decode_cursor(ACCESS_LOG_CURSOR, cursor)
    if not raw.isdigit():
        raise not_a_cursor()
    return int(raw)


def _aware(value: datetime | None, argument: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise InvalidInput("timestamps need a time zone (e.g. 2026-11-27T08:00:00+08:00)", argument=argument)
    return value


def _entry(row: Any) -> AccessLogEntry:
    return AccessLogEntry(
        id=strawberry.ID(str(row.id)),
        at=row.at,
        principal=row.principal,
        role=row.role,
        purpose=row.purpose,
        request_id=row.request_id,
        request_hash=row.request_hash,
        kind=row.kind,
        object_id=row.object_id,
        fields=list(json.loads(row.fields)),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


@strawberry.type
class Query:
    @strawberry.field(
        extensions=requires(AccessLogReaders),
        description="Who read which matter or enterprise, oldest first (AUDITOR).",
    )
    async def access_log(
        self,
        info: Info[HubContext, None],
        first: int = 50,
        after: str | None = None,
        filter: AccessLogFilter | None = None,
    ) -> AccessLogPage:
        if not 1 <= first <= MAX_PAGE:
            raise InvalidInput(f"first must be between 1 and {MAX_PAGE}", argument="first")
        after_id = _after(after)
        f = filter or AccessLogFilter()
        where = log.LogFilter(
            principal=f.principal,
            role=f.role,
            purpose=f.case_number,
            kind=f.kind,
            object_id=f.object_id,
            since=_aware(f.since, "filter.since"),
            until=_aware(f.until, "filter.until"),
        )
        async with _sessionmaker(info.context)() as session:
            rows, more = await log.page(session, first=first, after_id=after_id, where=where)
        entries = [_entry(r) for r in rows]
        return AccessLogPage(
            entries=entries,
            end_cursor=encode_cursor(ACCESS_LOG_CURSOR, str(rows[-1].id)) if rows else None,
            has_next_page=more,
        )

    @strawberry.field(
        extensions=requires(AccessLogReaders),
        description="Check the access log's hash chain (AUDITOR); names the first bad entry.",
    )
    async def access_log_integrity(self, info: Info[HubContext, None]) -> AccessLogIntegrity:
        async with _sessionmaker(info.context)() as session:
            bad = await log.verify(session)
            count, head_id, head_hash = await log.head(session)
        return AccessLogIntegrity(
            intact=bad is None,
            entries=count,
            head_id=head_id,
            head_hash=head_hash,
            first_bad_id=bad.id if bad else None,
            reason=bad.reason if bad else None,
        )
