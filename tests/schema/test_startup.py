"""The composition root builds the matter index at startup; /readyz waits for it.

At 100,000 projects walking the directory takes tens of seconds, so it must
not fall on the first list query: the lifespan starts the build, /readyz says
"not ready" until it is done, and the first ``matters`` query after that walks
nothing (counted at the departments through their ``/_admin/stats``).
"""

from __future__ import annotations

from typing import Any

from fixtures.world import DEPARTMENTS, World
from tests.schema.conftest import Hub, HubFactory

LIST_PATH = "/api/projects"  # planning's paged directory listing (what the index walks)

PAGE = """
{ matters(first: 20) { totalCount edges { node { projectCode name sources { department status } } } } }
"""


async def paths(hub: Hub, department: str) -> dict[str, int]:
    stats: dict[str, Any] = await hub.admin(department, "GET", "stats")
    return dict(stats["paths"])


async def test_not_ready_until_the_matter_index_is_built(make_hub: HubFactory) -> None:
    # The directory is down while the hub starts: the index cannot be built.
    hub = await make_hub(faults={"planning": {"maintenance": True}}, ready=False)
    response = await hub.client.get("/readyz")
    assert response.status_code == 503, response.text
    assert response.json()["checks"] == {"registry": "ok", "cache": "ok", "index": "building"}

    await hub.fault("planning", maintenance=False)
    await hub.services.matter_index.ready()  # the build the background task retries
    response = await hub.client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"registry": "ok", "cache": "ok", "index": "ok"}


async def test_the_first_list_query_after_ready_walks_no_directory(
    make_hub: HubFactory, world: World
) -> None:
    hub = await make_hub()
    assert (await paths(hub, "planning")).get(LIST_PATH, 0) >= 1  # the startup build walked it
    ready = await hub.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    await hub.reset_stats()

    body = await hub.query(PAGE)
    assert "errors" not in body, body["errors"][:3]
    matters = body["data"]["matters"]
    assert matters["totalCount"] == len(world.projects)
    assert len(matters["edges"]) == 20
    assert LIST_PATH not in await paths(hub, "planning")  # no directory walk
    # The page itself: one batch lookup per department, nothing more.
    assert await hub.upstream_calls(tokens=False) == dict.fromkeys(DEPARTMENTS, 1)


async def test_the_index_belongs_to_the_services(make_hub: HubFactory) -> None:
    hub = await make_hub()
    index = hub.services.matter_index
    assert index.built and index.status.projects > 0
    await hub.query(PAGE)
    assert hub.services.matter_index is index  # queries read it; nothing replaces it
