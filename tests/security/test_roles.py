"""For each role, one thing it can read and one it cannot; objects left out of lists; masking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from domain.principal import Principal, Role
from schema.permissions import PERSONAL_DATA, mask, mask_name, mask_phone
from tests.security.conftest import ACME, BETA, P1, P2, P3, SecureHub

MATTER = '{ matter(projectCode: "%s") { projectCode name } }'


def codes(body: dict[str, Any]) -> list[str]:
    return [m["projectCode"] for m in body["data"]["matters"]]


def forbidden(body: dict[str, Any]) -> bool:
    return bool(body.get("errors")) and all(e["extensions"]["code"] == "FORBIDDEN" for e in body["errors"])


# (role, query it can read, query it cannot)
CASES: list[tuple[Role | None, str, str]] = [
    (None, "{ approvalGuide }", MATTER % P1),
    (Role.ENTERPRISE, MATTER % P1, f'{{ enterprise(creditCode: "{BETA}") {{ name }} }}'),
    (Role.AGENT, MATTER % P3, MATTER % P1),
    (Role.WINDOW_STAFF, MATTER % P3, "{ accounts { system } }"),
    (Role.AUDITOR, "{ accounts { system } }", MATTER % P1),
    (Role.AUDITOR, "{ accessLog { entries { id } } }", "{ sources }"),
    (Role.INTEGRATOR, "{ sources }", "{ accessLog { entries { id } } }"),
    (Role.ADMIN, "{ delegationCoverage }", f'{{ enterprise(creditCode: "{ACME}") {{ name }} }}'),
]


@pytest.mark.parametrize(("role", "allowed", "refused"), CASES, ids=lambda v: getattr(v, "value", None))
async def test_each_role_reads_one_thing_and_not_another(
    secure_hub: SecureHub, role: Role | None, allowed: str, refused: str
) -> None:
    ok = await secure_hub.query(allowed, role=role)
    assert "errors" not in ok, ok
    assert all(v is not None for v in ok["data"].values())
    no = await secure_hub.query(refused, role=role)
    assert forbidden(no), no


async def test_admin_may_write_and_window_staff_may_not(secure_hub: SecureHub) -> None:
    mutation = 'mutation { cancelItem(code: "HY-001", reason: "无实质内容") }'
    before = await secure_hub.counts()
    refused = await secure_hub.query(mutation, role=Role.WINDOW_STAFF)
    assert forbidden(refused)
    assert await secure_hub.counts() == before
    done = await secure_hub.query(mutation, role=Role.ADMIN)
    assert done == {"data": {"cancelItem": "cancelled"}}


async def test_a_forbidden_object_is_left_out_of_a_list(secure_hub: SecureHub) -> None:
    assert codes(await secure_hub.query("{ matters { projectCode } }", role=Role.ENTERPRISE)) == [P1, P2]
    assert codes(await secure_hub.query("{ matters { projectCode } }", role=Role.AGENT)) == [P3]
    assert codes(await secure_hub.query("{ matters { projectCode } }", role=Role.WINDOW_STAFF)) == [
        P1,
        P2,
        P3,
    ]
    agent = await secure_hub.query("{ matters { projectCode } }", role=Role.AGENT, projects=[P1, P3])
    assert codes(agent) == [P1, P3]


async def test_another_enterprises_project_is_null_as_an_unknown_one(secure_hub: SecureHub) -> None:
    other = await secure_hub.query(MATTER % P3, role=Role.ENTERPRISE)
    unknown = await secure_hub.query(MATTER % "2023-430472-47-03-999999", role=Role.ENTERPRISE)
    assert other == unknown == {"data": {"matter": None}}


async def test_one_enterprise_cannot_read_another(secure_hub: SecureHub) -> None:
    own = await secure_hub.query(
        f'{{ enterprise(creditCode: "{ACME}") {{ creditCode }} }}', role=Role.ENTERPRISE
    )
    assert own["data"]["enterprise"]["creditCode"] == ACME
    other = await secure_hub.query(f'{{ enterprise(creditCode: "{BETA}") {{ name }} }}', role=Role.ENTERPRISE)
    assert forbidden(other)
    assert other["data"] == {"enterprise": None}
    assert BETA in other["errors"][0]["message"]


async def test_an_agent_reads_the_enterprise_it_serves(secure_hub: SecureHub) -> None:
    served = await secure_hub.query(f'{{ enterprise(creditCode: "{BETA}") {{ name }} }}', role=Role.AGENT)
    assert "errors" not in served
    other = await secure_hub.query(f'{{ enterprise(creditCode: "{ACME}") {{ name }} }}', role=Role.AGENT)
    assert forbidden(other)


async def test_a_forbidden_field_does_not_spoil_the_rest(secure_hub: SecureHub) -> None:
    body = await secure_hub.query("{ delegationCoverage sources }", role=Role.AUDITOR)
    assert body["data"] == {"delegationCoverage": 1.0, "sources": None}
    assert [e["path"] for e in body["errors"]] == [["sources"]]
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_account_holders_are_masked_for_auditors(secure_hub: SecureHub) -> None:
    auditor = await secure_hub.query("{ accounts { holder } }", role=Role.AUDITOR)
    admin = await secure_hub.query("{ accounts { holder } }", role=Role.ADMIN)
    assert auditor["data"]["accounts"] == [{"holder": "李*"}]
    assert admin["data"]["accounts"] == [{"holder": "李四"}]


async def test_people_who_work_the_case_see_phones(secure_hub: SecureHub) -> None:
    body = await secure_hub.query(
        f'{{ matter(projectCode: "{P1}") {{ agentName agentPhone }} }}', role=Role.ENTERPRISE
    )
    assert body["data"]["matter"] == {"agentName": "王小明", "agentPhone": "13812345678"}


@dataclass
class _Context:
    principal: Principal


class _Info:
    def __init__(self, role: Role | None) -> None:
        self.context = _Context(Principal("x", role) if role else Principal("anonymous", None))


@pytest.mark.parametrize("role", [None, *Role])
@pytest.mark.parametrize("kind", sorted(PERSONAL_DATA))
def test_masking_follows_the_table(role: Role | None, kind: str) -> None:
    value = "13812345678" if kind == "phone" else "欧阳娜娜"
    shown = mask(_Info(role), kind, value)  # type: ignore[arg-type]
    if role in PERSONAL_DATA[kind]:
        assert shown == value
    else:
        assert shown != value
        assert shown == (mask_phone(value) if kind == "phone" else mask_name(value))


def test_mask_shapes() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("0734-8888888") == "073*-***8888"
    assert mask_name("张伟") == "张*"
    assert mask_name("欧阳娜娜") == "欧***"
