"""The Starlette app: routes, middleware and the lifespan that builds the services.

``create_app(settings)`` returns the ASGI app; its lifespan builds the
``Services`` once (the composition root, gateway/services.py), starts the
matter index and closes everything on shutdown. ``create_app_from_env()`` is
the factory uvicorn workers import when ``onematter serve --workers N`` runs
more than one process.

Routes: ``/graphql`` (GraphQL over HTTP, GraphiQL for browsers), ``/static``
(GraphiQL's own assets), ``/healthz`` and ``/livez`` (the process is up),
``/readyz`` (registry and cache reachable, matter index built), ``/metrics`` (Prometheus). Domain
logic lives in schema/ and connectors/, never here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from connectors.base import ConnectorFactory
from connectors.discovery import enabled_factories
from domain.principal import Role
from gateway import health, metrics, portal, security
from gateway.changes import push_settings, watch
from gateway.config import Settings, load_settings
from gateway.logging import RequestIdMiddleware, ops_settings
from gateway.services import Services
from gateway.tracing import tracing_for
from gateway.tuning import document_caches, settle_gc
from gateway.view import GraphQLView
from gateway.webhooks import Webhooks, webhook_secrets

STATIC_DIR = Path(__file__).parent / "static"
CONFIG_ENV = "ONEMATTER_CONFIG"  # the config file path handed to worker processes


def create_app(
    settings: Settings,
    *,
    services: Services | None = None,
    schema: Any = None,
    graphiql: bool = True,
    tracer_provider: Any = None,
) -> Starlette:
    """The hub's ASGI app.

    Args:
        settings: the validated configuration.
        services: prebuilt services (tests); the app then neither builds nor closes them.
        schema: a Strawberry schema to serve instead of ``schema.build_schema()`` (tests).
        graphiql: serve GraphiQL to browsers at /graphql.
        tracer_provider: an OpenTelemetry tracer provider instead of the global one (tests).
    """
    ops = ops_settings(settings)
    tracing = tracing_for(ops, tracer_provider)
    result_cache = None
    # The connectors this app serves: their parts make Matter's department fields, and the
    # lifespan builds these same classes (so the schema and the services agree).
    factories: Mapping[str, ConnectorFactory] | None = None
    if services is None:
        factories = enabled_factories(settings.connectors)
    if schema is None:
        from gateway.response_cache import response_cache, result_cache_for
        from schema import build_schema, parts_of

        result_cache = result_cache_for(settings, ops.response_cache_ttl_s)

        ops_extensions = metrics.operation_labels(settings) if ops.metrics else []
        schema = build_schema(
            parts=services.parts if services is not None else parts_of(factories or {}),
            extensions=[
                *security.extensions(settings),
                *document_caches(),  # after security: its fragment-bomb check runs first
                *response_cache(result_cache),  # inside the access log's hooks
                *ops_extensions,
                *(tracing.extensions() if tracing else []),
            ],
        )

    push = push_settings(settings)
    webhooks = Webhooks(
        push,
        webhook_secrets(push, sorted(settings.connectors), production=settings.hub.mode == "production"),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if services is not None:
            app.state.services = services
            metrics.instrument(services)
            if tracing:
                tracing.instrument(services)
            watch(services)
            services.start()
            try:
                yield
            finally:
                await webhooks.aclose()
            return
        app.state.services = await Services.open(settings, factories=factories)
        metrics.instrument(app.state.services)
        if tracing:
            tracing.instrument(app.state.services)
        watch(app.state.services)
        app.state.services.start()  # the matter index: /readyz waits for it
        settle_gc()  # a serving process: what it built stays (gateway/tuning.py)
        try:
            with end_subscriptions_on_signal(app.state.services.changes):
                yield
        finally:
            await webhooks.aclose()
            await app.state.services.aclose()
            metrics.worker_exiting()

    # Security (gateway/security.py): headers, CORS, body limits, authentication, rate
    # limits and deadlines as middleware; depth/cost limits, masking and the access
    # log as schema extensions (only on the hub's own schema, not a test schema).
    middleware: Sequence[Middleware] = [
        # Outermost: the request id is fixed (and logged) before anything else runs.
        Middleware(RequestIdMiddleware, access=ops.access_log),
        # Next: the server span continues the caller's trace and sees the request id.
        *(tracing.middleware() if tracing else []),
        *([Middleware(metrics.MetricsMiddleware)] if ops.metrics else []),
        *security.middleware(settings),
    ]
    view = GraphQLView(
        schema,
        graphiql=graphiql,
        graphiql_headers=_demo_headers(settings),
        push=push,
        allowed_origins=tuple(security.limits_settings(settings).cors.allow_origins),
        # APQ documents live in the shared cache, built by the lifespan.
        persisted_queries=security.persisted_queries(settings, lambda: app.state.services.cache),
    )
    app = Starlette(
        routes=[
            Route("/graphql", _in_front_of(view, result_cache, settings), methods=None),
            WebSocketRoute("/graphql", view),  # subscriptions over graphql-transport-ws
            Route("/webhooks/{department}", webhooks.endpoint, methods=["POST"]),
            # The reference portal (gateway/portal.py); its assets are under /static/portal.
            Route("/portal", portal.search_page, methods=["GET"]),
            Route("/portal/matters/{projectCode}", portal.matter_page, methods=["GET"]),
            Route("/portal/coverage", portal.coverage_page, methods=["GET"]),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
            Route("/healthz", _healthz, methods=["GET"]),
            Route("/livez", health.livez, methods=["GET"]),
            Route("/readyz", health.readyz, methods=["GET"]),
            *([Route("/metrics", metrics.endpoint, methods=["GET"])] if ops.metrics else []),
            Route("/", _root, methods=["GET"]),
        ],
        middleware=list(middleware),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.schema = schema
    app.state.webhooks = webhooks
    return app


@contextlib.contextmanager
def end_subscriptions_on_signal(feed: Any) -> Iterator[None]:
    """On SIGINT/SIGTERM, end every subscription before the server waits for open streams.

    uvicorn waits for running responses before the lifespan's shutdown; an SSE stream
    never finishes by itself, so the feed is closed as soon as the signal arrives (its
    streams then complete cleanly), and uvicorn's own handler runs as before.
    """
    import signal

    previous: dict[signal.Signals, Any] = {}

    def handler(signum: int, frame: Any) -> None:
        loop.call_soon_threadsafe(lambda: asyncio.ensure_future(feed.aclose()))
        chained = previous.get(signal.Signals(signum))
        if callable(chained):
            chained(signum, frame)
        elif chained == signal.SIG_DFL:  # nobody else handles it: do what it would have done
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    loop = asyncio.get_running_loop()
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.getsignal(signum)
            signal.signal(signum, handler)
    except ValueError:  # not the main thread (an app served by a test): nothing to chain
        previous.clear()
    try:
        yield
    finally:
        for signum, chained in previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signum, chained)


def _in_front_of(view: Any, result_cache: Any, settings: Settings) -> Any:
    """The GraphQL view; with a result cache, behind the door that answers hits before it."""
    if result_cache is None:
        return view
    from gateway.response_cache import CachedResults

    return CachedResults(view, result_cache, gzip_min_bytes=security.limits_settings(settings).gzip_min_bytes)


def create_app_from_env() -> Starlette:
    """App factory for uvicorn workers: settings from ``$ONEMATTER_CONFIG`` plus overrides."""
    return create_app(load_settings(os.environ.get(CONFIG_ENV) or None))


def _demo_headers(settings: Settings) -> Callable[[], dict[str, str]] | None:
    """For the demo only: GraphiQL opens with a short-lived read-only token.

    Only when the hub runs in demo mode *and* signs with the public demo secret,
    which anyone can mint tokens with anyway (``onematter token mint``); a hub
    with its own secret or in production mode never hands out tokens.
    """
    if settings.hub.mode != "demo":
        return None

    def headers() -> dict[str, str]:
        token = portal.demo_token(settings, Role.WINDOW_STAFF, subject="graphiql-demo")
        return {"Authorization": f"Bearer {token}"} if token else {}

    return headers


async def _healthz(request: Request) -> Response:
    # Liveness of this process only; department health is the `sources` query.
    return JSONResponse({"status": "ok"})


async def _root(request: Request) -> Response:
    return RedirectResponse("/graphql", status_code=307)
