"""The connectors' HTTP client keeps no cookies: one caller's session never reaches another's call."""

from __future__ import annotations

import httpx

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
