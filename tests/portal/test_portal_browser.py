"""The reference portal in headless Chromium (Playwright driving the system browser).

Every request the page makes is intercepted: anything not to the hub on
127.0.0.1 is aborted and fails the test. Screenshots are kept under
tests/artifacts/portal/ (git-ignored).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from domain.principal import Role
from registry.seed import seed
from tests.gateway.test_graphiql_browser import _chromium  # the same way to find the browser
from tests.push.conftest import TIANJIA, LiveHub, start_live_hub

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "portal"
WAIT_MS = 30_000  # a guard against hangs, not a timing assertion


class Browser:
    """One Chromium page; ``requests`` holds every URL the page asked for."""

    def __init__(self, page: Any, origin: str) -> None:
        self.page = page
        self.origin = origin
        self.requests: list[str] = []
        self.refused: list[str] = []

    async def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path

    def assert_offline(self) -> None:
        assert self.requests, "the page made no requests"
        assert not self.refused, f"the page asked for something off this machine: {self.refused}"
        for url in self.requests:
            parts = urlsplit(url)
            assert f"{parts.scheme}://{parts.netloc}" == self.origin, url


async def expect_count(locator: Any, count: int) -> None:
    from playwright.async_api import expect

    await expect(locator).to_have_count(count)


@pytest.fixture
async def browser_for() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    executable = _chromium()
    async with AsyncExitStack() as stack:
        playwright = await stack.enter_async_context(async_playwright())
        chromium = await playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            # Belt and braces: no name resolves but 127.0.0.1, and no proxy that exists.
            args=[
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--proxy-server=http://127.0.0.1:9",
            ],
        )
        stack.push_async_callback(chromium.close)

        async def open_page(origin: str) -> Browser:
            context = await chromium.new_context(locale="zh-CN", viewport={"width": 1200, "height": 900})
            stack.push_async_callback(context.close)
            page = await context.new_page()
            page.set_default_timeout(WAIT_MS)
            browser = Browser(page, origin)

            async def route(route: Any) -> None:
                url = route.request.url
                browser.requests.append(url)
                parts = urlsplit(url)
                if f"{parts.scheme}://{parts.netloc}" != origin:
                    browser.refused.append(url)
                    await route.abort()
                    return
                await route.continue_()

            await context.route("**/*", route)
            return browser

        yield open_page


@pytest.fixture
async def portal_hub(tmp_path: Path, demo_credentials: None, webhook_secrets: None) -> AsyncIterator[LiveHub]:
    async with AsyncExitStack() as stack:
        hub = await start_live_hub(tmp_path, stack)
        await seed(hub.services.registry)  # the report's ledger, for the auditors' page
        yield hub


async def test_search_matter_page_live_update_and_coverage(portal_hub: LiveHub, browser_for: Any) -> None:
    browser: Browser = await browser_for(portal_hub.url)
    page = browser.page

    # Search finds 天嘉·上河九章.
    await page.goto(f"{portal_hub.url}/portal")
    await page.wait_for_selector("main[data-ready=true]")
    await page.fill("#search", "上河九章")
    link = page.locator("#results a", has_text="天嘉·上河九章")
    await link.wait_for()
    await expect_count(page.locator("#results li"), 1)
    await browser.screenshot("search")

    # Its matter page: the earthwork phase is eligible, and the blockers are listed.
    await link.click()
    await page.wait_for_url(f"**/portal/matters/{TIANJIA}")
    await page.wait_for_selector("main[data-ready=true]")
    assert "天嘉·上河九章" in await page.locator("#matter-name").inner_text()
    earthwork = page.locator('#phases [data-phase="EARTHWORK"]')
    assert await earthwork.get_attribute("data-eligible") == "true"
    assert "可办理" in await earthwork.inner_text()
    blockers = await page.locator("#blockers li").all_inner_texts()
    assert any("总平面图" in b and "挂起" in b for b in blockers), blockers
    assert await page.locator('#sources [data-department="planning"]').get_attribute("data-status") == "OK"
    row = page.locator('#items tr[data-kind="planning.layout_plan"]')
    assert await row.get_attribute("data-status") == "SUSPENDED"
    await page.wait_for_selector('#live[data-state="live"]')
    await portal_hub.services.changes.until_held(1)
    await browser.screenshot("matter")

    # Advancing the item upstream changes the open page without a reload.
    await page.evaluate("window.__sameDocument = true")
    await portal_hub.advance("planning", projectCode=TIANJIA)
    await page.wait_for_selector('#items tr[data-kind="planning.layout_plan"][data-status="IN_REVIEW"]')
    assert await page.evaluate("window.__sameDocument === true")
    update = await page.locator("#updates li").first.inner_text()
    assert "总平面图" in update and "挂起 → 审查中" in update
    assert not any(
        "总平面图" in b and "挂起" in b for b in await page.locator("#blockers li").all_inner_texts()
    )
    assert await page.locator('#timeline li[data-kind="RESUMED"]').count() >= 1  # 恢复办理, logged upstream
    await browser.screenshot("matter-updated")

    # The auditors' page: 346 items in force across 12 departments, charted.
    await page.goto(f"{portal_hub.url}/portal/coverage")
    await page.wait_for_selector("main[data-ready=true]")
    assert await page.locator("#in-force .value").inner_text() == "346"
    assert await page.locator("#departments .value").inner_text() == "12"
    bars = page.locator('svg.chart rect[data-series="takenOver"]')
    assert await bars.count() == 12  # one bar per department
    assert await page.locator("#indicators tbody tr").count() > 0  # the reform's figures, computed now
    await browser.screenshot("coverage")

    browser.assert_offline()
    assert any(urlsplit(u).path == "/static/portal/app.js" for u in browser.requests)


async def test_the_portal_works_with_trusted_documents_enforced_in_production(
    tmp_path: Path,
    demo_credentials: None,
    webhook_secrets: None,
    browser_for: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ONEMATTER_AUTH_SECRET", "a-production-secret-for-this-test-0123456789")
    manifest = tmp_path / "trusted.json"
    manifest.write_text(json.dumps({}), encoding="utf-8")  # the operator's own clients: none here
    async with AsyncExitStack() as stack:
        hub = await start_live_hub(tmp_path, stack, production=True, trusted_documents=manifest)
        token = hub.token(Role.WINDOW_STAFF)

        # Anything but a registered document is refused.
        ad_hoc = "{ matter(projectCode: $code) { name } }".replace(
            "{ matter", "query Q($code: String!) { matter", 1
        )
        refused = await hub.query(ad_hoc, {"code": TIANJIA}, token=token)
        assert refused["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"

        browser: Browser = await browser_for(hub.url)
        page = browser.page
        await page.goto(f"{hub.url}/portal/matters/{TIANJIA}")
        assert await page.locator("#signin input").count() == 1  # no demo token in production
        await page.fill("#signin input", token)
        await page.click("#signin button")
        await page.wait_for_selector("main[data-ready=true]")
        assert "天嘉·上河九章" in await page.locator("#matter-name").inner_text()
        await page.wait_for_selector('#live[data-state="live"]')
        await hub.services.changes.until_held(1)
        await hub.advance("planning", projectCode=TIANJIA)
        await page.wait_for_selector('#items tr[data-kind="planning.layout_plan"][data-status="IN_REVIEW"]')
        await browser.screenshot("production-matter")
        browser.assert_offline()
