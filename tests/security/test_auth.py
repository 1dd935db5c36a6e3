"""Bearer tokens: what is accepted, what is refused, and how a refusal looks on the wire."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from domain.errors import ConfigError
from domain.principal import ANONYMOUS, Role
from gateway.auth import DEMO_SECRET, AuthenticationError, Authenticator, AuthSettings, authenticator_for
from tests.security.conftest import ACME, P1, SecureHub

SECRET = "a-test-secret-that-is-long-enough-0123456789"


def hs(**overrides: Any) -> Authenticator:
    return Authenticator(
        AuthSettings(**overrides), production=False, environ={"ONEMATTER_AUTH_SECRET": SECRET}
    )


def claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "sub": "u1",
        "role": "WINDOW_STAFF",
        "iss": "onematter-hub",
        "aud": "onematter",
        "iat": now,
        "exp": now + 600,
    }
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: Any = SECRET, alg: str = "HS256", **kw: Any) -> str:
    return jwt.encode(payload, key, algorithm=alg, **kw)


def unsigned(payload: dict[str, Any]) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


def test_no_header_is_anonymous() -> None:
    assert hs().principal(None) is ANONYMOUS


def test_a_valid_token_gives_its_principal() -> None:
    principal = hs().principal(f"Bearer {sign(claims(role='ENTERPRISE', credit_code=ACME))}")
    assert principal.role is Role.ENTERPRISE
    assert principal.credit_code == ACME
    assert principal.subject == "u1"


def test_agent_projects_come_from_the_token() -> None:
    principal = hs().verify(sign(claims(role="AGENT", projects=[P1])))
    assert principal.projects == frozenset({P1})


def test_minted_tokens_verify() -> None:
    auth = hs()
    token = auth.mint(subject="s", role=Role.AUDITOR)
    assert auth.verify(token).role is Role.AUDITOR


@pytest.mark.parametrize(
    ("token", "reason"),  # tokens made when the test runs: a long suite must not age them
    [
        (lambda: sign(claims(exp=int(time.time()) - 120, iat=int(time.time()) - 600)), "expired"),
        (lambda: sign(claims(nbf=int(time.time()) + 600)), "not valid yet"),
        (lambda: sign(claims(), key="another-secret-that-is-long-enough-xxxxxx"), "signature"),
        (lambda: unsigned(claims()), "algorithm"),
        (lambda: unsigned(claims(role="ADMIN")), "algorithm"),
        (lambda: sign(claims(role="SUPERUSER")), "role"),
        (lambda: sign(claims(role=None)), "role"),
        (lambda: sign(claims(sub=None)), "'sub'"),
        (lambda: sign(claims(exp=None)), "'exp'"),
        (lambda: sign(claims(iat=None)), "'iat'"),
        (lambda: sign(claims(aud="someone-else")), "audience"),
        (lambda: sign(claims(iss="evil")), "issuer"),
        (lambda: sign(claims(role="ENTERPRISE")), "credit_code"),
        (lambda: sign(claims(role="ENTERPRISE", credit_code="91350200776049653B")), "credit_code"),
        (lambda: sign(claims(role="AGENT")), "projects"),
        (lambda: sign(claims(role="AGENT", projects=["x' OR 1=1 --"])), "projects"),
        (lambda: sign(claims(role="WINDOW_STAFF", projects=[P1])), "projects"),
        (lambda: sign(claims(credit_code=ACME)), "credit_code"),
        (lambda: sign(claims(exp=int(time.time()) + 10 * 86_400)), "longer"),
        (lambda: sign(claims(iat=int(time.time()) + 3_600, exp=int(time.time()) + 4_000)), "not valid yet"),
        (lambda: "not-a-jwt", "well-formed"),
        (lambda: "a.b.c", "well-formed"),
        (lambda: "x" * 9_000, "too long"),
        # NumericDate claims as strings: PyJWT converts some of them itself; never a 500.
        (lambda: sign(claims(exp=str(int(time.time()) + 600))), "'exp'"),
        (lambda: sign(claims(iat=str(int(time.time())))), "'iat'"),
        (lambda: sign(claims(nbf=str(int(time.time())))), "'nbf'"),
        (lambda: sign(claims(iat=True)), "'iat'"),
        (lambda: sign(claims(sub="   ")), "'sub'"),
        (lambda: sign(claims(sub=12345)), "invalid"),
    ],
)
def test_bad_tokens_are_refused(token: Callable[[], str], reason: str) -> None:
    with pytest.raises(AuthenticationError) as caught:
        hs().verify(token())
    assert caught.value.status_code == 401
    assert reason in caught.value.reason


def test_a_subject_of_any_length_is_accepted() -> None:
    subject = "https://idp.zone.internal/realms/zone/users/" + "a" * 500
    assert hs().verify(sign(claims(sub=subject, role="ADMIN"))).subject == subject


def test_edited_claims_break_the_signature() -> None:
    token = sign(claims(role="ENTERPRISE", credit_code=ACME))
    header, payload, signature = token.split(".")
    raw = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw["role"] = "ADMIN"
    del raw["credit_code"]
    forged = base64.urlsafe_b64encode(json.dumps(raw).encode()).rstrip(b"=").decode()
    with pytest.raises(AuthenticationError, match="signature"):
        hs().verify(f"{header}.{forged}.{signature}")


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "token abc"])
def test_other_schemes_are_refused(header: str) -> None:
    with pytest.raises(AuthenticationError, match="Bearer"):
        hs().principal(header)


# -- RS256 with a JWKS file ---------------------------------------------------------------


@pytest.fixture
def rsa_keys(tmp_path: Path) -> tuple[Any, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="k1", use="sig", alg="RS256")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    return key, path


def test_rs256_with_a_jwks_file(rsa_keys: tuple[Any, Path]) -> None:
    key, path = rsa_keys
    auth = Authenticator(AuthSettings(algorithm="RS256", jwks_file=path), production=True, environ={})
    token = auth.mint(subject="s", role=Role.INTEGRATOR, private_key=key, kid="k1")
    assert auth.verify(token).role is Role.INTEGRATOR


def test_rs256_refuses_unknown_kid_and_other_keys(rsa_keys: tuple[Any, Path]) -> None:
    _, path = rsa_keys
    auth = Authenticator(AuthSettings(algorithm="RS256", jwks_file=path), production=True, environ={})
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(AuthenticationError, match="key id"):
        auth.verify(sign(claims(), key=other, alg="RS256", headers={"kid": "k2"}))
    with pytest.raises(AuthenticationError, match="signature"):
        auth.verify(sign(claims(), key=other, alg="RS256", headers={"kid": "k1"}))


def test_rs256_refuses_hs256_signed_with_the_public_key(rsa_keys: tuple[Any, Path]) -> None:
    """The classic key-confusion attack: HS256 keyed with the published RSA public key."""
    key, path = rsa_keys
    auth = Authenticator(AuthSettings(algorithm="RS256", jwks_file=path), production=True, environ={})
    public_pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    forged = jwt.api_jws.PyJWS().encode(
        json.dumps(claims(role="ADMIN")).encode(),
        key="unused-key-unused-key-unused-key-unused",
        algorithm="HS256",
    )
    # PyJWT refuses to HMAC with a PEM key, so sign by hand as an attacker would.
    header, payload, _ = forged.split(".")
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    token = f"{header}.{payload}." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    with pytest.raises(AuthenticationError, match="algorithm"):
        auth.verify(token)


# -- configuration ----------------------------------------------------------------------


def test_production_refuses_the_demo_secret() -> None:
    with pytest.raises(ConfigError, match="demo secret"):
        Authenticator(AuthSettings(), production=True, environ={})
    with pytest.raises(ConfigError, match="demo secret"):
        Authenticator(AuthSettings(), production=True, environ={"ONEMATTER_AUTH_SECRET": DEMO_SECRET})


def test_demo_falls_back_to_the_marked_demo_secret() -> None:
    auth = Authenticator(AuthSettings(), production=False, environ={})
    assert auth.uses_demo_secret


def test_short_secrets_and_missing_jwks_are_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="32 bytes"):
        Authenticator(AuthSettings(), production=False, environ={"ONEMATTER_AUTH_SECRET": "short"})
    with pytest.raises(ConfigError, match="jwks_file"):
        Authenticator(AuthSettings(algorithm="RS256"), production=True, environ={})


# -- on the wire ----------------------------------------------------------------------------


async def test_a_bad_token_is_a_401_json_error(secure_hub: SecureHub) -> None:
    before = await secure_hub.counts()
    response = await secure_hub.post(
        f'{{ matter(projectCode: "{P1}") {{ name }} }}',
        headers={"Authorization": "Bearer " + sign(claims(), key="wrong-secret-wrong-secret-wrong-secret")},
    )
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "Traceback" not in response.text
    assert await secure_hub.counts() == before


async def test_a_good_token_reaches_the_schema(secure_hub: SecureHub) -> None:
    body = await secure_hub.query("{ delegationCoverage }", role=Role.AUDITOR)
    assert body == {"data": {"delegationCoverage": 1.0}}


# -- the command ----------------------------------------------------------------------------


def _mint(*argv: str) -> int:
    import argparse

    from gateway.commands import token_mint

    parser = argparse.ArgumentParser()
    token_mint.add_arguments(parser)
    return token_mint.run(parser.parse_args(list(argv)))


def test_token_mint_command(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ONEMATTER_AUTH_SECRET", SECRET)
    assert _mint("--role", "AGENT", "--projects", f"{P1}, 2023-430472-47-03-000002", "--ttl", "600") == 0
    token = capsys.readouterr().out.strip()
    principal = hs().verify(token)
    assert principal.role is Role.AGENT
    assert principal.projects == {P1, "2023-430472-47-03-000002"}
    assert _mint("--role", "ENTERPRISE", "--credit-code", ACME) == 0
    assert hs().verify(capsys.readouterr().out.strip()).credit_code == ACME


def test_token_mint_refuses_what_the_hub_would(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ONEMATTER_AUTH_SECRET", SECRET)
    assert _mint("--role", "ENTERPRISE") == 2
    assert _mint("--role", "ENTERPRISE", "--credit-code", "91350200776049653B") == 2
    assert _mint("--role", "AGENT", "--projects", "not-a-code") == 2
    assert "credit_code" in capsys.readouterr().err


def test_token_mint_refuses_a_bad_ttl_and_a_key_it_would_ignore(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("ONEMATTER_AUTH_SECRET", raising=False)
    assert _mint("--role", "ADMIN", "--ttl", "-5") == 2
    assert _mint("--role", "ADMIN", "--ttl", "0") == 2
    assert "--ttl must be a positive" in capsys.readouterr().err
    key = tmp_path / "key.pem"
    key.write_text("not read")
    # Without --config the [auth] is HS256: the key would be ignored and the demo secret used.
    assert _mint("--role", "ADMIN", "--private-key", str(key)) == 2
    err = capsys.readouterr().err
    assert "--private-key signs RS256 tokens" in err and "DEMO" not in err
    config = tmp_path / "hub.toml"
    config.write_text("[hub]\nmode = 'demo'\n")
    assert _mint("--role", "ADMIN", "--private-key", str(key), "--config", str(config)) == 2
    assert "algorithm = 'RS256'" in capsys.readouterr().err
    assert capsys.readouterr().out == ""


def test_token_mint_warns_about_the_demo_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ONEMATTER_AUTH_SECRET", raising=False)
    assert _mint("--role", "WINDOW_STAFF") == 0
    assert "DEMO secret" in capsys.readouterr().err


async def test_a_numeric_string_exp_is_401_over_http(secure_hub: SecureHub) -> None:
    now = int(time.time())
    token = authenticator_for(secure_hub.settings).mint(subject="s", role=Role.ADMIN)
    # Same secret and claims as a real token, with exp and iat as strings.
    payload = jwt.decode(token, options={"verify_signature": False})
    payload.update(exp=str(now + 600), iat=str(now))
    forged = jwt.encode(payload, DEMO_SECRET, algorithm="HS256")  # the hub's: no secret is configured
    response = await secure_hub.client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "'exp' claim must be a number" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("content_type", ["APPLICATION/JSON", "Application/Json; Charset=UTF-8"])
async def test_media_types_match_case_insensitively(secure_hub: SecureHub, content_type: str) -> None:
    response = await secure_hub.client.post(
        "/graphql",
        content=b'{"query": "{ __typename }"}',
        headers={"Content-Type": content_type, "Accept": "APPLICATION/JSON"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"__typename": "Query"}}
