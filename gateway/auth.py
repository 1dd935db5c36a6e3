"""Authentication: bearer JWTs to a :class:`Principal`.

Two key sources, chosen by ``[auth] algorithm``:

* ``HS256`` with a shared secret read from the environment variable named by
  ``[auth] secret_env``. The embedded demo falls back to :data:`DEMO_SECRET`
  when that variable is unset; production mode refuses to start with it.
* ``RS256`` with public keys from a JWKS file (``[auth] jwks_file``), picked by
  the token's ``kid``.

Only the configured algorithm is accepted, so ``alg: none`` and HS/RS key
confusion are refused before any signature check. Claims: ``sub``, ``role``
(a :class:`Role`), ``exp``, ``iat``; ``credit_code`` for ENTERPRISE and
``projects`` for AGENT. A request without ``Authorization`` is anonymous; a
request with a bad token is refused with 401, never treated as anonymous.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import jwt
from cross_web import HTTPException
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import HTTPConnection

from domain.errors import ConfigError, HubError
from domain.identifiers import credit_code_problem, project_code_problem
from domain.principal import ANONYMOUS, Principal, Role
from gateway.config import Settings, describe

# DEMO ONLY. Signs tokens for the embedded demo and the tests when no secret is
# configured. It is public (it is in this file), so production mode refuses it.
DEMO_SECRET = "onematter-demo-secret-NOT-FOR-PRODUCTION-0123456789abcdef"

PRINCIPAL_STATE_KEY = "onematter.principal"
VERIFIED_TOKENS = 4_096  # verified tokens remembered per authenticator


class AuthSettings(BaseModel):
    """The ``[auth]`` section."""

    model_config = ConfigDict(extra="forbid")

    algorithm: Literal["HS256", "RS256"] = "HS256"
    secret_env: str = Field("ONEMATTER_AUTH_SECRET", description="env var holding the HS256 secret")
    jwks_file: Path | None = Field(None, description="RS256 public keys (JSON Web Key Set)")
    issuer: str = "onematter-hub"
    audience: str = "onematter"
    leeway_s: int = Field(30, ge=0, le=300, description="clock skew tolerated on exp/nbf/iat")
    max_ttl_s: int = Field(86_400, ge=60, description="tokens living longer than this are refused")
    default_ttl_s: int = Field(3_600, ge=60, description="lifetime of minted demo tokens")
    max_token_bytes: int = Field(8_192, ge=256, le=65_536)


class AuthenticationError(HubError, HTTPException):
    """The bearer token was refused; ``reason`` is safe to show the caller."""

    code = "UNAUTHENTICATED"

    def __init__(self, reason: str) -> None:
        super().__init__(401, reason)

    def body(self) -> dict[str, Any]:
        return {
            "data": None,
            "errors": [{"message": self.reason, "extensions": {"code": self.code}}],
        }

    def headers(self) -> dict[str, str]:
        # RFC 6750: error_description must not contain quotes or backslashes.
        description = self.reason.replace('"', "'").replace("\\", "/")
        return {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'}


def auth_settings(settings: Settings) -> AuthSettings:
    """The validated ``[auth]`` section; raises :class:`ConfigError` with the field at fault."""
    try:
        return AuthSettings.model_validate(settings.auth)
    except ValidationError as exc:
        raise ConfigError(describe(exc, ("auth",))) from None


class Authenticator:
    """Verifies tokens for one configuration; build once per app (see :func:`authenticator_for`)."""

    def __init__(self, config: AuthSettings, *, production: bool, environ: Mapping[str, str] | None = None):
        self.config = config
        self.production = production
        env = os.environ if environ is None else environ
        self._secret: str | None = None
        self._jwks: jwt.PyJWKSet | None = None
        # Tokens verified so far -> (principal, when it expires): a portal sends the same
        # token with every request, and verifying the signature each time cost more than
        # answering from the result cache. Bounded; a token past its exp is refused.
        self._verified: dict[str, tuple[Principal, float, float]] = {}  # principal, refused after, exp
        self.clock = time.time
        self.uses_demo_secret = False
        if config.algorithm == "HS256":
            secret = env.get(config.secret_env)
            if not secret:
                if production:
                    raise ConfigError(
                        f"production mode needs an HS256 secret in ${config.secret_env} "
                        "(the demo secret is refused), or algorithm = 'RS256' with a jwks_file"
                    )
                secret, self.uses_demo_secret = DEMO_SECRET, True
            elif production and secret == DEMO_SECRET:
                raise ConfigError("production mode refuses the demo secret")
            if len(secret.encode()) < 32:
                raise ConfigError(f"${config.secret_env} must hold at least 32 bytes for HS256")
            self._secret = secret
        else:
            if config.jwks_file is None:
                raise ConfigError("[auth] algorithm = 'RS256' needs jwks_file")
            try:
                self._jwks = jwt.PyJWKSet.from_json(config.jwks_file.read_text(encoding="utf-8"))
            except OSError as exc:
                raise ConfigError(f"cannot read [auth] jwks_file: {exc.strerror}") from exc
            except (jwt.PyJWKSetError, json.JSONDecodeError) as exc:
                raise ConfigError(f"[auth] jwks_file is not a usable JSON Web Key Set: {exc}") from exc

    # -- verification ---------------------------------------------------------------

    def principal(self, authorization: str | None) -> Principal:
        """The principal an ``Authorization`` header value stands for."""
        if authorization is None:
            return ANONYMOUS
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("the Authorization header must be 'Bearer <token>'")
        return self.verify(token.strip())

    def verify(self, token: str) -> Principal:
        remembered = self._verified.get(token)
        if remembered is not None:
            if self.clock() < remembered[1]:
                return remembered[0]
            del self._verified[token]
            raise AuthenticationError("the bearer token has expired")
        if len(token) > self.config.max_token_bytes:
            raise AuthenticationError("the bearer token is too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise AuthenticationError("the bearer token is not a well-formed JWT") from exc
        alg = header.get("alg")
        if alg != self.config.algorithm:
            # Covers alg "none" and HS/RS confusion before any key is touched.
            raise AuthenticationError(f"token algorithm {str(alg)[:16]!r} is not accepted")
        key: Any = self._secret if self._jwks is None else self._rsa_key(header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[self.config.algorithm],
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=self.config.leeway_s,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationError("the bearer token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise AuthenticationError("the bearer token is not valid yet") from exc
        except jwt.InvalidSignatureError as exc:
            raise AuthenticationError("the bearer token's signature does not verify") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise AuthenticationError(f"the bearer token lacks the {exc.claim!r} claim") from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthenticationError("the bearer token is for another audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise AuthenticationError("the bearer token is from another issuer") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthenticationError("the bearer token is invalid") from exc
        principal = self._principal_from(claims)
        if len(self._verified) >= VERIFIED_TOKENS:
            del self._verified[next(iter(self._verified))]  # the oldest
        exp = float(claims["exp"])
        self._verified[token] = (principal, exp + self.config.leeway_s, exp)
        return principal

    def expires_at(self, authorization: str | None) -> float | None:
        """The ``exp`` (unix seconds) of the bearer token in ``authorization`` (None without one).

        For a token :meth:`principal` has accepted: read from what verification
        remembered, else (the memo was full and let it go) from the token itself.
        """
        if not authorization:
            return None
        token = authorization.strip().partition(" ")[2].strip()
        remembered = self._verified.get(token)
        if remembered is not None:
            return remembered[2]
        try:
            exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
        except jwt.InvalidTokenError:
            return None
        return float(exp) if isinstance(exp, int | float) else None

    def _rsa_key(self, kid: object) -> Any:
        assert self._jwks is not None
        keys = self._jwks.keys
        if kid is None and len(keys) == 1:
            return keys[0].key
        for jwk in keys:
            if jwk.key_id == kid:
                return jwk.key
        raise AuthenticationError("the bearer token's key id is not in the key set")

    def _principal_from(self, claims: Mapping[str, Any]) -> Principal:
        now = time.time()
        for name in ("exp", "iat", "nbf"):
            # NumericDate (RFC 7519): a JSON number. PyJWT also takes "1700000000" as a string.
            value = claims.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise AuthenticationError(f"the {name!r} claim must be a number (seconds since the epoch)")
        if claims["exp"] - claims["iat"] > self.config.max_ttl_s:
            raise AuthenticationError("the bearer token lives longer than allowed")
        if claims["iat"] > now + self.config.leeway_s:
            raise AuthenticationError("the bearer token is issued in the future")
        subject = claims["sub"]
        # Any length (the token's own size is capped): the registry stores a bounded form.
        if not isinstance(subject, str) or not subject.strip():
            raise AuthenticationError("the 'sub' claim must be a non-empty string")
        try:
            role = Role(str(claims.get("role")))
        except ValueError as exc:
            raise AuthenticationError("the 'role' claim names no known role") from exc
        credit_code: str | None = None
        projects: frozenset[str] = frozenset()
        if role is Role.ENTERPRISE:
            credit_code = claims.get("credit_code")
            if not isinstance(credit_code, str) or credit_code_problem(credit_code):
                raise AuthenticationError("an ENTERPRISE token needs a valid 'credit_code' claim")
        elif "credit_code" in claims:
            raise AuthenticationError("only ENTERPRISE tokens carry a 'credit_code' claim")
        if role is Role.AGENT:
            raw = claims.get("projects")
            if not isinstance(raw, list) or not all(
                isinstance(p, str) and project_code_problem(p) is None for p in raw
            ):
                raise AuthenticationError("an AGENT token needs a 'projects' list of project codes")
            projects = frozenset(raw)
        elif "projects" in claims:
            raise AuthenticationError("only AGENT tokens carry a 'projects' claim")
        return Principal(subject=subject, role=role, credit_code=credit_code, projects=projects)

    # -- minting (demo and tests) ------------------------------------------------

    def mint(
        self,
        *,
        subject: str,
        role: Role,
        credit_code: str | None = None,
        projects: list[str] | None = None,
        ttl_s: int | None = None,
        private_key: Any = None,
        kid: str | None = None,
        now: float | None = None,
    ) -> str:
        """Sign a token with this configuration (RS256 needs ``private_key``)."""
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "sub": subject,
            "role": role.value,
            "iss": self.config.issuer,
            "aud": self.config.audience,
            "iat": issued,
            "nbf": issued,
            "exp": issued + (ttl_s or self.config.default_ttl_s),
        }
        if credit_code is not None:
            claims["credit_code"] = credit_code
        if projects is not None:
            claims["projects"] = list(projects)
        if self.config.algorithm == "HS256":
            assert self._secret is not None
            return jwt.encode(claims, self._secret, algorithm="HS256")
        if private_key is None:
            raise ConfigError("minting an RS256 token needs the private key")
        headers = {"kid": kid} if kid else None
        return jwt.encode(claims, private_key, algorithm="RS256", headers=headers)


_AUTHENTICATORS: dict[int, tuple[Settings, Authenticator]] = {}


def authenticator_for(settings: Settings) -> Authenticator:
    """The (cached) authenticator for ``settings``; raises :class:`ConfigError` if misconfigured."""
    hit = _AUTHENTICATORS.get(id(settings))
    if hit is not None and hit[0] is settings:
        return hit[1]
    authenticator = Authenticator(auth_settings(settings), production=settings.hub.mode == "production")
    # Keep the settings object alive with its entry so its id cannot be reused.
    _AUTHENTICATORS[id(settings)] = (settings, authenticator)
    return authenticator


def authenticate(request: HTTPConnection, settings: Settings) -> Principal:
    """The principal of ``request``; raises :class:`AuthenticationError` (401) on a bad token.

    The security middleware authenticates first and keeps the result in the
    request state, so calling this again from the GraphQL context is free.
    """
    cached = request.scope.get("state", {}).get(PRINCIPAL_STATE_KEY)
    if isinstance(cached, Principal):
        return cached
    principal = authenticator_for(settings).principal(request.headers.get("authorization"))
    request.scope.setdefault("state", {})[PRINCIPAL_STATE_KEY] = principal
    return principal
