"""The catalogue, the reform's figures, bureaus and systems through GraphQL."""

from __future__ import annotations

from typing import Any

import strawberry

from domain.principal import Principal, Role
from registry.store import Registry
from schema.catalogue import Query
from tests.registry.conftest import LedgerContext

SCHEMA = strawberry.Schema(query=Query)
AUDITOR = Principal(subject="auditor@zone", role=Role.AUDITOR)
ENTERPRISE = Principal(subject="91350200776049653A", role=Role.ENTERPRISE, credit_code="91350200776049653A")


async def run(registry: Registry, query: str, principal: Principal = AUDITOR, **variables: Any) -> Any:
    context = LedgerContext(registry, principal)
    return await SCHEMA.execute(query, variable_values=variables, context_value=context)


async def test_reform_indicators_equal_the_report_on_the_seeded_data(seeded: Registry) -> None:
    result = await run(seeded, "{ reformIndicators { key label value unit reported basis } }")
    assert result.errors is None
    rows = result.data["reformIndicators"]
    assert {r["key"]: r["value"] for r in rows} == {r["key"]: r["reported"] for r in rows}
    assert len(rows) == 13 and all(r["label"] and r["basis"] for r in rows)


async def test_reform_indicators_are_for_auditors(seeded: Registry) -> None:
    result = await run(seeded, "{ reformIndicators { key } }", ENTERPRISE)
    assert result.errors and result.errors[0].extensions["code"] == "FORBIDDEN"


SERVICES = """
query($filter: ServiceItemFilter, $first: Int!, $after: String) {
  serviceItems(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { code name category statutoryLimit promisedLimit limitUnit tolerance commitment
                   materials { name key } kinds handbookCode } }
  }
}
"""


async def test_service_items_filter_and_page(seeded: Registry) -> None:
    result = await run(seeded, SERVICES, ENTERPRISE, filter={"commitment": True, "inCentre": True}, first=10)
    assert result.errors is None
    page = result.data["serviceItems"]
    assert page["totalCount"] == 13 and page["pageInfo"]["hasNextPage"]
    after = page["pageInfo"]["endCursor"]
    rest = await run(
        seeded, SERVICES, ENTERPRISE, filter={"commitment": True, "inCentre": True}, first=10, after=after
    )
    names = [e["node"]["name"] for e in page["edges"] + rest.data["serviceItems"]["edges"]]
    assert len(set(names)) == 13 and "公共场所卫生许可（新办）" in names
    permit = await run(seeded, SERVICES, filter={"handbookCode": "G09"}, first=5)
    node = permit.data["serviceItems"]["edges"][0]["node"]
    assert (node["statutoryLimit"], node["promisedLimit"], node["limitUnit"], node["tolerance"]) == (
        7,
        3,
        "WORKING_DAYS",
        True,
    )
    assert any(not m["key"] for m in node["materials"])
    eia = await run(seeded, SERVICES, filter={"search": "环境影响报告书审批（新办）"}, first=5)
    item = eia.data["serviceItems"]["edges"][0]["node"]
    assert (item["statutoryLimit"], item["promisedLimit"], item["limitUnit"]) == (180, 90, "CALENDAR_DAYS")


async def test_one_item_with_its_history(seeded: Registry) -> None:
    listed = await run(seeded, SERVICES, filter={"handbookCode": "G03"}, first=1)
    code = listed.data["serviceItems"]["edges"][0]["node"]["code"]
    result = await run(
        seeded, "query($c: String!) { serviceItem(code: $c) { name history { field newValue } } }", c=code
    )
    assert result.errors is None
    item = result.data["serviceItem"]
    assert item["name"] == "建设用地规划许可证核发（新办）"
    assert item["history"][0] == {"field": "item", "newValue": "建设用地规划许可证核发（新办）"}
    missing = await run(seeded, '{ serviceItem(code: "NO-SUCH") { name } }')
    assert missing.data["serviceItem"] is None


async def test_source_bureaus_and_business_systems(seeded: Registry) -> None:
    result = await run(seeded, "{ sourceBureaus { code shortName systems { code name } } }")
    assert result.errors is None
    bureaus = {b["code"]: b for b in result.data["sourceBureaus"]}
    assert len(bureaus) == 18 and bureaus["SZGJ"]["shortName"] == "市资规局"
    assert {s["code"] for s in bureaus["SZGJ"]["systems"]} == {"GTKJ", "BDCD"}
    systems = await run(seeded, '{ businessSystems(bureauCode: "SSTJ") { code name bureauCode } }')
    assert [s["code"] for s in systems.data["businessSystems"]] == ["HPSP", "PWXK"]
    every = await run(seeded, "{ businessSystems { code } }")
    assert len(every.data["businessSystems"]) == 23
