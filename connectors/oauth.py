"""OAuth2 client-credentials tokens (RFC 6749 section 4.4) for one connector.

``POST <token_path>`` with ``grant_type=client_credentials``, the client
authenticated by HTTP Basic with the ``client_id`` and ``client_secret``
credentials (``settings.secret``). A token is kept in this object (not in the
shared cache: a bearer token is a credential) until ``margin_s`` before its
``expires_in`` (at most a tenth of its lifetime); a 401 from the API drops it,
fetches a new one and tries once more. Token requests run inside the pipeline
call of the lookup that needs them, so they share its deadline, breaker and
retries. Credentials never appear in errors, logs or ``repr``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from connectors import jsonfields as j
from connectors.failures import check_response, parsed
from domain.errors import DepartmentRejected

if TYPE_CHECKING:
    from connectors.settings import ConnectorSettings

__all__ = ["ClientCredentials", "Token"]


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    renew_at: float  # on the owner's clock

    def __repr__(self) -> str:  # never print a bearer token
        return f"Token(renew_at={self.renew_at})"


@dataclass(eq=False)
class ClientCredentials:
    """Bearer tokens for one department, fetched when missing or due.

    Args:
        client: the connector's client (its base URL is the department's).
        settings: the connector's settings; ``secret()`` gives the credentials.
        department: names errors.
        token_path: the token endpoint.
        margin_s: renew this long before the advertised expiry.
        clock: monotonic seconds (the pipeline's, so tests move it).
        env_prefix: the connector's documented default credential variables, read
            when the settings name none (``ONEMATTER_REAL_ESTATE`` ->
            ``ONEMATTER_REAL_ESTATE_CLIENT_ID``, ``..._CLIENT_SECRET``).
    """

    client: httpx.AsyncClient
    settings: ConnectorSettings
    department: str
    token_path: str
    margin_s: float
    clock: Callable[[], float]
    env_prefix: str | None = None  # credentials default to <prefix>_CLIENT_ID / <prefix>_CLIENT_SECRET
    requests: int = 0  # how many tokens were asked for (for tests and stats)
    _token: Token | None = field(default=None, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    def forget(self) -> None:
        self._token = None

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One API request with a bearer token; on 401 a new token and one more try."""
        token = await self.token()
        response = await self.client.request(method, url, headers=_bearer(token), **kwargs)
        if response.status_code == 401:
            token = await self.token(stale=token)
            response = await self.client.request(method, url, headers=_bearer(token), **kwargs)
            if response.status_code == 401:
                self._token = None
        return response

    async def token(self, *, stale: Token | None = None) -> Token:
        """A live token: the kept one, or a new one if it is missing, due or ``stale``."""
        async with self._lock:  # concurrent lookups share one token request
            token = self._token
            if token is not None and token is not stale and self.clock() < token.renew_at:
                return token
            self._token = None
            self._token = token = await self._fetch()
            return token

    def _credential(self, name: str) -> str | None:
        default = f"{self.env_prefix}_{name.upper()}" if self.env_prefix else None
        return self.settings.secret(name, default_env=default)

    async def _fetch(self) -> Token:
        name = self.department
        client_id, secret = self._credential("client_id"), self._credential("client_secret")
        if not client_id or not secret:
            raise DepartmentRejected(f"{name}: no client credentials are configured", department=name)
        self.requests += 1
        started = self.clock()
        response = await self.client.post(
            self.token_path,
            data={"grant_type": "client_credentials"},
            auth=httpx.BasicAuth(client_id, secret),
        )
        check_response(response, department=name)  # 401 invalid_client -> DepartmentRejected
        value, expires_in = parsed(name, lambda: _token_fields(response.json()))
        return Token(value, started + expires_in - min(self.margin_s, expires_in / 10))


def _bearer(token: Token) -> dict[str, str]:
    return {"Authorization": f"Bearer {token.value}"}


def _token_fields(body: Any) -> tuple[str, float]:
    value = j.text(body, "access_token")
    if j.text(body, "token_type").lower() != "bearer":
        raise ValueError("not a bearer token")
    expires_in = body.get("expires_in", 3600)
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in <= 0:
        raise ValueError("expires_in is not a positive number")
    return value, float(expires_in)
