"""Traces across hops: the router's ``traceparent`` in, to every department out, spans exported.

The hub runs in-process over the five simulated departments on loopback (JSON
and SOAP); each department records the trace headers it received
(``GET /_admin/requests``); spans go to the SDK's in-memory exporter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from fixtures.serve import RunningDepartments
from fixtures.world import DEPARTMENTS, World
from gateway.app import create_app
from gateway.services import Services
from gateway.tracing import build_provider
from tests.ops.conftest import MATTER, complete_project
from tests.schema.conftest import Hub, hub_settings

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


class Traced:
    def __init__(self, hub: Hub, exporter: InMemorySpanExporter) -> None:
        self.hub = hub
        self.exporter = exporter

    def spans(self, kind: SpanKind | None = None) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if kind is None or s.kind == kind]

    async def received(self) -> dict[str, list[dict[str, Any]]]:
        """What each department received since its last reset (health checks left out)."""
        found = {}
        for name in self.hub.departments.urls:
            requests = await self.hub.admin(name, "GET", "requests")
            found[name] = [r for r in requests if "health" not in r["path"]]
        return found

    async def reset(self) -> None:
        self.exporter.clear()
        await self.hub.reset_stats()


TracedFactory = Callable[..., Awaitable[Traced]]


@pytest.fixture
async def make_traced(
    world: World, departments: RunningDepartments, tmp_path: Path, demo_credentials: None
) -> AsyncIterator[TracedFactory]:
    """``await make_traced(**hub_settings options)``: a hub with tracing on and its exporter."""
    async with AsyncExitStack() as stack:
        admin = httpx.AsyncClient()
        stack.push_async_callback(admin.aclose)

        async def make(**options: Any) -> Traced:
            settings = hub_settings(departments.urls, tmp_path, world, **options)
            settings = settings.model_copy(update={"ops": {"tracing": True, "response_cache_ttl_s": 0}})
            exporter = InMemorySpanExporter()
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            stack.callback(provider.shutdown)
            services = await Services.open(settings)
            stack.push_async_callback(services.aclose)
            app = create_app(settings, services=services, tracer_provider=provider)
            await stack.enter_async_context(app.router.lifespan_context(app))
            await services.matter_index.ready()  # what /readyz waits for: its calls are not the test's
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub")
            stack.push_async_callback(client.aclose)
            hub = Hub(
                client=client,
                departments=departments,
                services=services,
                settings=settings,
                admin_client=admin,
            )
            traced = Traced(hub, exporter)
            await traced.reset()
            return traced

        yield make


async def matter(traced: Traced, code: str, **headers: str) -> httpx.Response:
    hub = traced.hub
    response = await hub.client.post(
        "/graphql",
        json={"query": MATTER, "variables": {"code": code}},
        headers={"Authorization": f"Bearer {hub.token()}", **headers},
    )
    assert response.status_code == 200, response.text
    return response


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def hexid(value: int, width: int) -> str:
    return format(value, f"0{width}x")


async def test_the_callers_trace_reaches_every_department_and_the_exported_spans(
    make_traced: TracedFactory, world: World
) -> None:
    traced = await make_traced()
    code = complete_project(world)
    await matter(
        traced, code, traceparent=TRACEPARENT, **{"X-Request-Id": "portal-7", "X-Case-Number": "BJ-9"}
    )

    # The hub's server span continues the caller's trace.
    (server,) = [s for s in traced.spans(SpanKind.SERVER) if s.name == "POST /graphql"]
    assert hexid(server.context.trace_id, 32) == TRACE_ID
    assert server.parent is not None and hexid(server.parent.span_id, 16) == PARENT_ID
    assert attrs(server)["http.response.status_code"] == 200
    assert attrs(server)["onematter.request_id"] == "portal-7"
    assert attrs(server)["onematter.case_number"] == "BJ-9"

    # Every department (SOAP civil air defence included) received the same trace id,
    # each request with a parent that is one of the hub's client spans.
    received = await traced.received()
    clients = traced.spans(SpanKind.CLIENT)
    by_id = {hexid(s.context.span_id, 16): s for s in clients}
    sent = 0
    for department in DEPARTMENTS:
        assert received[department], f"{department} received no request"
        for request in received[department]:
            version, trace_id, parent_id, flags = request["headers"]["traceparent"].split("-")
            assert (version, trace_id, flags) == ("00", TRACE_ID, "01")
            span = by_id[parent_id]
            assert attrs(span)["onematter.department"] == department
            assert request["headers"]["x-request-id"] == "portal-7"
            sent += 1
    # One client span per department request, no more.
    assert len(clients) == sent == len(by_id)
    every = {s.context.span_id: s for s in traced.spans()}

    def ancestors(span: ReadableSpan) -> list[str]:
        found = []
        while span.parent is not None and span.parent.span_id in every:
            span = every[span.parent.span_id]
            found.append(span.name)
        return found

    for span in clients:
        assert hexid(span.context.trace_id, 32) == TRACE_ID
        # Under the resolver that asked (Strawberry's span), under the hub's server span.
        assert ancestors(span)[-1] == "POST /graphql"
        attributes = attrs(span)
        assert attributes["http.request.method"] in ("GET", "POST")
        assert attributes["http.response.status_code"] == 200
        assert attributes["server.address"] == "127.0.0.1"
        assert "?" not in attributes["url.full"]  # never the query string
        assert "http.request.resend_count" not in attributes  # nothing was retried
        assert attributes["onematter.request_id"] == "portal-7"
        assert attributes["onematter.case_number"] == "BJ-9"

    # One pipeline span per department lookup, caching off: each went upstream once.
    calls = [s for s in traced.spans(SpanKind.INTERNAL) if "onematter.cache.outcome" in attrs(s)]
    assert {attrs(s)["onematter.department"] for s in calls} == set(DEPARTMENTS)
    for call in calls:
        # Upstream once, or shared with an identical call already in flight.
        outcome, attempts = attrs(call)["onematter.cache.outcome"], attrs(call)["onematter.attempts"]
        assert (outcome, attempts) in {("ok", 1), ("coalesced", 0)}
        assert ancestors(call)[-1] == "POST /graphql"
    # Strawberry's operation span is in the same trace.
    assert any(
        s.name.startswith("GraphQL Query") and s.context.trace_id == server.context.trace_id
        for s in traced.spans()
    )


async def test_retries_and_failures_are_on_the_spans(make_traced: TracedFactory, world: World) -> None:
    traced = await make_traced()
    await traced.hub.fault("fire", error_rate=1.0, error_status=503)
    await matter(traced, complete_project(world), traceparent=TRACEPARENT)

    fire = [s for s in traced.spans(SpanKind.CLIENT) if attrs(s).get("onematter.department") == "fire"]
    received = (await traced.received())["fire"]
    assert len(fire) == len(received) == 2  # two attempts (hub_settings: retry attempts = 2)
    assert sorted(attrs(s).get("http.request.resend_count", 0) for s in fire) == [0, 1]
    for span in fire:
        assert attrs(span)["http.response.status_code"] == 503
        assert attrs(span)["error.type"] == "503"
        assert not span.status.is_ok
    (call,) = [
        s
        for s in traced.spans(SpanKind.INTERNAL)
        if attrs(s).get("onematter.department") == "fire" and "onematter.cache.outcome" in attrs(s)
    ]
    assert attrs(call)["onematter.cache.outcome"] == "error"
    assert attrs(call)["onematter.attempts"] == 2
    assert attrs(call)["onematter.retries"] == 1
    assert attrs(call)["onematter.error.code"] == "DEPARTMENT_UNAVAILABLE"


async def test_a_cache_hit_is_a_span_without_a_department_request(
    make_traced: TracedFactory, world: World
) -> None:
    traced = await make_traced(cache_ttl_s=600.0)
    code = complete_project(world)
    await matter(traced, code)
    await traced.reset()
    await matter(traced, code)

    assert traced.spans(SpanKind.CLIENT) == []
    assert all(not requests for requests in (await traced.received()).values())
    outcomes = {
        attrs(s)["onematter.department"]: attrs(s)["onematter.cache.outcome"]
        for s in traced.spans(SpanKind.INTERNAL)
        if "onematter.cache.outcome" in attrs(s)
    }
    assert outcomes == dict.fromkeys(DEPARTMENTS, "cache_hit")
    # Without an incoming traceparent the hub starts a trace of its own.
    (server,) = traced.spans(SpanKind.SERVER)[-1:]
    assert server.parent is None


async def test_untraced_hubs_send_no_trace_headers(make_hub: Any, world: World) -> None:
    hub = await make_hub()
    await hub.reset_stats()
    await hub.query(MATTER, {"code": complete_project(world)})
    for name in hub.departments.urls:
        for request in await hub.admin(name, "GET", "requests"):
            assert "traceparent" not in request["headers"]
            assert request["headers"]["x-request-id"]


def test_the_provider_follows_the_otel_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "hub-zone-a")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    provider = build_provider({"OTEL_TRACES_EXPORTER": "console"})
    try:
        assert provider.resource.attributes["service.name"] == "hub-zone-a"
        assert provider.sampler.get_description() == "AlwaysOffSampler"
        processors = provider._active_span_processor._span_processors
        assert [type(p._batch_processor._exporter).__name__ for p in processors] == ["ConsoleSpanExporter"]
    finally:
        provider.shutdown()


def test_the_default_service_name_and_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    provider = build_provider({})
    try:
        assert provider.resource.attributes["service.name"] == "onematter-hub"
        processors = provider._active_span_processor._span_processors
        assert [type(p._batch_processor._exporter).__name__ for p in processors] == ["OTLPSpanExporter"]
    finally:
        provider.shutdown()
    provider = build_provider({"OTEL_TRACES_EXPORTER": "none"})
    assert provider._active_span_processor._span_processors == ()
    provider.shutdown()


class OtlpReceiver:
    """An OTLP/HTTP trace receiver on a loopback port: what an operator's collector would get."""

    def __init__(self) -> None:
        import http.server
        import threading

        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        self.spans: list[Any] = []
        self.resources: list[dict[str, Any]] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                request = ExportTraceServiceRequest.FromString(body)
                with receiver.arrived:
                    for resource_spans in request.resource_spans:
                        resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                        for scope_spans in resource_spans.scope_spans:
                            for span in scope_spans.spans:
                                receiver.spans.append(span)
                                receiver.resources.append(resource)
                    receiver.arrived.notify_all()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_for(self, found: Callable[[list[Any]], bool], timeout_s: float = 60.0) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: found(self.spans), timeout=timeout_s)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_otel_variables_alone_export_a_served_hubs_spans(tmp_path: Path, world: World) -> None:
    """``onematter serve`` with tracing on and only OTEL_* set: spans reach an OTLP receiver."""
    from tests.gateway.hub import RunningHub, token

    receiver = OtlpReceiver()
    env = {
        "ONEMATTER__OPS__TRACING": "true",
        "OTEL_SERVICE_NAME": "hub-under-test",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # export soon after the spans end
    }
    try:
        with RunningHub.start(tmp_path, extra_env=env) as hub:
            wanted = bytes.fromhex(TRACE_ID)

            def complete(spans: list[Any]) -> bool:
                ours = [s for s in spans if s.trace_id == wanted]
                named = [a for s in ours for a in s.attributes if a.key == "onematter.department"]
                departments = {a.value.string_value for a in named}
                return any(s.name == "POST /graphql" for s in ours) and set(DEPARTMENTS) <= departments

            response = httpx.post(
                f"{hub.url}/graphql",
                json={"query": MATTER, "variables": {"code": complete_project(world)}},
                headers={"Authorization": f"Bearer {token('WINDOW_STAFF')}", "traceparent": TRACEPARENT},
                timeout=30,
            )
            assert response.status_code == 200, response.text
            assert receiver.wait_for(complete), f"spans received: {[s.name for s in receiver.spans]}"
    finally:
        receiver.close()
    ours = [(s, r) for s, r in zip(receiver.spans, receiver.resources, strict=True) if s.trace_id == wanted]
    assert {r["service.name"] for _, r in ours} == {"hub-under-test"}
    (server,) = [s for s, _ in ours if s.name == "POST /graphql"]
    assert server.parent_span_id == bytes.fromhex(PARENT_ID)
