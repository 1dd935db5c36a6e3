"""The ledger through GraphQL: queries, mutations, error codes, idempotent retries."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry

from domain.principal import ANONYMOUS, Principal, Role
from registry.store import Registry
from schema.ledger import Mutation, Query, actor_of
from tests.registry.conftest import LedgerContext

SCHEMA = strawberry.Schema(query=Query, mutation=Mutation)
ADMIN = Principal(subject="admin@zone", role=Role.ADMIN)


async def run(registry: Registry, query: str, principal: Principal | None = ADMIN, **variables: Any) -> Any:
    context = LedgerContext(registry, principal or ANONYMOUS)
    return await SCHEMA.execute(query, variable_values=variables, context_value=context)


COVERAGE = """
{ delegationCoverage {
    original cancelled added inForce takenOver ratio departments unassigned activeAccounts
    byDepartment { code name inForce takenOver ratio activeAccounts }
    byBureau { code inForce }
    gaps { kind detail itemCode }
    gapCounts { kind count }
} }
"""


async def test_delegation_coverage_on_the_seeded_ledger(seeded: Registry) -> None:
    result = await run(seeded, COVERAGE)
    assert result.errors is None
    c = result.data["delegationCoverage"]
    assert (c["original"], c["cancelled"], c["added"], c["inForce"], c["takenOver"]) == (
        346,
        12,
        12,
        346,
        346,
    )
    assert (c["ratio"], c["departments"], c["unassigned"]) == (1.0, 12, 0)
    assert c["gaps"] == [] and all(g["count"] == 0 for g in c["gapCounts"])
    assert sum(d["inForce"] for d in c["byDepartment"]) == 346
    assert c["byDepartment"][0]["name"] == "高新区行政审批服务局"


ITEMS = """
query($filter: DelegatedItemFilter, $first: Int!, $after: String) {
  delegatedItems(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { code name categoryLabel status department { code } system { name } } }
  }
}
"""


async def test_delegated_items_pages_through_a_filter(seeded: Registry) -> None:
    seen: list[str] = []
    after = None
    while True:
        result = await run(
            seeded, ITEMS, filter={"departmentCode": "HBJ", "status": "TAKEN_OVER"}, first=10, after=after
        )
        assert result.errors is None
        page = result.data["delegatedItems"]
        assert page["totalCount"] == 26
        seen += [e["node"]["code"] for e in page["edges"]]
        assert all(e["node"]["department"]["code"] == "HBJ" for e in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == 26 and seen == sorted(seen)
    search = await run(seeded, ITEMS, filter={"search": "排污许可证核发"}, first=50)
    names = [e["node"]["name"] for e in search.data["delegatedItems"]["edges"]]
    assert names and all("排污许可证核发" in n for n in names)


async def test_bad_paging_arguments_are_bad_user_input(seeded: Registry) -> None:
    for variables in ({"first": 0}, {"first": 10, "after": "not-a-cursor"}):
        result = await run(seeded, ITEMS, **variables)
        assert result.errors and result.errors[0].extensions["code"] == "BAD_USER_INPUT"


ITEM = """
query($code: String!) { delegatedItem(code: $code) {
  code status origin cancelReason sourceBureau { shortName }
  history { actor field oldValue newValue reason }
} }
"""


async def test_delegated_item_with_its_history(seeded: Registry) -> None:
    cancelled = await run(seeded, ITEMS, filter={"status": "CANCELLED"}, first=1)
    code = cancelled.data["delegatedItems"]["edges"][0]["node"]["code"]
    result = await run(seeded, ITEM, code=code)
    item = result.data["delegatedItem"]
    assert item["status"] == "CANCELLED" and "无实质内容" in item["cancelReason"]
    statuses = [h["newValue"] for h in item["history"] if h["field"] == "status"]
    assert statuses == [
        "DELEGATED",
        "ASSIGNED",
        "ACCOUNT_REQUESTED",
        "ACCOUNT_ISSUED",
        "GUIDED",
        "TAKEN_OVER",
        "CANCELLED",
    ]
    assert (await run(seeded, ITEM, code="NO-SUCH")).data == {"delegatedItem": None}


async def test_accounts_and_departments(seeded: Registry) -> None:
    result = await run(
        seeded,
        """{ departments { code name }
             accounts(departmentCode: "SPJ") {
               id holder role active department { code } system { code }
             } }""",
    )
    assert result.errors is None
    assert len(result.data["departments"]) == 12
    accounts = result.data["accounts"]
    assert accounts and all(a["department"]["code"] == "SPJ" and a["active"] for a in accounts)


CANCEL = """
mutation($code: String!, $reason: String!, $key: String!) {
  cancelDelegatedItem(itemCode: $code, reason: $reason, idempotencyKey: $key) { code status cancelReason }
}
"""
EVENT = """
mutation($code: String!, $event: DelegationEvent!, $key: String!, $department: String) {
  recordDelegationEvent(itemCode: $code, event: $event, idempotencyKey: $key, departmentCode: $department) {
    code status department { code }
  }
}
"""
ADD = """
mutation($key: String!) {
  addDelegatedItem(code: "430400-XK-SSLJ-901", name: "水利基建项目初步设计文件审批", category: LICENSING,
                   mode: DIRECT, sourceBureauCode: "SSLJ", systemCode: "QSXK", idempotencyKey: $key) {
    code status origin
  }
}
"""


async def test_mutations_walk_an_item_and_record_the_actor(seeded: Registry) -> None:
    added = await run(seeded, ADD, key="add-1")
    assert added.errors is None
    assert added.data["addDelegatedItem"] == {
        "code": "430400-XK-SSLJ-901",
        "status": "DELEGATED",
        "origin": "ADDED",
    }
    assigned = await run(
        seeded, EVENT, code="430400-XK-SSLJ-901", event="ASSIGNED", key="e1", department="SPJ"
    )
    assert assigned.data["recordDelegationEvent"]["department"] == {"code": "SPJ"}
    history = (await run(seeded, ITEM, code="430400-XK-SSLJ-901")).data["delegatedItem"]["history"]
    assert {h["actor"] for h in history} == {"admin@zone"}


async def test_an_admin_with_a_long_subject_runs_mutations(seeded: Registry) -> None:
    from registry.models import bounded_actor

    subject = "https://idp.zone.internal/realms/hengyang/users/" + "0123456789abcdef" * 12
    admin = Principal(subject=subject, role=Role.ADMIN)
    added = await run(seeded, ADD, principal=admin, key="long-sub")
    assert added.errors is None, added.errors
    history = (await run(seeded, ITEM, code="430400-XK-SSLJ-901")).data["delegatedItem"]["history"]
    assert {h["actor"] for h in history} == {bounded_actor(subject)}


@pytest.mark.parametrize(
    ("variables", "argument"),
    [
        ({"code": "430400-XK-SSLJ-001", "reason": "\u200b", "key": "zw"}, "reason"),
        ({"code": "430400-XK-SSLJ-001", "reason": "并入\x00", "key": "nul"}, "reason"),
        ({"code": " ", "reason": "并入其他事项", "key": "blank"}, "itemCode"),
    ],
    ids=["zero-width-reason", "nul-reason", "blank-code"],
)
async def test_bad_mutation_input_is_bad_user_input(
    seeded: Registry, variables: dict[str, str], argument: str
) -> None:
    result = await run(seeded, CANCEL, ADMIN, **variables)
    [error] = result.errors
    assert error.extensions["code"] == "BAD_USER_INPUT", error
    assert error.extensions.get("argument") == argument, error.extensions


def test_the_actor_is_the_principal_or_system() -> None:
    class Info:
        def __init__(self, context: object) -> None:
            self.context = context

    registry: Any = None  # not read by actor_of
    assert actor_of(Info(LedgerContext(registry, ADMIN))) == "admin@zone"  # type: ignore[arg-type]
    assert actor_of(Info(LedgerContext(registry))) == "system"  # type: ignore[arg-type]


async def test_illegal_transitions_and_unknowns_carry_their_codes(seeded: Registry) -> None:
    await run(seeded, ADD, key="add-1")
    jump = await run(seeded, EVENT, code="430400-XK-SSLJ-901", event="TAKEN_OVER", key="j")
    error = jump.errors[0]
    assert error.extensions["code"] == "ILLEGAL_TRANSITION"
    assert error.extensions["transition"] == "DELEGATED → TAKEN_OVER"
    assert "skips ASSIGNED, ACCOUNT_REQUESTED, ACCOUNT_ISSUED, GUIDED" in error.message
    missing = await run(seeded, CANCEL, code="NO-SUCH", reason="x", key="c")
    assert missing.errors[0].extensions == {"code": "NOT_FOUND", "entity": "delegated item", "key": "NO-SUCH"}
    blank = await run(seeded, CANCEL, code="430400-XK-SSLJ-901", reason=" ", key="c2")
    assert blank.errors[0].extensions["code"] == "BAD_USER_INPUT"


async def test_a_retried_mutation_answers_the_same_and_changes_nothing(seeded: Registry) -> None:
    await run(seeded, ADD, key="add-1")
    first = await run(seeded, CANCEL, code="430400-XK-SSLJ-901", reason="上位法调整", key="cancel-1")
    again = await run(seeded, CANCEL, code="430400-XK-SSLJ-901", reason="上位法调整", key="cancel-1")
    assert first.errors is None and again.errors is None
    assert first.data == again.data
    history = (await run(seeded, ITEM, code="430400-XK-SSLJ-901")).data["delegatedItem"]["history"]
    assert [h["newValue"] for h in history if h["field"] == "status"] == ["DELEGATED", "CANCELLED"]
    reused = await run(seeded, CANCEL, code="430400-XK-SSLJ-901", reason="another reason", key="cancel-1")
    assert reused.errors[0].extensions["code"] == "BAD_USER_INPUT"


ASSIGN = """
mutation($key: String!) {
  assignAccount(departmentCode: "RSJ", systemCode: "RSYT", holder: "陈静", role: "审核人",
                idempotencyKey: $key) {
    id active holder
  }
}
"""
REVOKE = """
mutation($id: Int!, $key: String!) {
  revokeAccount(accountId: $id, reason: "人员调岗", idempotencyKey: $key) { id active revokeReason revokedOn }
}
"""


async def test_assign_and_revoke_accounts(seeded: Registry) -> None:
    assigned = await run(seeded, ASSIGN, key="a1")
    account = assigned.data["assignAccount"]
    assert account["active"] and account["holder"] == "陈静"
    assert (await run(seeded, ASSIGN, key="a1")).data["assignAccount"]["id"] == account["id"]
    revoked = await run(seeded, REVOKE, id=account["id"], key="r1")
    assert revoked.data["revokeAccount"]["active"] is False
    twice = await run(seeded, REVOKE, id=account["id"], key="r2")
    assert twice.errors[0].extensions["code"] == "ILLEGAL_TRANSITION"
    unknown = await run(seeded, REVOKE, id=424242, key="r3")
    assert unknown.errors[0].extensions["code"] == "NOT_FOUND"


async def test_the_registry_merges_into_the_hub_schema() -> None:
    from schema import build_schema

    schema = build_schema()
    sdl = str(schema)
    for name in ("delegationCoverage", "delegatedItems", "recordDelegationEvent", "cancelDelegatedItem"):
        assert name in sdl
