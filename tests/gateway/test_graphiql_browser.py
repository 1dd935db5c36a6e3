"""GraphiQL renders in headless Chromium with the network cut off from all but the hub.

Every host name resolves to nothing except 127.0.0.1, and every non-loopback
request goes to a proxy that does not exist. Chromium's net log then shows
which requests the page made: all of them must be to the hub itself.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from fixtures.serve import serve_app
from gateway.app import create_app
from gateway.config import Settings
from tests.gateway.conftest import toy_schema, toy_services

CHROMIUM_TIMEOUT_S = 120


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("needs a headless Chromium (apt-get install chromium; .ci/run installs it)")


async def render(url: str, tmp_path: Path) -> tuple[str, list[dict[str, Any]]]:
    """The DOM after scripts ran, and the requests the page itself started."""
    net_log = tmp_path / "net.json"
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        # Cut the network: no name resolves but 127.0.0.1; anything not loopback goes to
        # a proxy on the discard port, where nothing listens.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--proxy-server=http://127.0.0.1:9",
        f"--log-net-log={net_log}",
        "--virtual-time-budget=15000",
        "--dump-dom",
        url,
    ]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        dom, errors = await asyncio.wait_for(process.communicate(), CHROMIUM_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, errors.decode(errors="replace")[-2000:]
    return dom.decode(), _page_requests(net_log)


def _page_requests(net_log: Path) -> list[dict[str, Any]]:
    """Requests a page started (they carry the page's origin as initiator)."""
    log = json.loads(net_log.read_text(encoding="utf-8"))
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    requests = []
    for event in log["events"]:
        params = event.get("params") or {}
        initiator = params.get("initiator")
        if event["type"] == start_job and initiator and initiator != "not an origin":
            requests.append({"url": params["url"], "method": params.get("method"), "initiator": initiator})
    return requests


def assert_graphiql_rendered(dom: str, requests: list[dict[str, Any]], origin: str) -> None:
    assert 'class="graphiql-container"' in dom, dom[:2000]
    assert "graphiql-editor" in dom  # the query editor mounted
    assert "Loading GraphiQL" not in dom
    assert requests, "the page made no requests"
    for request in requests:
        parts = urlsplit(request["url"])
        assert f"{parts.scheme}://{parts.netloc}" == origin, f"the page requested {request['url']}"
    # GraphiQL fetched the schema from the hub (introspection over POST).
    assert any(r["method"] == "POST" and urlsplit(r["url"]).path == "/graphql" for r in requests)


async def test_graphiql_renders_offline(tmp_path: Path) -> None:
    settings = Settings()
    app = create_app(settings, services=toy_services(settings), schema=toy_schema())
    server = await serve_app(app)
    try:
        dom, requests = await render(f"{server.url}/graphql", tmp_path)
    finally:
        await server.stop()
    assert_graphiql_rendered(dom, requests, server.url)


async def test_graphiql_renders_offline_on_the_embedded_hub(hub: Any, tmp_path: Path) -> None:
    dom, requests = await render(f"{hub.url}/graphql", tmp_path)
    assert_graphiql_rendered(dom, requests, hub.url)
