"""The Starlette app: routes, middleware and the lifespan that builds the services.

``create_app(settings)`` returns the ASGI app; its lifespan builds the
``Services`` once (cache, clients, connectors, registry) and closes them on
shutdown. ``create_app_from_env()`` is the factory uvicorn workers import when
``onematter serve --workers N`` runs more than one process.

Routes: ``/graphql`` (GraphQL over HTTP, GraphiQL for browsers), ``/static``
(GraphiQL's own assets), ``/healthz`` (the process is up). Domain logic lives in
schema/ and connectors/, never here.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.config import Settings, load_settings
from gateway.services import Services
from gateway.view import GraphQLView

STATIC_DIR = Path(__file__).parent / "static"
CONFIG_ENV = "ONEMATTER_CONFIG"  # the config file path handed to worker processes


def create_app(
    settings: Settings,
    *,
    services: Services | None = None,
    schema: Any = None,
    graphiql: bool = True,
) -> Starlette:
    """The hub's ASGI app.

    Args:
        settings: the validated configuration.
        services: prebuilt services (tests); the app then neither builds nor closes them.
        schema: a Strawberry schema to serve instead of ``schema.build_schema()`` (tests).
        graphiql: serve GraphiQL to browsers at /graphql.
    """
    security = _security_module()
    if schema is None:
        from schema import build_schema

        schema = build_schema(extensions=security.extensions(settings) if security else ())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if services is not None:
            app.state.services = services
            yield
            return
        app.state.services = await Services.open(settings)
        try:
            yield
        finally:
            await app.state.services.aclose()

    middleware: Sequence[Middleware] = security.middleware(settings) if security else ()
    app = Starlette(
        routes=[
            Route("/graphql", GraphQLView(schema, graphiql=graphiql), methods=None),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
            Route("/healthz", _healthz, methods=["GET"]),
            Route("/", _root, methods=["GET"]),
        ],
        middleware=list(middleware),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.schema = schema
    return app


def create_app_from_env() -> Starlette:
    """App factory for uvicorn workers: settings from ``$ONEMATTER_CONFIG`` plus overrides."""
    return create_app(load_settings(os.environ.get(CONFIG_ENV) or None))


def _security_module() -> Any:
    """gateway.security (authentication, limits, access log), once it exists.

    The security engineer's module provides ``middleware(settings)`` and
    ``extensions(settings)``. Until it lands the hub serves without them; this
    guard checks for the module explicitly, so an import error *inside* it is
    never swallowed.
    """
    if importlib.util.find_spec("gateway.security") is None:
        return None
    return importlib.import_module("gateway.security")


async def _healthz(request: Request) -> Response:
    # Liveness of this process only; department health is the `sources` query.
    return JSONResponse({"status": "ok"})


async def _root(request: Request) -> Response:
    return RedirectResponse("/graphql", status_code=307)
