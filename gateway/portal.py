"""The reference portal: ``/portal`` (search), ``/portal/matters/{projectCode}``, ``/portal/coverage``.

Every page is one HTML shell (gateway/static/portal/index.html) that loads the
portal's ES modules from this hub's own ``/static/portal/``: no CDN, no
framework, charts drawn as SVG. The shell carries a JSON block (not a script:
the page's Content-Security-Policy allows scripts from this origin only) with
the page to show, the GraphQL documents the portal may send and, in the demo
only, a short-lived token for the page's role (WINDOW_STAFF for matters,
AUDITOR for coverage), handed out under the same rule as GraphiQL's. Anywhere
else the reader pastes a bearer token, kept in the tab's session storage.

The documents live in gateway/static/portal/documents.graphql; each is
registered as a trusted document (``trusted_portal_documents``), so a hub that
runs only registered documents still serves the portal. docs/portal.md says
what each page shows and how to embed the subscription elsewhere.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from domain.identifiers import project_code_problem
from domain.principal import Role
from gateway.auth import authenticator_for
from gateway.config import Settings

PORTAL_DIR = Path(__file__).parent / "static" / "portal"
DOCUMENTS = PORTAL_DIR / "documents.graphql"
_MARKER = re.compile(r"^# --- (?:fragment )?(\w+)\s*$", re.MULTILINE)
_SPREAD = re.compile(r"\.\.\.(\w+)")
DEMO_TOKEN_TTL_S = 3_600

PAGE_ROLES = {"search": Role.WINDOW_STAFF, "matter": Role.WINDOW_STAFF, "coverage": Role.AUDITOR}


@functools.cache
def portal_documents() -> dict[str, str]:
    """Operation name -> the document the portal sends (with the fragments it spreads)."""
    text = DOCUMENTS.read_text(encoding="utf-8")
    marks = list(_MARKER.finditer(text))
    parts: dict[str, str] = {}
    fragments: dict[str, str] = {}
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        body = "\n".join(
            line for line in text[mark.end() : end].strip().splitlines() if not line.startswith("#")
        )
        (fragments if mark.group(0).startswith("# --- fragment") else parts)[mark.group(1)] = body.strip()
    documents = {}
    for name, body in parts.items():
        used = [fragments[f] for f in dict.fromkeys(_SPREAD.findall(body)) if f in fragments]
        documents[name] = "\n\n".join([body, *used]) + "\n"
    return documents


def document_hash(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def trusted_portal_documents() -> dict[str, str]:
    """sha256 -> document, for the trusted-documents manifest."""
    return {document_hash(d): d for d in portal_documents().values()}


def demo_token(settings: Settings, role: Role, *, subject: str) -> str | None:
    """A short-lived token for the demo pages; None unless the demo signs with the public demo secret.

    The demo secret is public (anyone can mint with ``onematter token mint``), so handing
    a token out gives nothing away; a hub with its own secret or in production never does.
    """
    if settings.hub.mode != "demo":
        return None
    authenticator = authenticator_for(settings)
    if not authenticator.uses_demo_secret:
        return None
    return authenticator.mint(subject=subject, role=role, ttl_s=DEMO_TOKEN_TTL_S)


@functools.cache
def _shell() -> str:
    return (PORTAL_DIR / "index.html").read_text(encoding="utf-8")


def _page(request: Request, page: str, project_code: str | None = None) -> Response:
    settings: Settings = request.app.state.settings
    role = PAGE_ROLES[page]
    config = {
        "page": page,
        "projectCode": project_code,
        "demoToken": demo_token(settings, role, subject=f"portal-demo-{role.value.lower()}"),
        "demoRole": role.value,
        "documents": {name: {"query": d, "hash": document_hash(d)} for name, d in portal_documents().items()},
    }
    # "<" escaped: nothing in the data can close the JSON block it sits in.
    block = orjson.dumps(config).decode().replace("<", "\\u003c")
    html = _shell().replace("{}<!--portal-config-->", block)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


async def search_page(request: Request) -> Response:
    return _page(request, "search")


async def matter_page(request: Request) -> Response:
    code = request.path_params["projectCode"]
    if project_code_problem(code) is not None:
        return HTMLResponse(
            "<!doctype html><meta charset=utf-8><title>404</title><p>不是有效的投资项目统一代码。</p>",
            status_code=404,
        )
    return _page(request, "matter", code)


async def coverage_page(request: Request) -> Response:
    return _page(request, "coverage")
