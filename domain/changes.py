"""What moved in a department's part of a project: the changes the hub announces.

:func:`diff` compares two views of one department for one project and lists
each item, registration or utility ticket whose status changed (or that
appeared). A change's ``id`` is a digest of the project, the department, the
thing, the old status and the new record in full (dates and pause periods
included), so two hub replicas that see the same transition compute the same
id, and the id is how the change feed announces a change once.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from domain.records import DepartmentView


class Subject(StrEnum):
    ITEM = "ITEM"  # an approval item
    REGISTRATION = "REGISTRATION"  # a real-estate registration
    UTILITY_TICKET = "UTILITY_TICKET"  # one utility of the joint connection


@dataclass(frozen=True, slots=True)
class Change:
    """One status change in one department's part of one project."""

    id: str
    project_code: str
    department: str
    subject: Subject
    kind: str  # item kind, "real_estate.registration" or "utilities.<utility>"
    name: str  # the item's name, the registration type, or the utility
    number: str | None  # file number, business number or ticket number
    old_status: str | None  # None: new here
    new_status: str
    raw_old_status: str | None
    raw_new_status: str
    detected_at: datetime

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["detected_at"] = self.detected_at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Change:
        return cls(
            **{
                **data,
                "subject": Subject(data["subject"]),
                "detected_at": datetime.fromisoformat(data["detected_at"]),
            }
        )


def _things(view: DepartmentView | None) -> dict[tuple[Subject, str], tuple[Any, str, str | None, str]]:
    """(subject, key) -> (record, kind, number, name) for everything with a status in ``view``."""
    found: dict[tuple[Subject, str], tuple[Any, str, str | None, str]] = {}
    if view is None:
        return found
    for item in view.items:
        found[(Subject.ITEM, f"{item.kind}/{item.file_number or item.name}")] = (
            item,
            item.kind,
            item.file_number,
            item.name,
        )
    for reg in view.registrations:
        found[(Subject.REGISTRATION, reg.business_number)] = (
            reg,
            "real_estate.registration",
            reg.business_number,
            reg.raw_type,
        )
    for ticket in view.utilities:
        found[(Subject.UTILITY_TICKET, ticket.ticket_number)] = (
            ticket,
            f"utilities.{ticket.utility.value.lower()}",
            ticket.ticket_number,
            ticket.utility.value,
        )
    return found


def change_id(project_code: str, department: str, key: str, old_status: str | None, new: Any) -> str:
    text = f"{project_code}|{department}|{key}|{old_status}|{new!r}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def diff(
    project_code: str,
    department: str,
    old: DepartmentView | None,
    new: DepartmentView | None,
    *,
    at: datetime,
) -> list[Change]:
    """What changed status between ``old`` and ``new`` (things gone from ``new`` are not changes)."""
    before = _things(old)
    changes: list[Change] = []
    for (subject, key), (record, kind, number, name) in _things(new).items():
        previous = before.get((subject, key))
        old_status = str(previous[0].status) if previous else None
        if old_status == str(record.status):
            continue
        changes.append(
            Change(
                id=change_id(project_code, department, f"{subject}/{key}", old_status, record),
                project_code=project_code,
                department=department,
                subject=subject,
                kind=kind,
                name=name,
                number=number,
                old_status=old_status,
                new_status=str(record.status),
                raw_old_status=previous[0].raw_status if previous else None,
                raw_new_status=record.raw_status,
                detected_at=at,
            )
        )
    return changes
