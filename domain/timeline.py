"""A matter's timeline: every department's events in date order, and the clock's pause periods.

Built from what the departments said: each item's processing history
(``ApprovalItem.history``, utility ticket moves included) and each real-estate
registration's dates. Pause periods run from a 补齐补正 request to the
returned materials, or from 挂起 to 恢复; the working-day clock skips them, so
an item's working days used are its timeline's working days minus its pauses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from domain.labels import label
from domain.records import (
    ITEM_KINDS,
    PAUSE_STARTS,
    ApprovalItem,
    DepartmentView,
    EventKind,
    ItemEvent,
    Registration,
)

__all__ = ["PausePeriod", "Timeline", "TimelineEvent", "item_pauses", "timeline"]


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    on: date
    department: str
    item_kind: str
    item_name: str
    kind: EventKind
    label: str  # what happened, in Chinese (e.g. "供水：现场踏勘", "首次登记：登簿")
    reference: str | None  # the department's file number, ticket number or business number


@dataclass(frozen=True, slots=True)
class PausePeriod:
    department: str
    item_kind: str
    item_name: str
    reason: EventKind  # SUPPLEMENT_REQUESTED (补齐补正) or SUSPENDED (挂起)
    start: date
    end: date | None  # None: still paused


@dataclass(frozen=True, slots=True)
class Timeline:
    events: tuple[TimelineEvent, ...]
    pauses: tuple[PausePeriod, ...]


def item_pauses(history: Iterable[ItemEvent]) -> list[tuple[EventKind, date, date | None]]:
    """(reason, start, end) for each pause on a history; an unclosed pause ends None."""
    pauses: list[tuple[EventKind, date, date | None]] = []
    open_: tuple[EventKind, date] | None = None
    for event in history:
        if event.subject is not None:
            continue  # a ticket's move, not the item's clock
        if event.kind in PAUSE_STARTS and open_ is None:
            open_ = (event.kind, event.on)
        elif open_ is not None and event.kind is PAUSE_STARTS[open_[0]]:
            pauses.append((open_[0], open_[1], event.on))
            open_ = None
    if open_ is not None:
        pauses.append((open_[0], open_[1], None))
    return pauses


def _item_events(department: str, item: ApprovalItem, tickets: Mapping[str, str]) -> list[TimelineEvent]:
    out = []
    for event in item.history:
        text = label(event.kind)
        reference = item.file_number
        if event.subject is not None:
            reference = event.subject
            utility = tickets.get(event.subject)
            text = f"{utility}：{text}" if utility else f"{event.subject}：{text}"
        out.append(TimelineEvent(event.on, department, item.kind, item.name, event.kind, text, reference))
    return out


def _registration_events(department: str, registration: Registration) -> list[TimelineEvent]:
    kind = "real_estate.registration"
    name = label(registration.type)
    ref = registration.business_number
    out = []
    if registration.submitted_on:
        out.append(
            TimelineEvent(
                registration.submitted_on,
                department,
                kind,
                ITEM_KINDS[kind],
                EventKind.REGISTRATION_APPLIED,
                f"{name}：申请（{registration.unit_number}）",
                ref,
            )
        )
    if registration.registered_on:
        out.append(
            TimelineEvent(
                registration.registered_on,
                department,
                kind,
                ITEM_KINDS[kind],
                EventKind.REGISTERED,
                f"{name}：登簿（{registration.unit_number}）",
                ref,
            )
        )
        if registration.certificate_number:
            out.append(
                TimelineEvent(
                    registration.registered_on,
                    department,
                    kind,
                    ITEM_KINDS[kind],
                    EventKind.CERTIFICATE_ISSUED,
                    f"{name}：发证 {registration.certificate_number}",
                    ref,
                )
            )
    return out


def timeline(views: Mapping[str, DepartmentView], order: Sequence[str] = ()) -> Timeline:
    """Every event of every department in date order (departments in ``order`` first, then by name).

    Events of one day keep their departments' order and each history's own order.
    """
    rank = {name: i for i, name in enumerate(order)}
    names = sorted(views, key=lambda n: (rank.get(n, len(rank)), n))
    events: list[TimelineEvent] = []
    pauses: list[PausePeriod] = []
    for name in names:
        view = views[name]
        tickets = {t.ticket_number: label(t.utility) for t in view.utilities}
        for item in view.items:
            events.extend(_item_events(name, item, tickets))
            for reason, start, end in item_pauses(item.history):
                pauses.append(PausePeriod(name, item.kind, item.name, reason, start, end))
        for registration in view.registrations:
            events.extend(_registration_events(name, registration))
    events.sort(key=lambda e: e.on)  # stable: same-day events keep department and history order
    pauses.sort(key=lambda p: p.start)
    return Timeline(tuple(events), tuple(pauses))
