"""Phased construction permits (分阶段办理施工许可), as the zone's rules state them.

Earthwork and foundation pit on the planning-conditions approval; below ±0.000
on the detailed plan, layout plan and design-scheme review opinion; above
ground on the full planning permit, the fire design review where required and
the civil air defence decision; every phase on the land approval with all
parties fixed. Expectations are computed here from the world's facts, not by
calling the hub's rules.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from domain.records import ITEM_KINDS, Lifecycle
from fixtures.world import DEPARTMENTS, PhasedMode, World
from tests.schema.conftest import Hub

PHASED = """
query ($code: String!) {
  matter(projectCode: $code) { name phasedPermit { mode phases { phase name eligible missing } } }
}
"""
PARTIES = "全部参建单位确定"
CAD = "人防审批（结建或易地建设）"


def expected_missing(world: World, code: str) -> dict[str, set[str]]:
    """phase -> the prerequisites the world says are still missing."""
    project = world.projects[code]
    views = {d: v for d in DEPARTMENTS if (v := world.view(d, code))}
    approved = {i.kind for v in views.values() for i in v.items if i.status is Lifecycle.APPROVED}

    def lacking(*kinds: str) -> set[str]:
        return {ITEM_KINDS[k] for k in kinds if k not in approved}

    common = lacking("planning.land_use_permit", "planning.conditions")
    if not getattr(project, "parties_fixed", True):
        common.add(PARTIES)
    below = common | lacking(
        "planning.detailed_plan", "planning.layout_plan", "planning.design_scheme_review"
    )
    above = below | lacking("planning.construction_permit")
    if project.special_fire:
        above |= lacking("fire.design_review")
    cad = views.get("civil_air_defence")
    decision = cad.civil_air_defence if cad else None
    if decision is None or decision.status is not Lifecycle.APPROVED:
        above.add(CAD)
    if project.phased_mode is PhasedMode.THREE_PHASE:
        return {"EARTHWORK": common, "BASEMENT": below, "ABOVE_GROUND": above}
    if project.phased_mode is PhasedMode.TWO_PHASE:
        return {"BELOW_GROUND": below, "ABOVE_GROUND": above}
    return {"FULL": above}


def boundary(answer: dict[str, Any]) -> str:
    """The last eligible phase: the boundary the project stands at."""
    eligible = [p["phase"] for p in answer["phases"] if p["eligible"]]
    return f"{answer['mode']}:{eligible[-1] if eligible else 'NONE'}"


async def test_tianjia_shanghe_jiuzhang_earthwork_stage(hub: Hub, world: World) -> None:
    [code] = [c for c, p in world.projects.items() if p.case_name and "天嘉·上河九章" in p.case_name]
    body = await hub.query(PHASED, {"code": code})
    assert "errors" not in body
    answer = body["data"]["matter"]["phasedPermit"]
    assert answer["mode"] == "THREE_PHASE"
    phases = {p["phase"]: p for p in answer["phases"]}
    assert list(phases) == ["EARTHWORK", "BASEMENT", "ABOVE_GROUND"]
    assert phases["EARTHWORK"]["eligible"] is True
    assert phases["EARTHWORK"]["missing"] == []
    assert phases["BASEMENT"]["eligible"] is False
    assert phases["BASEMENT"]["missing"], "the basement phase names what it still needs"
    assert phases["ABOVE_GROUND"]["eligible"] is False


async def test_every_phased_project_at_its_boundary(hub: Hub, world: World) -> None:
    phased = sorted(c for c, p in world.projects.items() if p.phased_mode is not PhasedMode.NONE)
    assert phased
    seen: dict[str, list[str]] = defaultdict(list)
    for code in phased:
        body = await hub.query(PHASED, {"code": code})
        assert "errors" not in body, body["errors"]
        answer = body["data"]["matter"]["phasedPermit"]
        expected = expected_missing(world, code)
        got = {p["phase"]: p for p in answer["phases"]}
        assert list(got) == list(expected), code
        for phase, missing in expected.items():
            assert set(got[phase]["missing"]) == missing, (code, phase)
            assert got[phase]["eligible"] is (not missing), (code, phase)
        seen[boundary(answer)].append(code)
    # The world holds projects at each boundary of the three-phase mode, and two-phase ones.
    for mark in ("THREE_PHASE:NONE", "THREE_PHASE:EARTHWORK", "THREE_PHASE:BASEMENT"):
        assert seen[mark], f"no project at {mark}; boundaries seen: {dict(seen)}"
    assert any(m.startswith("TWO_PHASE:") for m in seen), dict(seen)
    print({mark: len(codes) for mark, codes in sorted(seen.items())})


async def test_single_permit_projects_need_everything(hub: Hub, world: World) -> None:
    code = next(c for c in sorted(world.projects) if world.projects[c].phased_mode is PhasedMode.NONE)
    body = await hub.query(PHASED, {"code": code})
    answer = body["data"]["matter"]["phasedPermit"]
    assert answer["mode"] == "NONE"
    [full] = answer["phases"]
    assert full["phase"] == "FULL"
    assert set(full["missing"]) == expected_missing(world, code)["FULL"]


async def test_phased_permit_is_null_when_planning_is_down(hub: Hub, world: World) -> None:
    [code] = [c for c, p in world.projects.items() if p.case_name and "天嘉·上河九章" in p.case_name]
    await hub.fault("planning", maintenance=True)
    body = await hub.query(PHASED, {"code": code})
    assert body["data"]["matter"]["phasedPermit"] is None
    codes = {e["extensions"]["code"] for e in body["errors"]}
    assert codes == {"DEPARTMENT_UNAVAILABLE"}
