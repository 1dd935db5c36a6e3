"""Connector for the joint utility connection system (水电气讯联合报装).

The department speaks PascalCase JSON with English enums and UTC timestamps,
and wants an API key in ``X-Api-Key`` (credential ``api_key``, read from the
environment variable the settings name). One application per project becomes
one approval item (``utilities.joint_connection``) plus four tickets.

Application statuses (raw status kept as sent)::

    NOT_APPLIED -> NOT_STARTED   SUBMITTED -> SUBMITTED   ACCEPTED -> ACCEPTED
    IN_PROGRESS -> IN_REVIEW     INFO_REQUIRED -> SUPPLEMENT_REQUIRED
    ON_HOLD -> SUSPENDED         COMPLETED -> APPROVED    REJECTED -> REJECTED
    CANCELLED -> WITHDRAWN

Ticket statuses are the hub's ``UtilityStatus`` as they are (ACCEPTED,
SURVEYED, CONSTRUCTING, CONNECTED, REJECTED). Timestamps are converted to
Hengyang time (UTC+8) before their date is taken.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import httpx

from connectors import jsonfields as j
from connectors.failures import parsed
from connectors.http import health_check
from connectors.jsonfields import segment
from connectors.pipeline import (
    CallPipeline,
    Fetched,
    check_response,
    settled_sources,
    with_source,
    with_sources,
)
from domain.errors import ConnectorError
from domain.records import (
    ApprovalItem,
    DepartmentView,
    EventKind,
    HealthReport,
    ItemEvent,
    Lifecycle,
    Utility,
    UtilityStatus,
    UtilityTicket,
)

if TYPE_CHECKING:
    from aiocache.base import BaseCache

    from connectors.settings import ConnectorSettings

NAME = "utilities"
KIND = "utilities.joint_connection"
MAX_BATCH = 100
API_KEY_HEADER = "X-Api-Key"
HENGYANG = timezone(timedelta(hours=8))

# The application's event log, by event type (ticket moves name their ticket).
EVENT_TYPES: dict[str, EventKind] = {
    "ApplicationSubmitted": EventKind.SUBMITTED,
    "ApplicationAccepted": EventKind.ACCEPTED,
    "InfoRequested": EventKind.SUPPLEMENT_REQUESTED,
    "InfoProvided": EventKind.SUPPLEMENT_RETURNED,
    "PutOnHold": EventKind.SUSPENDED,
    "HoldReleased": EventKind.RESUMED,
    "ApplicationCompleted": EventKind.APPROVED,
    "ApplicationRejected": EventKind.REJECTED,
    "ApplicationCancelled": EventKind.WITHDRAWN,
    "CertificateIssued": EventKind.CERTIFICATE_ISSUED,
    "TicketAccepted": EventKind.TICKET_ACCEPTED,
    "TicketSurveyed": EventKind.TICKET_SURVEYED,
    "TicketConstructionStarted": EventKind.TICKET_CONSTRUCTING,
    "TicketConnected": EventKind.TICKET_CONNECTED,
    "TicketRejected": EventKind.TICKET_REJECTED,
}

APPLICATION_STATUS: dict[str, Lifecycle] = {
    "NOT_APPLIED": Lifecycle.NOT_STARTED,
    "SUBMITTED": Lifecycle.SUBMITTED,
    "ACCEPTED": Lifecycle.ACCEPTED,
    "IN_PROGRESS": Lifecycle.IN_REVIEW,
    "INFO_REQUIRED": Lifecycle.SUPPLEMENT_REQUIRED,
    "ON_HOLD": Lifecycle.SUSPENDED,
    "COMPLETED": Lifecycle.APPROVED,
    "REJECTED": Lifecycle.REJECTED,
    "CANCELLED": Lifecycle.WITHDRAWN,
}


class UtilitiesConnector:
    """The joint utility connection platform: one application, four tickets per project."""

    name = NAME
    title = "水电气讯联合报装"
    part = "schema.departments:UTILITIES"  # its field of Matter (connectors know no GraphQL)
    option_names: frozenset[str] = frozenset()  # [connectors.NAME.options] keys; any other is refused

    def __init__(self, *, settings: ConnectorSettings, client: httpx.AsyncClient, cache: BaseCache) -> None:
        self.settings = settings
        self.client = client
        self.pipeline = CallPipeline(NAME, settings, cache)
        key = settings.secret("api_key", default_env="ONEMATTER_UTILITIES_API_KEY")
        # Per request, not on the shared client: the key goes to this department only.
        self._headers = {API_KEY_HEADER: key} if key else {}

    def __repr__(self) -> str:  # never show the key
        return f"<UtilitiesConnector key={'set' if self._headers else 'missing'}>"

    @staticmethod
    def normalise_status(raw: str) -> Lifecycle:
        """An application status (``"IN_PROGRESS"``) to the lifecycle."""
        if raw not in APPLICATION_STATUS:
            raise ValueError(f"not a utilities application status: {raw!r}")
        return APPLICATION_STATUS[raw]

    async def fetch_project(self, project_code: str) -> DepartmentView | None:
        """The project's application and tickets; None if it has not applied."""
        fetched = await self.pipeline.call(
            "application", project_code, lambda: self._get_application(project_code)
        )
        return with_source(fetched)

    async def fetch_projects(self, project_codes: Sequence[str]) -> Mapping[str, DepartmentView]:
        """Batch lookup through ``POST /v1/applications/batch-get``, 100 codes per call."""
        codes = list(dict.fromkeys(project_codes))
        if not codes:
            return {}
        found = await self.pipeline.call_batch("application", codes, self._batch_get)
        return with_sources(found)

    async def fetch_answers(
        self, project_codes: Sequence[str]
    ) -> Mapping[str, Fetched[DepartmentView | None] | ConnectorError]:
        """``fetch_projects``, each project settled alone (``connectors.base.AnswersEachProject``)."""
        codes = list(dict.fromkeys(project_codes))
        if not codes:
            return {}
        return settled_sources(await self.pipeline.call_batch_settled("application", codes, self._batch_get))

    async def health(self) -> HealthReport:
        return await health_check(self.client, NAME, self.settings.deadline_s)

    async def aclose(self) -> None:
        """Nothing to release: the hub owns the client and the cache."""

    # -- upstream calls (inside the pipeline) -----------------------------------------

    async def _get_application(self, project_code: str) -> DepartmentView | None:
        response = await self.client.get(
            f"/v1/projects/{segment(project_code)}/application", headers=self._headers
        )
        if response.status_code == 404:
            return None
        check_response(response, department=NAME)
        return parsed(NAME, lambda: parse_application(response.json()))

    async def _batch_get(self, project_codes: list[str]) -> dict[str, DepartmentView]:
        chunks = [project_codes[i : i + MAX_BATCH] for i in range(0, len(project_codes), MAX_BATCH)]
        answers = await asyncio.gather(*(self._batch_chunk(chunk) for chunk in chunks))
        return {view.project_code: view for views in answers for view in views}

    async def _batch_chunk(self, project_codes: list[str]) -> list[DepartmentView]:
        response = await self.client.post(
            "/v1/applications/batch-get", json={"ProjectCodes": project_codes}, headers=self._headers
        )
        check_response(response, department=NAME)
        return parsed(NAME, lambda: [parse_application(a) for a in j.array(response.json(), "Applications")])


# -- parsing -------------------------------------------------------------------------------


def parse_application(raw: Any) -> DepartmentView:
    """One application as the department's view: one item and its tickets."""
    status = j.string(raw, "Status")
    if status not in APPLICATION_STATUS:
        raise ValueError("unknown application status")
    item = ApprovalItem(
        department=NAME,
        kind=KIND,
        name=j.string(raw, "ServiceName"),
        status=APPLICATION_STATUS[status],
        raw_status=status,
        file_number=j.opt_string(raw, "ApplicationId"),
        submitted_on=_day(raw, "SubmittedAt"),
        accepted_on=_day(raw, "AcceptedAt"),
        decided_on=_day(raw, "CompletedAt"),
        statutory_limit_days=j.opt_integer(raw, "StatutoryDays"),
        promised_limit_days=j.opt_integer(raw, "PromisedDays"),
        paused=tuple(_hold(h) for h in j.array(raw, "Holds")),
        certificate_number=j.opt_string(raw, "CertificateNumber"),
        missing_materials=tuple(j.strings(raw, "MissingMaterials")),
        materials_due_on=_day(raw, "MaterialsDueAt"),
        on_commitment=j.boolean(raw, "OnCommitment"),
        history=parse_events(raw),
    )
    return DepartmentView(
        department=NAME,
        project_code=j.string(raw, "ProjectCode"),
        items=(item,),
        utilities=tuple(parse_ticket(t) for t in j.array(raw, "Tickets")),
    )


def parse_events(raw: Any) -> tuple[ItemEvent, ...]:
    """The application's event log, ticket moves included; none when the answer carries no log."""
    if isinstance(raw, dict) and raw.get("Events") is None:
        return ()
    events = []
    for event in j.array(raw, "Events"):
        kind = EVENT_TYPES.get(j.string(event, "Type"))
        on = _day(event, "OccurredAt")
        if kind is None or on is None:
            raise ValueError("unknown event type or an event without a time")
        events.append(ItemEvent(on=on, kind=kind, subject=j.opt_string(event, "TicketNumber")))
    return tuple(events)


def parse_ticket(raw: Any) -> UtilityTicket:
    status = j.string(raw, "Status")
    return UtilityTicket(
        utility=Utility(j.string(raw, "Utility")),  # ValueError on an unknown utility
        ticket_number=j.string(raw, "TicketNumber"),
        status=UtilityStatus(status),
        raw_status=status,
        updated_on=_day(raw, "UpdatedAt"),
    )


def _hold(raw: Any) -> tuple[date, date | None]:
    start = _day(raw, "From")
    if start is None:
        raise ValueError("a hold without a start")
    return start, _day(raw, "Until")


def _day(raw: Any, key: str) -> date | None:
    """The Hengyang date of an ISO 8601 timestamp; a timestamp without an offset is refused."""
    value = j.opt_string(raw, key)
    if value is None:
        return None
    day = _hengyang_day(value)
    if day is None:
        raise ValueError(f"{key} has no UTC offset")
    return day


@functools.lru_cache(maxsize=4096)
def _hengyang_day(value: str) -> date | None:
    """The Hengyang date of ``value``, None without an offset; not ISO 8601 raises ValueError (not cached)."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        return None
    return moment.astimezone(HENGYANG).date()
