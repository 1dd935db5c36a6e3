"""The connectors' HTTP client: no cookie jar, and request URLs joined once per path."""

from __future__ import annotations

import httpx
import pytest

import connectors.http as http_module
from connectors.http import DepartmentClient, build_client
from connectors.settings import ConnectorSettings


async def test_cookies_a_department_sets_are_not_kept_or_sent_again() -> None:
    seen: list[str | None] = []

    def department(request: httpx.Request) -> httpx.Response:  # a Set-Cookie no fixture sends
        seen.append(request.headers.get("cookie"))
        return httpx.Response(200, headers={"set-cookie": "session=abc; Path=/"}, json={})

    client = DepartmentClient(base_url="http://dept.test", transport=httpx.MockTransport(department))
    async with client:
        await client.get("/a")
        await client.get("/b")
        client.cookies = httpx.Cookies({"forced": "1"})  # setting a jar changes nothing either
        await client.get("/c")
    assert seen == [None, None, None]
    assert not list(client.cookies.jar)


def test_connectors_are_given_this_client() -> None:
    settings = ConnectorSettings.model_validate({"base_url": "http://dept.test"})
    client = build_client(settings)
    assert isinstance(client, DepartmentClient)


async def test_joined_urls_are_the_ones_httpx_would_build(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []

    def department(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        return httpx.Response(200, json={})

    client = DepartmentClient(base_url="http://dept.test/base", transport=httpx.MockTransport(department))
    plain = httpx.AsyncClient(base_url="http://dept.test/base")
    async with client, plain:
        for path, params in [("/api/x", {"a": "1"}), ("/api/x", {"a": "2"}), ("api/y", None)]:
            await client.get(path, params=params)
            assert sent[-1] == str(plain.build_request("GET", path, params=params).url)
        await client.get("http://other.test/z")  # an absolute URL is not joined
        assert sent[-1] == "http://other.test/z"
        monkeypatch.setattr(http_module, "MERGED_URLS", 2)
        for n in range(5):  # bounded: the memo starts over when full
            await client.get(f"/api/n{n}")
            assert sent[-1] == f"http://dept.test/base/api/n{n}"
        assert len(client.__dict__["_merged"]) <= 2
