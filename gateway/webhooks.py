"""Department webhooks: ``POST /webhooks/{department}`` triggers an immediate refresh of one project.

A department system that can notify signs each notice with its own shared
secret (``domain.webhooks``: ``X-OneMatter-Event-Id`` and
``X-OneMatter-Signature``). The hub:

1. knows the department and holds its secret, read from the environment
   variable named in ``[push] webhooks`` (default
   ``ONEMATTER_WEBHOOK_SECRET_<DEPARTMENT>``); otherwise 404;
2. checks the signature and its timestamp (``[push] webhook_tolerance_s``); 401 if bad;
3. reads ``{"projectCode": "..."}`` (other fields are the department's own); 400 if bad;
4. acts on an event id once: a repeat gets 200 ``{"duplicate": true}`` and nothing
   else happens (claimed across replicas when the change feed is on Redis);
5. answers 202 at once and refreshes the project in the background: every
   department is asked again past the fresh cache, and what moved is announced
   on the change feed.

Errors are JSON ``{"error": ..., "message": ...}``; none names a secret or an address.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.errors import ConfigError
from domain.identifiers import project_code_problem
from domain.webhooks import EVENT_ID, EVENT_ID_HEADER, SIGNATURE_HEADER, verify
from gateway.changes import PushSettings

if TYPE_CHECKING:
    from gateway.services import Services

log = logging.getLogger("onematter.webhooks")

MAX_BODY = 16 * 1024
DEMO_WEBHOOK_SECRET = "onematter-demo-webhook-secret-NOT-FOR-PRODUCTION"  # the embedded demo's


def secret_variable(push: PushSettings, department: str) -> str:
    return push.webhooks.get(department) or f"ONEMATTER_WEBHOOK_SECRET_{department.upper()}"


def webhook_secrets(
    push: PushSettings, departments: list[str], *, production: bool, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """department -> secret, for the departments whose secret is set; ConfigError if one is unusable."""
    env = os.environ if environ is None else environ
    unknown = sorted(set(push.webhooks) - set(departments))
    if unknown:
        raise ConfigError(f"[push] webhooks names no configured department: {', '.join(unknown)}")
    secrets: dict[str, str] = {}
    for department in departments:
        variable = secret_variable(push, department)
        secret = env.get(variable)
        if not secret:
            continue
        if len(secret.encode()) < 32:
            raise ConfigError(f"${variable} must hold at least 32 bytes")
        if production and secret == DEMO_WEBHOOK_SECRET:
            raise ConfigError(f"production mode refuses the demo webhook secret in ${variable}")
        secrets[department] = secret
    return secrets


def _refusal(status: int, error: str, message: str) -> Response:
    return JSONResponse({"error": error, "message": message}, status_code=status)


class Webhooks:
    """The ``/webhooks/{department}`` endpoint; owns the refreshes it starts."""

    def __init__(self, push: PushSettings, secrets: Mapping[str, str]) -> None:
        self.push = push
        self.secrets = dict(secrets)
        self._tasks: set[asyncio.Task[Any]] = set()

    async def endpoint(self, request: Request) -> Response:
        department = request.path_params["department"]
        secret = self.secrets.get(department)
        if secret is None:
            return _refusal(404, "not_found", "no webhook is configured for this department")
        event_id = request.headers.get(EVENT_ID_HEADER, "")
        if not EVENT_ID.fullmatch(event_id):
            return _refusal(400, "bad_request", f"{EVENT_ID_HEADER} must be 1-128 plain characters")
        body = await request.body()
        if len(body) > MAX_BODY:
            return _refusal(413, "too_large", f"the body must not exceed {MAX_BODY} bytes")
        problem = verify(
            secret,
            request.headers.get(SIGNATURE_HEADER, ""),
            event_id,
            body,
            now=time.time(),
            tolerance_s=self.push.webhook_tolerance_s,
        )
        if problem is not None:
            return _refusal(401, "unauthenticated", problem)
        try:
            notice = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return _refusal(400, "bad_request", "the body must be JSON")
        code = notice.get("projectCode") if isinstance(notice, dict) else None
        code_problem = project_code_problem(code) if isinstance(code, str) else "projectCode must be a string"
        if code_problem is not None:
            return _refusal(400, "bad_request", f"projectCode: {code_problem}")
        services = request.app.state.services
        feed = services.changes
        ttl = int(self.push.webhook_tolerance_s * 2)
        if not await feed.claim(f"webhook:{department}:{event_id}", ttl):
            return JSONResponse({"duplicate": True, "eventId": event_id})
        assert isinstance(code, str)
        task = asyncio.create_task(self._refresh(services, department, code, event_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return JSONResponse({"accepted": True, "eventId": event_id}, status_code=202)

    async def _refresh(self, services: Services, department: str, project_code: str, event_id: str) -> None:
        try:
            index = services.matter_index
            await index.ready()  # the baseline the project's parts are compared with
            changes = await index.refresh_project(project_code)
        except Exception:  # the next periodic refresh will see the change anyway
            log.warning("refresh after %s's notice %s failed", department, event_id, exc_info=True)
            return
        log.info("%s notice %s: %d change(s) in %s", department, event_id, len(changes), project_code)

    async def settle(self) -> None:
        """Wait for the refreshes started so far (tests, and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
