from datetime import date
from typing import Any

import pytest

from domain.handbook import HANDBOOK
from domain.records import (
    ApprovalItem,
    CivilAirDefenceDecision,
    DepartmentView,
    EnterpriseProfile,
    Lifecycle,
    ProjectProfile,
    ShelterRequirement,
    Stage,
)
from domain.rules import (
    blockers,
    civil_air_defence_requirement,
    derive_stage,
    item_clock,
    next_steps,
    phased_permit,
)

AS_OF = date(2025, 11, 28)
CODE = "2023-430472-47-03-012345"


def profile(**kw):
    base: dict[str, Any] = dict(
        project_code=CODE,
        name="测试项目",
        enterprise=EnterpriseProfile("91350200776049653A", "测试企业"),
        site="衡阳高新区",
        division="430472",
        parcel_code="430408001002GB00001",
        floors_above_ground=18,
        foundation_depth_m=6.0,
        ground_floor_area_m2=1200.0,
        total_area_m2=20000.0,
        is_plant=False,
        special_fire=True,
        phased_mode="THREE_PHASE",
    )
    base.update(kw)
    return ProjectProfile(**base)


def item(kind, status=Lifecycle.APPROVED, dept=None, **kw):
    return ApprovalItem(
        department=dept or kind.split(".")[0], kind=kind, name=kind, status=status, raw_status="x", **kw
    )


def planning(*kinds, status=Lifecycle.APPROVED):
    return DepartmentView("planning", CODE, items=tuple(item(k, status) for k in kinds))


def test_handbook_has_fourteen_entries_with_promises_under_half():
    assert len(HANDBOOK) == 14
    assert len({e.code for e in HANDBOOK}) == 14
    for e in HANDBOOK:
        assert e.promised_days * 2 < e.statutory_days or e.statutory_days <= 3, e.code
        assert e.contact and e.materials and e.basis


def test_clock_counts_working_days_and_skips_pauses():
    it = item(
        "planning.land_use_permit",
        Lifecycle.IN_REVIEW,
        accepted_on=date(2025, 11, 3),
        promised_limit_days=5,
        statutory_limit_days=20,
        paused=((date(2025, 11, 5), date(2025, 11, 12)),),
    )
    clock = item_clock(it, AS_OF)
    assert clock.working_days_used == 19 - 5  # (Nov 3, Nov 28] has 19, the pause 5
    assert clock.overdue
    assert clock.due_on == date(2025, 11, 17)
    assert clock.limit_problem is None


def test_decided_item_is_not_overdue_and_bad_limits_are_flagged():
    it = item(
        "fire.design_review",
        accepted_on=date(2025, 11, 3),
        decided_on=date(2025, 11, 5),
        promised_limit_days=30,
        statutory_limit_days=15,
    )
    clock = item_clock(it, AS_OF)
    assert clock.working_days_used == 2 and not clock.overdue
    assert clock.limit_problem == "promised limit exceeds the statutory limit"


def test_stage_follows_departments_and_items():
    assert derive_stage({"planning": planning("planning.conditions")}) is Stage.LAND_AND_PLANNING
    assert derive_stage({"planning": planning("planning.detailed_plan")}) is Stage.ENGINEERING_PERMIT
    fire = DepartmentView("fire", CODE, items=(item("fire.design_review"),))
    assert derive_stage({"planning": planning(), "fire": fire}) is Stage.CONSTRUCTION_PERMIT
    re_ = DepartmentView("real_estate", CODE)
    assert derive_stage({"planning": planning(), "real_estate": re_}) is Stage.COMPLETION_ACCEPTANCE


@pytest.mark.parametrize(
    ("floors", "depth", "plant", "expected"),
    [
        (10, 1.0, False, ShelterRequirement.SHELTER),
        (3, 3.0, False, ShelterRequirement.SHELTER),
        (20, 8.0, True, ShelterRequirement.EXEMPT),
        (9, 2.9, False, ShelterRequirement.FEE),
    ],
)
def test_civil_air_defence_rule(floors, depth, plant, expected):
    req, area, fee = civil_air_defence_requirement(
        floors_above_ground=floors,
        foundation_depth_m=depth,
        is_plant=plant,
        ground_floor_area_m2=800.0,
        total_area_m2=5000.0,
    )
    assert req is expected
    assert (area == 800.0) is (expected is ShelterRequirement.SHELTER)
    assert (fee == 200000.0) is (expected is ShelterRequirement.FEE)


def _phases(views, **kw):
    return {p.phase: p for p in phased_permit(profile(**kw), views).phases}


def test_earthwork_phase_needs_only_planning_conditions_and_land():
    views = {"planning": planning("planning.conditions", "planning.land_use_permit")}
    phases = _phases(views)
    assert phases["EARTHWORK"].eligible and phases["EARTHWORK"].missing == ()
    assert not phases["BASEMENT"].eligible
    assert set(phases["BASEMENT"].missing) == {"修建性详细规划", "总平面图", "建设工程设计方案审查意见"}


def test_each_phase_boundary():
    base = ["planning.conditions", "planning.land_use_permit"]
    below = [*base, "planning.detailed_plan", "planning.layout_plan", "planning.design_scheme_review"]
    phases = _phases({"planning": planning(*below)})
    assert phases["BASEMENT"].eligible and not phases["ABOVE_GROUND"].eligible
    assert "建设工程规划许可证" in phases["ABOVE_GROUND"].missing
    cad = DepartmentView(
        "civil_air_defence",
        CODE,
        civil_air_defence=CivilAirDefenceDecision(
            ShelterRequirement.SHELTER, 1200.0, None, Lifecycle.APPROVED, "通过"
        ),
    )
    fire = DepartmentView("fire", CODE, items=(item("fire.design_review"),))
    full = {
        "planning": planning(*below, "planning.construction_permit"),
        "civil_air_defence": cad,
        "fire": fire,
    }
    assert _phases(full)["ABOVE_GROUND"].eligible
    assert not _phases({**full, "fire": DepartmentView("fire", CODE)})["ABOVE_GROUND"].eligible
    assert _phases({**full, "fire": DepartmentView("fire", CODE)}, special_fire=False)[
        "ABOVE_GROUND"
    ].eligible
    assert not _phases(full, parties_fixed=False)["EARTHWORK"].eligible


def test_two_phase_and_single_permit_modes():
    views = {"planning": planning("planning.conditions", "planning.land_use_permit")}
    assert list(_phases(views, phased_mode="TWO_PHASE")) == ["BELOW_GROUND", "ABOVE_GROUND"]
    assert list(_phases(views, phased_mode="NONE")) == ["FULL"]


def test_blockers_and_next_steps_for_missing_materials():
    owed = item(
        "planning.design_scheme_review",
        Lifecycle.IN_REVIEW,
        accepted_on=date(2025, 10, 9),
        missing_materials=("日照分析报告",),
        materials_due_on=date(2025, 10, 20),
        promised_limit_days=60,
        statutory_limit_days=120,
    )
    views = {"planning": DepartmentView("planning", CODE, items=(owed,))}
    reasons = {b.reason for b in blockers(profile(), views, AS_OF)}
    assert reasons == {"RETURN_DUE"}
    assert {b.reason for b in blockers(profile(), views, date(2025, 10, 22))} == {"MATERIALS_OVERDUE"}
    steps = next_steps(profile(), views, AS_OF)
    assert steps[0].materials == ("日照分析报告",)
    assert any(s.guide_entry_code == "G05" for s in steps)


def test_fee_unpaid_and_joint_acceptance_blockers():
    cad = DepartmentView(
        "civil_air_defence",
        CODE,
        civil_air_defence=CivilAirDefenceDecision(
            ShelterRequirement.FEE, None, 8000.0, Lifecycle.IN_REVIEW, "待审查"
        ),
    )
    views = {"planning": planning("planning.verification"), "civil_air_defence": cad}
    found = {b.reason for b in blockers(profile(), views, AS_OF)}
    assert found == {"FEE_UNPAID", "JOINT_ACCEPTANCE_NOT_READY"}
    assert any(s.title == "缴纳人防易地建设费" for s in next_steps(profile(), views, AS_OF))


def test_a_decision_past_the_limit_is_late_by_its_working_days():
    # accepted Mon 2025-11-03, promised 5: due Mon 11-10; decided Fri 11-14 = 9 used, 4 late
    it = item(
        "planning.land_use_permit",
        accepted_on=date(2025, 11, 3),
        decided_on=date(2025, 11, 14),
        promised_limit_days=5,
        statutory_limit_days=20,
    )
    clock = item_clock(it, AS_OF)
    assert clock.working_days_used == 9
    assert clock.due_on == date(2025, 11, 10)
    assert not clock.overdue  # decided: not open any more
    assert clock.decided_late and clock.late_by_days == 4
    assert clock.promise_kept is False


def test_a_decision_within_the_limit_keeps_the_promise_and_open_items_are_not_judged():
    kept = item(
        "planning.land_use_permit",
        Lifecycle.REJECTED,
        accepted_on=date(2025, 11, 3),
        decided_on=date(2025, 11, 10),
        promised_limit_days=5,
        statutory_limit_days=20,
    )
    clock = item_clock(kept, AS_OF)
    assert clock.promise_kept is True and not clock.decided_late and clock.late_by_days is None
    open_ = item(
        "planning.land_use_permit",
        Lifecycle.IN_REVIEW,
        accepted_on=date(2025, 11, 3),
        promised_limit_days=5,
        statutory_limit_days=20,
    )
    assert item_clock(open_, AS_OF).promise_kept is None and item_clock(open_, AS_OF).overdue
    withdrawn = item(
        "planning.land_use_permit",
        Lifecycle.WITHDRAWN,
        accepted_on=date(2025, 11, 3),
        decided_on=date(2025, 11, 20),
        promised_limit_days=5,
        statutory_limit_days=20,
    )
    clock = item_clock(withdrawn, AS_OF)
    assert clock.promise_kept is None and not clock.decided_late and not clock.overdue


def test_pauses_do_not_make_a_decision_late():
    # 9 working days between acceptance and decision, 5 of them in 补齐补正: 4 used of 5
    it = item(
        "planning.land_use_permit",
        accepted_on=date(2025, 11, 3),
        decided_on=date(2025, 11, 14),
        promised_limit_days=5,
        statutory_limit_days=20,
        paused=((date(2025, 11, 4), date(2025, 11, 11)),),
    )
    clock = item_clock(it, AS_OF)
    assert clock.working_days_used == 4 and clock.promise_kept and clock.due_on == date(2025, 11, 17)


def test_calendar_day_limits_count_calendar_days():
    from domain.limits import LimitUnit

    it = item(
        "environment.assessment",
        accepted_on=date(2023, 3, 1),
        decided_on=date(2023, 4, 17),
        promised_limit_days=90,
        statutory_limit_days=90,
        limit_unit=LimitUnit.CALENDAR_DAYS,
    )
    clock = item_clock(it, AS_OF)
    assert clock.working_days_used == 47 and clock.promise_kept
    assert clock.due_on == date(2023, 5, 30)


def test_limits_that_differ_from_the_published_table_are_flagged():
    it = item(
        "planning.layout_plan", accepted_on=date(2025, 11, 3), promised_limit_days=5, statutory_limit_days=20
    )
    assert item_clock(it, AS_OF).limit_problem == (
        "the department's limits (20/5) differ from the published ones (20/7)"
    )


def test_promise_tally_counts_decided_items_by_department_and_kind():
    from domain.rules import promise_tally

    def decided(kind, days, status=Lifecycle.APPROVED):
        return item(
            kind,
            status,
            accepted_on=date(2025, 11, 3),
            decided_on=date(2025, 11, 3 + days),
            promised_limit_days=5,
            statutory_limit_days=20,
        )

    items = [
        decided("planning.conditions", 2),
        decided("planning.conditions", 10),  # 8 working days: late
        decided("planning.land_use_permit", 1, Lifecycle.REJECTED),
        decided("fire.design_review", 1),
        item("fire.design_review", Lifecycle.IN_REVIEW, accepted_on=date(2025, 11, 3), promised_limit_days=7),
        decided("fire.design_review", 1, Lifecycle.WITHDRAWN),
    ]
    tally = promise_tally(items, AS_OF)
    assert (tally.total.decided, tally.total.kept, tally.total.late) == (4, 3, 1)
    assert tally.by_department["planning"].rate == 2 / 3
    assert tally.by_department["fire"].rate == 1.0
    assert tally.by_kind["planning.conditions"].late == 1
    assert promise_tally([], AS_OF).total.rate is None
