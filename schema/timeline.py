"""``Matter.timeline``: every department's events in date order, and the clock's pause periods."""

from __future__ import annotations

from datetime import date

import strawberry

from domain import timeline as tl
from domain.labels import label
from domain.records import EventKind
from domain.workdays import working_days_between
from schema.labels import code_label, department_label

strawberry.enum(
    EventKind, description="What happened to an item, from the departments' processing histories."
)


@strawberry.type(description="One step a department logged.")
class TimelineEvent:
    date: date
    department: str
    department_label: str = department_label()
    item_kind: str = strawberry.field(description="The approval kind the step belongs to.")
    item_name: str
    kind: EventKind
    kind_label: str = code_label("kind")
    label: str = strawberry.field(description="What happened, in Chinese (e.g. 补齐补正告知, 供水：接通).")
    reference: str | None = strawberry.field(
        description="The department's file number, ticket number or registration business number."
    )


@strawberry.type(description="A period the working-day clock does not count: 补齐补正 or 挂起.")
class PausePeriod:
    department: str
    department_label: str = department_label()
    item_kind: str
    item_name: str
    reason: EventKind = strawberry.field(description="SUPPLEMENT_REQUESTED (补齐补正) or SUSPENDED (挂起).")
    reason_label: str
    start: date
    end: date | None = strawberry.field(description="Null while still paused.")
    working_days: int = strawberry.field(
        description="Working days in (start, end], or up to the as-of date while still paused."
    )


@strawberry.type(
    description=(
        "A matter's events across the departments that answered (see sources), in date order; "
        "an item's working days used are its days from acceptance to decision minus its pauses."
    )
)
class MatterTimeline:
    events: list[TimelineEvent]
    pauses: list[PausePeriod]

    @classmethod
    def of(cls, found: tl.Timeline, as_of: date) -> MatterTimeline:
        return cls(
            events=[
                TimelineEvent(
                    date=e.on,
                    department=e.department,
                    item_kind=e.item_kind,
                    item_name=e.item_name,
                    kind=e.kind,
                    label=e.label,
                    reference=e.reference,
                )
                for e in found.events
            ],
            pauses=[
                PausePeriod(
                    department=p.department,
                    item_kind=p.item_kind,
                    item_name=p.item_name,
                    reason=p.reason,
                    reason_label=label(p.reason),
                    start=p.start,
                    end=p.end,
                    working_days=working_days_between(p.start, min(p.end or as_of, as_of)),
                )
                for p in found.pauses
            ],
        )
