"""The domain records' enums are the GraphQL enums: registered once, in place.

Imported by ``schema/__init__.py``, so they are registered before any type
(a plug-in part's included) is declared with them: a type that saw the plain
enum first would make Strawberry define it twice.
"""

from __future__ import annotations

import strawberry

from domain.limits import LimitUnit
from domain.records import (
    FirePathKind,
    Lifecycle,
    RegistrationType,
    ShelterRequirement,
    Stage,
    Utility,
    UtilityStatus,
)

for _enum, _description in (
    (Lifecycle, "The one lifecycle every department's status vocabulary maps onto."),
    (Stage, "The four approval stages."),
    (ShelterRequirement, "Civil air defence: build a shelter, pay the relocation fee, or exempt."),
    (FirePathKind, "Fire: design review then acceptance, or filing."),
    (Utility, None),
    (UtilityStatus, None),
    (RegistrationType, "首次, 变更, 转移, 抵押, 注销, 更正, 异议, 预告, 查封."),
    (LimitUnit, "Working days (the default for licensing items) or calendar days."),
):
    strawberry.enum(_enum, description=_description)
