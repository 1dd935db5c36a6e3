"""住房和城乡建设局's part of a matter: the ``Matter.constructionPermit`` field and its types.

The connector names this module (``part = "onematter_construction_permit.part:PART"``);
the hub adds the field to ``Matter`` when it loads the connector. The field is
null, with the department's error, when the department failed.
"""

from __future__ import annotations

from datetime import date

import strawberry

from domain.records import Lifecycle
from onematter_construction_permit.connector import JointAcceptance, Permit, Supervision
from schema import MatterPart, PartInput


@strawberry.type(description="A construction permit (施工许可): one phase's, or the whole project's (FULL).")
class ConstructionPermitPhase:
    phase: str = strawberry.field(description="EARTHWORK, BASEMENT, BELOW_GROUND, ABOVE_GROUND or FULL.")
    phase_name: str
    file_number: str
    status: Lifecycle
    raw_status: str
    accepted_on: date | None
    issued_on: date | None
    permit_number: str | None = strawberry.field(
        description="The permit's number (施工许可证编号), once issued."
    )


@strawberry.type(description="A quality (质量监督) or safety (安全监督) supervision registration.")
class SupervisionRegistration:
    kind: str = strawberry.field(description="QUALITY or SAFETY.")
    status: Lifecycle
    raw_status: str
    number: str | None
    registered_on: date | None


@strawberry.type(description="The joint final acceptance (竣工联合验收).")
class JointFinalAcceptance:
    status: Lifecycle
    raw_status: str
    accepted_on: date | None
    passed_on: date | None


@strawberry.type(
    description="住房和城乡建设局: the project's permits, supervision registrations and joint acceptance."
)
class ConstructionPermits:
    permits: list[ConstructionPermitPhase]
    supervision: list[SupervisionRegistration]
    joint_acceptance: JointFinalAcceptance | None


def show(part: PartInput) -> ConstructionPermits:
    """The bureau's records for the project (all empty when it does not know the project)."""
    records = part.view.records if part.view is not None else ()
    acceptances = [r for r in records if isinstance(r, JointAcceptance)]
    return ConstructionPermits(
        permits=[
            ConstructionPermitPhase(
                phase=r.phase,
                phase_name=r.phase_name,
                file_number=r.file_number,
                status=r.status,
                raw_status=r.raw_status,
                accepted_on=r.accepted_on,
                issued_on=r.issued_on,
                permit_number=r.permit_number,
            )
            for r in records
            if isinstance(r, Permit)
        ],
        supervision=[
            SupervisionRegistration(
                kind=r.kind,
                status=r.status,
                raw_status=r.raw_status,
                number=r.number,
                registered_on=r.registered_on,
            )
            for r in records
            if isinstance(r, Supervision)
        ],
        joint_acceptance=JointFinalAcceptance(
            status=acceptances[0].status,
            raw_status=acceptances[0].raw_status,
            accepted_on=acceptances[0].accepted_on,
            passed_on=acceptances[0].passed_on,
        )
        if acceptances
        else None,
    )


PART = MatterPart(
    field="construction_permit",
    type=ConstructionPermits,
    show=show,
    description="住房和城乡建设局's permits (per phase), supervision registrations and joint "
    "final acceptance; null with an error when the bureau failed.",
)
