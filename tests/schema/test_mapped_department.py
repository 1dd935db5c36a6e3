"""A department defined only by a mapping file joins a real hub: sources, Matter and the SDL.

The urban management system is served on loopback beside the five; the hub's
configuration names its mapping file, and nothing else is written for it.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from domain.principal import Role
from fixtures import urban_management
from fixtures.serve import RunningDepartments, serve_app
from fixtures.world import World
from gateway.app import create_app
from gateway.services import Services
from tests.schema.conftest import Hub, hub_settings

MAPPING = Path(__file__).resolve().parents[2] / "connectors" / "mappings" / "urban_management.toml"
USER_ENV, PASSWORD_ENV = "ONEMATTER_URBAN_MANAGEMENT_USERNAME", "ONEMATTER_URBAN_MANAGEMENT_PASSWORD"


@pytest.fixture
async def hub(
    world: World,
    departments: RunningDepartments,
    tmp_path: Path,
    demo_credentials: None,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv(USER_ENV, urban_management.DEMO_USERNAME)
    monkeypatch.setenv(PASSWORD_ENV, urban_management.DEMO_PASSWORD)
    async with AsyncExitStack() as stack:
        server = await serve_app(urban_management.create_app(world))
        stack.push_async_callback(server.stop)
        urls = {**departments.urls, "urban_management": server.url}
        settings = hub_settings(
            urls, tmp_path, world, overrides={"urban_management": {"mapping": str(MAPPING)}}
        )
        services = await Services.open(settings)
        stack.push_async_callback(services.aclose)
        app = create_app(settings, services=services)
        await stack.enter_async_context(app.router.lifespan_context(app))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub")
        stack.push_async_callback(client.aclose)
        admin = httpx.AsyncClient()
        stack.push_async_callback(admin.aclose)
        yield Hub(
            client=client, departments=departments, services=services, settings=settings, admin_client=admin
        )


async def test_it_is_in_sources_in_matter_and_in_the_sdl(hub: Hub, world: World) -> None:
    truth = urban_management.views(world)
    code = sorted(truth)[0]
    sources = await hub.query("{ sources { department title } }", role=Role.INTEGRATOR)
    assert {"department": "urban_management", "title": urban_management.TITLE} in sources["data"]["sources"]
    sdl = (await hub.query("{ _service { sdl } }", role=Role.INTEGRATOR))["data"]["_service"]["sdl"]
    assert "urbanManagement" in sdl
    body = await hub.query(
        """query ($code: String!) { matter(projectCode: $code) {
             urbanManagement { department items { kind name status rawStatus decidedOn } }
             items { department kind }
             sources { department status } } }""",
        {"code": code},
    )
    assert "errors" not in body, body
    matter = body["data"]["matter"]
    part = matter["urbanManagement"]
    assert part["department"] == "urban_management"
    assert [(i["kind"], i["rawStatus"]) for i in part["items"]] == [
        (i.kind, i.raw_status) for i in truth[code].items
    ]
    assert {"department": "urban_management", "status": "OK"} in matter["sources"]
    assert any(i["department"] == "urban_management" for i in matter["items"])
