"""Labels a portal can show: one convention, a sibling ``<field>Label`` for every displayed code."""

from __future__ import annotations

from typing import Any

from domain.labels import LABELS, label
from domain.principal import Role
from domain.records import Lifecycle, Stage
from fixtures.generate import SUNSHINE_SCHOOL_CODE, TIANJIA_CODE
from tests.schema.conftest import Hub

DISPLAYED_ENUMS = {
    "Stage",
    "Lifecycle",
    "ShelterRequirement",
    "FirePathKind",
    "Utility",
    "UtilityStatus",
    "RegistrationType",
    "LimitUnit",
    "EventKind",
    "SourceStatus",
}
DISPLAYED_CODES = {"department", "phase", "mode"}  # plain-string codes a portal displays

INTROSPECT = """
{ __schema { types { name kind fields {
  name type { ...T ofType { ...T ofType { ...T ofType { ...T } } } } } } } }
fragment T on __Type { kind name }
"""


def named(t: dict[str, Any]) -> str | None:
    while t.get("ofType"):
        t = t["ofType"]
    return t.get("name")


def test_every_enum_member_has_a_label() -> None:
    for enum, table in LABELS.items():
        assert set(table) == set(enum), enum.__name__
        assert all(table.values())
    assert label(Stage.CONSTRUCTION_PERMIT) == "施工许可"
    assert label(Lifecycle.SUPPLEMENT_REQUIRED) == "补齐补正"


async def test_every_displayed_code_has_a_label_sibling(hub: Hub) -> None:
    body = await hub.query(INTROSPECT, role=Role.WINDOW_STAFF)
    types = {t["name"]: t for t in body["data"]["__schema"]["types"] if t["kind"] == "OBJECT" and t["fields"]}
    # the one-matter view: every type reachable from these root fields (the ledger has its own vocabulary)
    roots = {
        "matter",
        "matters",
        "enterprise",
        "sources",
        "approvalGuide",
        "promiseKept",
        "connectedDepartments",
    }
    todo = [named(f["type"]) for f in types["Query"]["fields"] if f["name"] in roots]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name is None or name in seen or name not in types:
            continue
        seen.add(name)
        todo += [named(f["type"]) for f in types[name]["fields"]]
    assert {"Matter", "ApprovalItem", "TimelineEvent", "MatterSource", "Phase"} <= seen
    checked = 0
    for t in (types[n] for n in sorted(seen)):
        fields = {f["name"]: f for f in t["fields"]}
        for name, f in fields.items():
            if named(f["type"]) in DISPLAYED_ENUMS or (
                name in DISPLAYED_CODES and named(f["type"]) == "String"
            ):
                sibling = fields.get(f"{name}Label")
                assert sibling is not None, f"{t['name']}.{name} has no {name}Label"
                assert named(sibling["type"]) == "String", f"{t['name']}.{name}Label"
                checked += 1
    assert checked >= 25


MATTER = """
query ($code: String!) { matter(projectCode: $code) {
  stage stageLabel
  items { department departmentLabel status statusLabel limitUnit limitUnitLabel }
  civilAirDefence { requirement requirementLabel status statusLabel }
  firePath { path pathLabel }
  utilities { utility utilityLabel status statusLabel }
  realEstate { type typeLabel status statusLabel }
  phasedPermit { mode modeLabel phases { phase phaseLabel name } }
  blockers { department departmentLabel }
  nextSteps { department departmentLabel }
  sources { department departmentLabel status statusLabel }
  timeline { events { department departmentLabel kind kindLabel } pauses { department departmentLabel } }
} }
"""


async def test_a_matter_carries_its_labels(hub: Hub) -> None:
    body = await hub.query(MATTER, {"code": SUNSHINE_SCHOOL_CODE})
    assert "errors" not in body, body["errors"]
    m = body["data"]["matter"]
    assert (m["stage"], m["stageLabel"]) == ("COMPLETION_ACCEPTANCE", "竣工验收")
    titles = {i["department"]: i["departmentLabel"] for i in m["items"]}
    assert titles == {
        "planning": "自然资源和规划局",
        "civil_air_defence": "人民防空办公室",
        "fire": "消防救援支队",
        "utilities": "水电气讯联合报装",
        "real_estate": "不动产登记中心",
    }
    assert {i["statusLabel"] for i in m["items"]} == {"准予许可"}
    assert {(u["utility"], u["utilityLabel"]) for u in m["utilities"]} >= {("WATER", "供水"), ("GAS", "供气")}
    assert {r["typeLabel"] for r in m["realEstate"]} == {"首次登记"}
    assert m["civilAirDefence"]["requirementLabel"] in {"结建防空地下室", "缴纳易地建设费", "免建"}
    assert m["firePath"]["pathLabel"] == "消防设计审查"
    assert {s["statusLabel"] for s in m["sources"]} == {"实时"}
    assert all(e["kindLabel"] and e["departmentLabel"] for e in m["timeline"]["events"])
    assert m["phasedPermit"]["modeLabel"] == "不分阶段"


async def test_phases_and_guide_entries_are_labelled(hub: Hub) -> None:
    body = await hub.query(MATTER, {"code": TIANJIA_CODE})
    phases = body["data"]["matter"]["phasedPermit"]["phases"]
    assert [p["phaseLabel"] for p in phases] == [p["name"] for p in phases]
    assert phases[0]["phaseLabel"] == "土方开挖及基坑支护阶段"
    guide = await hub.query("{ approvalGuide { code department departmentLabel stage stageLabel } }")
    entries = {e["code"]: e for e in guide["data"]["approvalGuide"]}
    assert entries["G03"]["departmentLabel"] == "自然资源和规划局"
    assert entries["G09"]["departmentLabel"] == "住房和城乡建设局"  # no connected system: the name it gives
    assert entries["G11"]["stageLabel"] == "竣工验收"


async def test_department_titles_are_readable_by_portal_roles(hub: Hub) -> None:
    for role in (Role.WINDOW_STAFF, Role.AUDITOR, Role.INTEGRATOR):
        body = await hub.query("{ connectedDepartments { name title } }", role=role)
        assert "errors" not in body, body["errors"]
        assert body["data"]["connectedDepartments"][0] == {"name": "planning", "title": "自然资源和规划局"}
        assert len(body["data"]["connectedDepartments"]) == 5
    response = await hub.post("{ connectedDepartments { name title } }", role=None)
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"  # anonymous: the handbook only
