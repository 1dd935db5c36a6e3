"""The per-request GraphQL context: who is asking, and what they may reach.

``get_context`` runs once per HTTP request, before the operation executes. It
authenticates the caller, fixes the request id and case number (办件号) that
every department call will carry, and hands resolvers the process-wide
services. ``Context`` is the gateway's implementation of the schema's
``HubContext`` (schema/context.py). DataLoaders are created on first use, so
requests that never touch a department pay nothing for them.
"""

from __future__ import annotations

import inspect
import re
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from domain.principal import Principal
from gateway.auth import authenticate, authenticator_for

if TYPE_CHECKING:
    from starlette.requests import Request

    from connectors.base import Connector, ProjectDirectory
    from gateway.changes import ChangeFeed
    from gateway.config import Settings
    from gateway.services import Services
    from registry.store import Registry
    from schema.loaders import Loaders
    from schema.matter_index import MatterIndex

REQUEST_ID_HEADER = "X-Request-Id"
CASE_NUMBER_HEADER = "X-Case-Number"

# Caller-supplied ids are echoed into logs and upstream headers: accept only a
# short, plain token, never anything that could split a header or a log line.
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")


@dataclass(eq=False)
class Context:
    """What every resolver gets as ``info.context`` (the schema's ``HubContext``)."""

    request: Request
    response: Response | None
    services: Services
    principal: Principal
    as_of: date
    request_id: str
    case_number: str | None
    token_expires_at: float | None = None  # unix seconds: when the caller's token expires
    connection_params: dict[str, Any] | None = None  # graphql-transport-ws connection_init payload
    _loaders: Loaders | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def connectors(self) -> dict[str, Connector]:
        return self.services.connectors

    @property
    def directory(self) -> ProjectDirectory:
        return self.services.directory

    @property
    def registry(self) -> Registry:
        return self.services.registry

    @property
    def changes(self) -> ChangeFeed:
        """The change feed subscriptions read (gateway/changes.py); detection starts on first use."""
        from gateway.changes import watch

        watch(self.services)
        return self.services.changes

    @property
    def matter_index(self) -> MatterIndex:
        return self.services.matter_index

    @property
    def loaders(self) -> Loaders:
        """This request's DataLoaders, made on first use."""
        if self._loaders is None:
            self._loaders = self.services.loaders()
        return self._loaders


def safe_id(value: str | None) -> str | None:
    """``value`` if it is a plain short token, else None."""
    if value and _SAFE_ID.fullmatch(value):
        return value
    return None


def request_id_of(request: Request) -> str:
    """The request id: set by middleware, else the caller's if sane, else a new one."""
    existing = getattr(request.state, "request_id", None)
    if isinstance(existing, str) and existing:
        return existing
    request_id = safe_id(request.headers.get(REQUEST_ID_HEADER)) or uuid.uuid4().hex
    request.state.request_id = request_id
    return request_id


async def get_context(request: Request, response: Response | None) -> Context:
    """Build the context for one GraphQL request (strawberry's ``get_context``)."""
    services: Services = request.app.state.services
    principal = await _principal(request, services.settings)
    request_id = request_id_of(request)
    case_number = safe_id(request.headers.get(CASE_NUMBER_HEADER))
    from connectors.http import case_number_var, request_id_var

    # The department calls of this request run in this task or in tasks it
    # starts, which copy these context variables.
    request_id_var.set(request_id)
    case_number_var.set(case_number)
    if isinstance(response, Response):  # a WebSocket's handshake is already answered
        response.headers[REQUEST_ID_HEADER] = request_id
    return Context(
        request=request,
        response=response,
        services=services,
        principal=principal,
        as_of=services.as_of(),
        request_id=request_id,
        case_number=case_number,
        token_expires_at=authenticator_for(services.settings).expires_at(
            request.headers.get("authorization")
        ),
    )


async def _principal(request: Request, settings: Settings) -> Principal:
    # authenticate may be sync or async; either way it returns the Principal, or
    # raises starlette's HTTPException (401/403), which the app turns into a response.
    principal = authenticate(request, settings)
    if inspect.isawaitable(principal):
        principal = await principal
    return principal
