"""Rules the hub computes over what the departments said: stages, phased permits, clocks.

Pure functions over ``domain.records``: the approval stage, each item's
working-day clock, the phased-permit answer, blockers and next steps. No
GraphQL and no I/O, so every rule is tested directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from domain.handbook import BY_KIND, HANDBOOK
from domain.labels import PHASE_LABELS
from domain.limits import LIMITS, LimitUnit
from domain.records import (
    ITEM_KINDS,
    ApprovalItem,
    DepartmentView,
    Lifecycle,
    ProjectProfile,
    ShelterRequirement,
    Stage,
)
from domain.workdays import add_working_days, calendar_days_between, working_days_between

Views = Mapping[str, DepartmentView]

DECIDED = frozenset({Lifecycle.APPROVED, Lifecycle.REJECTED, Lifecycle.WITHDRAWN})
# A 容缺 case in 补齐补正 is returned (退件) this many working days after the materials' due date.
RETURN_AFTER_WORKING_DAYS = 15
# 易地建设费 per square metre of total floor area (衡阳市 standard for the demo world).
RELOCATION_FEE_YUAN_PER_M2 = 40.0


# --- clocks -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemClock:
    """What an item's clock says at ``as_of``.

    ``overdue``: still open (not decided) and past its limit today.
    ``decided_late``: decided (approved or rejected) after its limit, by
    ``late_by_days`` (working days, or calendar days for a calendar-day limit).
    ``promise_kept``: decided within the promised limit (True), after it
    (False); None while open, when withdrawn, or when no limit is known.
    """

    working_days_used: int | None
    due_on: date | None
    overdue: bool
    limit_problem: str | None  # bad data, e.g. a promised limit above the statutory one
    decided_late: bool = False
    late_by_days: int | None = None
    promise_kept: bool | None = None


# Decisions a time limit is kept or broken by (a withdrawal is the applicant's, not a decision).
_JUDGED = frozenset({Lifecycle.APPROVED, Lifecycle.REJECTED})


def _limit_problem(item: ApprovalItem) -> str | None:
    statutory, promised = item.statutory_limit_days, item.promised_limit_days
    if promised is not None and statutory is not None and promised > statutory:
        return "promised limit exceeds the statutory limit"
    published = LIMITS.get(item.kind)
    if published is not None and (statutory, promised) != (published.statutory, published.promised):
        return (
            f"the department's limits ({statutory}/{promised}) differ from the published ones "
            f"({published.statutory}/{published.promised})"
        )
    return None


def item_clock(item: ApprovalItem, as_of: date) -> ItemClock:
    """The item's clock at ``as_of``.

    The clock runs from acceptance (or submission) to the decision (or
    ``as_of``), skipping time in 补齐补正 or 挂起, in working days (calendar
    days for an item whose limits are in calendar days). The promised limit
    applies, the statutory one when no promise is made. An undecided item past
    its limit is overdue; a decided one past it was decided late.
    """
    problem = _limit_problem(item)
    start = item.accepted_on or item.submitted_on
    if start is None:
        return ItemClock(None, None, False, problem)
    decided = item.status in DECIDED and item.decided_on is not None
    end = item.decided_on if decided and item.decided_on else as_of
    calendar = item.limit_unit is LimitUnit.CALENDAR_DAYS
    between = calendar_days_between if calendar else working_days_between
    used = max(
        0, between(start, end) - sum(between(max(lo, start), min(hi or end, end)) for lo, hi in item.paused)
    )
    limit = item.promised_limit_days if item.promised_limit_days is not None else item.statutory_limit_days
    if limit is None:
        return ItemClock(used, None, False, problem)
    paused_days = sum(between(max(lo, start), min(hi or end, end)) for lo, hi in item.paused)
    due_on = (
        start + timedelta(days=limit + paused_days)
        if calendar
        else add_working_days(start, limit + paused_days)
    )
    overdue = item.status not in DECIDED and used > limit
    judged = decided and item.status in _JUDGED
    late = judged and used > limit
    return ItemClock(
        used,
        due_on,
        overdue,
        problem,
        decided_late=late,
        late_by_days=used - limit if late else None,
        promise_kept=(used <= limit) if judged else None,
    )


@dataclass(frozen=True, slots=True)
class PromiseCount:
    """Decided items and how many kept their promised limit."""

    decided: int = 0
    kept: int = 0

    @property
    def late(self) -> int:
        return self.decided - self.kept

    @property
    def rate(self) -> float | None:
        """Kept / decided, or None when nothing was decided."""
        return self.kept / self.decided if self.decided else None


@dataclass(frozen=True, slots=True)
class PromiseTally:
    total: PromiseCount
    by_department: dict[str, PromiseCount]
    by_kind: dict[str, PromiseCount]


def promise_tally(items: Iterable[ApprovalItem], as_of: date) -> PromiseTally:
    """Promise-kept counts over ``items``: every approved or rejected item with a limit counts."""
    total = [0, 0]
    depts: dict[str, list[int]] = {}
    kinds: dict[str, list[int]] = {}
    for item in items:
        kept = item_clock(item, as_of).promise_kept
        if kept is None:
            continue
        for counts in (total, depts.setdefault(item.department, [0, 0]), kinds.setdefault(item.kind, [0, 0])):
            counts[0] += 1
            counts[1] += kept
    return PromiseTally(
        PromiseCount(*total),
        {k: PromiseCount(*v) for k, v in sorted(depts.items())},
        {k: PromiseCount(*v) for k, v in sorted(kinds.items())},
    )


# --- stage --------------------------------------------------------------------

_ENGINEERING_KINDS = frozenset(
    {
        "planning.design_scheme_review",
        "planning.detailed_plan",
        "planning.layout_plan",
        "planning.construction_permit",
    }
)
_COMPLETION_KINDS = frozenset(
    {
        "planning.verification",
        "fire.acceptance",
        "fire.acceptance_filing",
        "civil_air_defence.acceptance",
        "real_estate.registration",
    }
)
_CONSTRUCTION_DEPARTMENTS = frozenset({"civil_air_defence", "fire", "utilities"})


def _items(views: Views) -> Iterable[ApprovalItem]:
    for view in views.values():
        yield from view.items


def derive_stage(views: Views) -> Stage:
    """The approval stage the project has reached, from the departments' items."""
    kinds = {item.kind for item in _items(views)}
    if "real_estate" in views or kinds & _COMPLETION_KINDS:
        return Stage.COMPLETION_ACCEPTANCE
    if _CONSTRUCTION_DEPARTMENTS & views.keys():
        return Stage.CONSTRUCTION_PERMIT
    if kinds & _ENGINEERING_KINDS:
        return Stage.ENGINEERING_PERMIT
    return Stage.LAND_AND_PLANNING


# --- civil air defence ----------------------------------------------------------


def civil_air_defence_requirement(
    *,
    floors_above_ground: int,
    foundation_depth_m: float,
    is_plant: bool,
    ground_floor_area_m2: float,
    total_area_m2: float,
) -> tuple[ShelterRequirement, float | None, float | None]:
    """Shelter or fee: (requirement, shelter area m², fee in yuan).

    Buildings of 10+ floors or with foundations 3 m+ deep build a shelter the
    size of the ground floor; plants are exempt; other civil buildings pay the
    relocation fee (易地建设费) instead.
    """
    if is_plant:
        return ShelterRequirement.EXEMPT, None, None
    if floors_above_ground >= 10 or foundation_depth_m >= 3.0:
        return ShelterRequirement.SHELTER, ground_floor_area_m2, None
    return ShelterRequirement.FEE, None, round(total_area_m2 * RELOCATION_FEE_YUAN_PER_M2, 2)


# --- phased construction permits ----------------------------------------------


@dataclass(frozen=True, slots=True)
class PhaseAnswer:
    phase: str  # EARTHWORK, BASEMENT, BELOW_GROUND, ABOVE_GROUND or FULL
    name: str
    eligible: bool
    missing: tuple[str, ...]  # prerequisites still missing, by name


@dataclass(frozen=True, slots=True)
class PhasedPermitAnswer:
    mode: str
    phases: tuple[PhaseAnswer, ...]


_PHASES: dict[str, tuple[str, ...]] = {
    "THREE_PHASE": ("EARTHWORK", "BASEMENT", "ABOVE_GROUND"),
    "TWO_PHASE": ("BELOW_GROUND", "ABOVE_GROUND"),
    "NONE": ("FULL",),
}


def _approved_kinds(views: Views) -> set[str]:
    return {item.kind for item in _items(views) if item.status is Lifecycle.APPROVED}


def _phase_prerequisites(phase: str, profile: ProjectProfile, views: Views) -> list[tuple[str, bool]]:
    """(name, met) pairs for one phase, cumulative over the earlier phases."""
    approved = _approved_kinds(views)

    def item(kind: str) -> tuple[str, bool]:
        return ITEM_KINDS[kind], kind in approved

    common = [item("planning.land_use_permit"), ("全部参建单位确定", profile.parties_fixed)]
    earthwork = [item("planning.conditions")]
    basement = [
        item("planning.detailed_plan"),
        item("planning.layout_plan"),
        item("planning.design_scheme_review"),
    ]
    above = [item("planning.construction_permit")]
    if profile.special_fire:
        above.append(item("fire.design_review"))
    cad = views.get("civil_air_defence")
    decision = cad.civil_air_defence if cad else None
    above.append(
        ("人防审批（结建或易地建设）", decision is not None and decision.status is Lifecycle.APPROVED)
    )
    if phase == "EARTHWORK":
        return common + earthwork
    if phase in ("BASEMENT", "BELOW_GROUND"):
        return common + earthwork + basement
    return common + earthwork + basement + above


def phased_permit(profile: ProjectProfile, views: Views) -> PhasedPermitAnswer:
    """For each construction-permit phase of the project's mode: eligible, or what is missing."""
    mode = profile.phased_mode if profile.phased_mode in _PHASES else "NONE"
    answers = []
    for phase in _PHASES[mode]:
        prereqs = _phase_prerequisites(phase, profile, views)
        missing = tuple(n for n, met in prereqs if not met)
        answers.append(PhaseAnswer(phase, PHASE_LABELS[phase], not missing, missing))
    return PhasedPermitAnswer(mode, tuple(answers))


# --- blockers and next steps --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Blocker:
    department: str
    kind: str | None
    # REJECTED, SUPPLEMENT_REQUIRED, SUSPENDED, OVERDUE, MATERIALS_OVERDUE, RETURN_DUE,
    # FEE_UNPAID or JOINT_ACCEPTANCE_NOT_READY
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class NextStep:
    department: str
    kind: str | None
    title: str
    materials: tuple[str, ...]
    guide_entry_code: str | None


def _materials_state(item: ApprovalItem, as_of: date) -> str | None:
    """Where a 容缺 item stands: None, MATERIALS_OVERDUE or RETURN_DUE."""
    if not item.missing_materials or item.materials_due_on is None or item.status in DECIDED:
        return None
    if as_of <= item.materials_due_on:
        return None
    if working_days_between(item.materials_due_on, as_of) >= RETURN_AFTER_WORKING_DAYS:
        return "RETURN_DUE"
    return "MATERIALS_OVERDUE"


def joint_acceptance_missing(profile: ProjectProfile, views: Views) -> list[str]:
    """Parts of the joint final acceptance not yet applied for (it opens when none is missing).

    Quality supervision and archives are held by no connected system, so the
    hub checks planning verification, fire and (for shelters) civil air defence.
    """
    present = {item.kind for item in _items(views) if item.status is not Lifecycle.NOT_STARTED}
    needed = [("planning.verification",), ("fire.acceptance", "fire.acceptance_filing")]
    cad = views.get("civil_air_defence")
    if cad and cad.civil_air_defence and cad.civil_air_defence.requirement is ShelterRequirement.SHELTER:
        needed.append(("civil_air_defence.acceptance",))
    return [ITEM_KINDS[kinds[0]] for kinds in needed if not present & set(kinds)]


def blockers(profile: ProjectProfile, views: Views, as_of: date) -> list[Blocker]:
    """What stops the project moving, department by department."""
    found: list[Blocker] = []
    for item in _items(views):
        label = f"{item.name}"
        if item.status is Lifecycle.REJECTED:
            found.append(Blocker(item.department, item.kind, "REJECTED", f"{label}：不予许可"))
        elif item.status is Lifecycle.SUPPLEMENT_REQUIRED:
            found.append(Blocker(item.department, item.kind, "SUPPLEMENT_REQUIRED", f"{label}：待补齐补正"))
        elif item.status is Lifecycle.SUSPENDED:
            found.append(Blocker(item.department, item.kind, "SUSPENDED", f"{label}：已挂起"))
        state = _materials_state(item, as_of)
        if state == "RETURN_DUE":
            found.append(
                Blocker(item.department, item.kind, state, f"{label}：容缺材料逾期超过15个工作日，应予退件")
            )
        elif state == "MATERIALS_OVERDUE":
            found.append(
                Blocker(item.department, item.kind, state, f"{label}：容缺材料已过补交期限，转入补齐补正")
            )
        if item_clock(item, as_of).overdue:
            found.append(Blocker(item.department, item.kind, "OVERDUE", f"{label}：已超承诺时限"))
    cad = views.get("civil_air_defence")
    decision = cad.civil_air_defence if cad else None
    if (
        decision
        and decision.requirement is ShelterRequirement.FEE
        and decision.status is not Lifecycle.APPROVED
    ):
        found.append(
            Blocker("civil_air_defence", None, "FEE_UNPAID", f"人防易地建设费未缴清（{decision.fee_yuan}元）")
        )
    if derive_stage(views) is Stage.COMPLETION_ACCEPTANCE:
        missing = joint_acceptance_missing(profile, views)
        if missing:
            found.append(
                Blocker(
                    "joint_acceptance",
                    None,
                    "JOINT_ACCEPTANCE_NOT_READY",
                    "竣工联合验收尚未开启，缺：" + "、".join(missing),
                )
            )
    return found


def next_steps(profile: ProjectProfile, views: Views, as_of: date) -> list[NextStep]:
    """What the enterprise must bring next, from the items and the handbook."""
    steps: list[NextStep] = []
    for item in _items(views):
        entry = BY_KIND.get(item.kind)
        code = entry.code if entry else None
        if item.missing_materials and item.status not in DECIDED:
            steps.append(
                NextStep(item.department, item.kind, f"补交{item.name}容缺材料", item.missing_materials, code)
            )
        elif item.status is Lifecycle.SUPPLEMENT_REQUIRED:
            materials = entry.materials if entry else ()
            steps.append(NextStep(item.department, item.kind, f"补齐补正：{item.name}", materials, code))
    cad = views.get("civil_air_defence")
    decision = cad.civil_air_defence if cad else None
    if (
        decision
        and decision.requirement is ShelterRequirement.FEE
        and decision.status is not Lifecycle.APPROVED
    ):
        steps.append(
            NextStep("civil_air_defence", None, "缴纳人防易地建设费", ("易地建设费缴费凭证",), "G08")
        )
    # The first handbook entries of the current stage with no application yet.
    stage = derive_stage(views)
    applied = {item.kind for item in _items(views) if item.status is not Lifecycle.NOT_STARTED}
    for entry in HANDBOOK:
        if entry.stage is not stage or not entry.item_kinds or applied & set(entry.item_kinds):
            continue
        if entry.code == "G07" and not profile.special_fire:
            title = "办理消防设计备案"
        elif entry.code == "G13" and not (decision and decision.requirement is ShelterRequirement.SHELTER):
            continue
        else:
            title = f"申请{entry.name}"
        steps.append(NextStep(entry.department, entry.item_kinds[0], title, entry.materials, entry.code))
    return steps
