"""The five built-in departments' parts of a matter, declared like any plug-in's.

Each built-in connector names its part here (``part = "schema.departments:FIRE"``);
``schema.parts`` adds the fields to ``Matter``: ``planning``, ``civilAirDefence``,
``firePath``, ``utilities`` and ``realEstate``.
"""

from __future__ import annotations

from datetime import date

import strawberry

from domain import records
from domain.records import (
    FirePathKind,
    Lifecycle,
    RegistrationType,
    ShelterRequirement,
    Utility,
    UtilityStatus,
)
from schema.copying import copied
from schema.labels import code_label, department_label
from schema.parts import MatterPart, PartInput
from schema.types import ApprovalItem


@strawberry.type(description="A department's items (planning has no other part).")
class DepartmentItems:
    department: str
    department_label: str = department_label()
    items: list[ApprovalItem]


@strawberry.type(description="The civil air defence decision: build a shelter, pay the fee, or exempt.")
class CivilAirDefenceDecision:
    requirement: ShelterRequirement
    requirement_label: str = code_label("requirement")
    shelter_area_m2: float | None
    fee_yuan: float | None = strawberry.field(description="易地建设费, when the fee applies.")
    status: Lifecycle
    status_label: str = code_label("status")
    raw_status: str

    @classmethod
    def of(cls, d: records.CivilAirDefenceDecision) -> CivilAirDefenceDecision:
        return copied(cls, d)


@strawberry.type(description="Fire: design review then acceptance, or filing (备案) with spot checks.")
class FirePath:
    path: FirePathKind
    path_label: str = code_label("path")
    spot_check_drawn: bool


@strawberry.type
class UtilityTicket:
    utility: Utility
    utility_label: str = code_label("utility")
    ticket_number: str
    status: UtilityStatus
    status_label: str = code_label("status")
    raw_status: str
    updated_on: date | None

    @classmethod
    def of(cls, t: records.UtilityTicket) -> UtilityTicket:
        return copied(cls, t)


@strawberry.type(description="A real-estate registration of one unit (不动产单元).")
class Registration:
    business_number: str
    unit_number: str = strawberry.field(description="28-character unit number (GB/T 37346-2019).")
    parcel_code: str = strawberry.field(description="宗地代码: the unit number's first 19 characters.")
    type: RegistrationType
    type_label: str = code_label("type")
    raw_type: str
    status: Lifecycle
    status_label: str = code_label("status")
    raw_status: str
    submitted_on: date | None
    registered_on: date | None
    certificate_number: str | None

    @classmethod
    def of(cls, r: records.Registration) -> Registration:
        return copied(cls, r, parcel_code=r.unit_number[:19])


def _items(part: PartInput) -> DepartmentItems:
    items = part.view.items if part.view else ()
    return DepartmentItems(department=part.department, items=[ApprovalItem.of(i, part.as_of) for i in items])


def _civil_air_defence(part: PartInput) -> CivilAirDefenceDecision | None:
    decision = part.view.civil_air_defence if part.view else None
    return CivilAirDefenceDecision.of(decision) if decision else None


def _fire_path(part: PartInput) -> FirePath | None:
    path = part.view.fire_path if part.view else None
    return FirePath(path=path.path, spot_check_drawn=path.spot_check_drawn) if path else None


def _utilities(part: PartInput) -> list[UtilityTicket]:
    return [UtilityTicket.of(t) for t in part.view.utilities] if part.view else []


def _real_estate(part: PartInput) -> list[Registration]:
    return [Registration.of(r) for r in part.view.registrations] if part.view else []


def items_part(department: str) -> MatterPart:
    """A department's items as its own field of Matter, named after it.

    For a department with no part of its own (a mapping file's ``part = "items"``).
    """
    return MatterPart(
        field=department,
        type=DepartmentItems,
        show=_items,
        description=f"The items of {department}; null with an error when it failed.",
    )


PLANNING = MatterPart(
    field="planning",
    type=DepartmentItems,
    show=_items,
    description="Planning's items; null with an error when planning failed.",
)
CIVIL_AIR_DEFENCE = MatterPart(
    field="civil_air_defence", type=CivilAirDefenceDecision | None, show=_civil_air_defence
)
FIRE = MatterPart(field="fire_path", type=FirePath | None, show=_fire_path)
UTILITIES = MatterPart(
    field="utilities",
    type=list[UtilityTicket],
    show=_utilities,
    description="The four joint-connection tickets; null with an error when utilities failed.",
)
REAL_ESTATE = MatterPart(
    field="real_estate",
    type=list[Registration],
    show=_real_estate,
    description="Registrations by unit; null with an error when registration failed.",
)
