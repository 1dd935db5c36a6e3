"""生态环境局's part of a matter: the ``Matter.ecology`` field and the type that shows it.

The connector names this module (``part = "onematter_ecology.part:PART"``); the hub adds
the field to ``Matter`` when it loads the connector. The field is null, with
the department's error, when the department failed.
"""

from __future__ import annotations

from datetime import date

import strawberry

from domain.limits import LimitUnit
from domain.records import Lifecycle
from domain.workdays import working_days_between
from onematter_ecology.connector import Assessment
from schema import MatterPart, PartInput


@strawberry.type(
    description="生态环境局: one environmental-impact assessment (环评), as the department records it."
)
class EcologyAssessment:
    file_number: str
    form: str = strawberry.field(
        description="REPORT_BOOK (报告书), REPORT_FORM (报告表) or REGISTRATION_FORM (登记表)."
    )
    raw_form: str
    status: Lifecycle
    raw_status: str
    submitted_on: date | None
    accepted_on: date | None
    decided_on: date | None
    approval_number: str | None = strawberry.field(description="The approval's document number (批复文号).")
    statutory_limit: int | None
    promised_limit: int | None
    limit_unit: str = strawberry.field(
        description="WORKING_DAYS or CALENDAR_DAYS: the unit of the limits and of daysTaken."
    )
    days_taken: int | None = strawberry.field(
        description="From acceptance to the decision (or to today while undecided), in the limits' unit."
    )
    within_promise: bool | None = strawberry.field(
        description="Decided (or still running) within the promised limit; null without a promise or a start."
    )


def _taken(a: Assessment, as_of: date) -> int | None:
    start = a.accepted_on or a.submitted_on
    if start is None:
        return None
    end = a.decided_on or as_of
    if a.limit_unit is LimitUnit.CALENDAR_DAYS:
        return (end - start).days
    return working_days_between(start, end)


def show(part: PartInput) -> list[EcologyAssessment]:
    """The department's assessments for the project ([] when it does not know the project)."""
    records = part.view.records if part.view is not None else ()
    shown = []
    for r in records:
        if not isinstance(r, Assessment):
            continue
        taken = _taken(r, part.as_of)
        shown.append(
            EcologyAssessment(
                file_number=r.file_number,
                form=r.form,
                raw_form=r.raw_form,
                status=r.status,
                raw_status=r.raw_status,
                submitted_on=r.submitted_on,
                accepted_on=r.accepted_on,
                decided_on=r.decided_on,
                approval_number=r.approval_number,
                statutory_limit=r.statutory_limit,
                promised_limit=r.promised_limit,
                limit_unit=r.limit_unit.value,
                days_taken=taken,
                within_promise=None
                if taken is None or r.promised_limit is None
                else taken <= r.promised_limit,
            )
        )
    return shown


PART = MatterPart(
    field="ecology",
    type=list[EcologyAssessment],
    show=show,
    description="生态环境局's environmental-impact assessments (环评); "
    "null with an error when the department failed.",
)
