"""Production mode: introspection off, errors masked, no demo secret, strict CORS."""

from __future__ import annotations

from typing import Any

import pytest

from domain.errors import ConfigError
from domain.principal import Role
from gateway.config import HubSettings, Settings
from gateway.security import extensions, middleware
from schema.errors import scrub
from tests.security.conftest import HubFactory, SecureHub

SECRET = "production-secret-production-secret-0123456789"
INTROSPECTION = "{ __schema { queryType { name } types { name } } }"


@pytest.fixture
async def production(make_secure_hub: HubFactory, monkeypatch: pytest.MonkeyPatch) -> SecureHub:
    monkeypatch.setenv("ONEMATTER_AUTH_SECRET", SECRET)
    return await make_secure_hub(mode="production")


async def test_introspection_is_refused(production: SecureHub) -> None:
    for role in (None, Role.WINDOW_STAFF, Role.ADMIN):
        response = await production.post(INTROSPECTION, role=role)
        assert response.status_code in (200, 400)
        body = response.json()
        assert body.get("data") is None
        assert "introspection" in body["errors"][0]["message"].lower()
    typename = await production.post('{ __type(name: "Query") { name } }', role=Role.AUDITOR)
    assert typename.json().get("data") is None


async def test_introspection_works_in_the_demo(secure_hub: SecureHub) -> None:
    body = await secure_hub.query(INTROSPECTION)
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"
    sdl = await secure_hub.query("{ _service { sdl } }")
    assert "approvalGuide" in sdl["data"]["_service"]["sdl"]


async def test_the_federation_sdl_is_closed_in_production(production: SecureHub) -> None:
    body = (await production.post("{ _service { sdl } }")).json()
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    for role in (Role.ENTERPRISE, Role.AGENT, Role.WINDOW_STAFF, Role.AUDITOR, Role.ADMIN):
        refused = (await production.post("{ _service { sdl } }", role=role)).json()
        assert refused.get("data") is None, role
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", role
    # The router's and integrators' role ([limits] service_roles) reads it.
    sdl = await production.query("{ _service { sdl } }", role=Role.INTEGRATOR)
    assert "approvalGuide" in sdl["data"]["_service"]["sdl"]


async def test_validation_errors_suggest_nothing_in_production(
    production: SecureHub, secure_hub: SecureHub
) -> None:
    typo = "{ approvalGuid }"
    demo = (await secure_hub.post(typo, role=Role.WINDOW_STAFF)).json()
    assert "Did you mean" in demo["errors"][0]["message"]  # the demo keeps graphql-core's help
    body = (await production.post(typo, role=Role.WINDOW_STAFF)).json()
    [error] = body["errors"]
    assert error["message"] == "Cannot query field 'approvalGuid' on type 'Query'."
    assert "approvalGuide" not in (await production.post(typo, role=Role.WINDOW_STAFF)).text


async def test_an_internal_error_carries_no_stack_trace_url_or_secret(production: SecureHub) -> None:
    response = await production.post("{ boom approvalGuide }", role=Role.WINDOW_STAFF)
    assert response.status_code == 200
    body = response.json()
    [error] = body["errors"]
    assert error["message"] == "Unexpected error."
    assert error["path"] == ["boom"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    for leak in ("Traceback", "10.1.2.3", "http://", "s3cr3t", "RuntimeError", "token="):
        assert leak not in response.text
    assert body["data"]["approvalGuide"]


async def test_refusals_keep_their_codes_in_production(production: SecureHub) -> None:
    body = (await production.post("{ sources }", role=Role.AUDITOR)).json()
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_graphiql_page_carries_browser_security_headers(production: SecureHub) -> None:
    response = await production.client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-eval" not in csp and "script-src 'self' 'unsafe-inline'" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"


def test_production_refuses_unsafe_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    production = HubSettings(mode="production")
    monkeypatch.delenv("ONEMATTER_AUTH_SECRET", raising=False)
    with pytest.raises(ConfigError, match="demo secret"):
        middleware(Settings(hub=production))
    monkeypatch.setenv("ONEMATTER_AUTH_SECRET", SECRET)
    with pytest.raises(ConfigError, match="introspection"):
        extensions(Settings(hub=production, limits={"introspection": True}))
    with pytest.raises(ConfigError, match=r"\*"):
        middleware(Settings(hub=production, limits={"cors": {"allow_origins": ["*"]}}))
    with pytest.raises(ConfigError, match="max_depth"):
        extensions(Settings(limits={"max_depth": "deep"}))
    with pytest.raises(ConfigError, match="unknown_limit"):
        extensions(Settings(limits={"unknown_limit": 1}))


@pytest.mark.parametrize(
    ("message", "leaked"),
    [
        ("GET http://10.0.0.8:9000/api/v1 failed", "10.0.0.8"),
        ("redis://:pw@cache:6379/0 unreachable", "pw@"),
        ("password=hunter2 rejected", "hunter2"),
        ("Authorization: Bearer eyJhbGciOi.x.y", "eyJhbGciOi"),
    ],
)
def test_scrub_removes_urls_and_credentials(message: str, leaked: Any) -> None:
    assert leaked not in scrub(message)
