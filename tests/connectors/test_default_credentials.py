"""Department credentials come from their documented environment variables by default.

With no ``credentials`` table in the configuration, the utilities and
real-estate connectors read ``ONEMATTER_UTILITIES_API_KEY`` and
``ONEMATTER_REAL_ESTATE_CLIENT_ID`` / ``_CLIENT_SECRET`` (docs/departments.md).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from aiocache import SimpleMemoryCache

from connectors.real_estate import RealEstateConnector
from connectors.settings import ConnectorSettings
from connectors.utilities import UtilitiesConnector
from domain.errors import DepartmentRejected
from fixtures.serve import start_departments
from tests.connectors.roundtrip import generated_world

VARIABLES = {
    "ONEMATTER_UTILITIES_API_KEY": "demo-utilities-key",
    "ONEMATTER_REAL_ESTATE_CLIENT_ID": "onematter-hub",
    "ONEMATTER_REAL_ESTATE_CLIENT_SECRET": "demo-secret",
}
CONNECTORS: dict[str, Any] = {"utilities": UtilitiesConnector, "real_estate": RealEstateConnector}


@pytest.mark.parametrize("with_variables", [True, False], ids=["variables-set", "variables-unset"])
@pytest.mark.parametrize("department", sorted(CONNECTORS))
async def test_credentials_from_the_default_variables(
    monkeypatch: pytest.MonkeyPatch, department: str, with_variables: bool
) -> None:
    for name, value in VARIABLES.items():
        if with_variables:
            monkeypatch.setenv(name, value)
        else:
            monkeypatch.delenv(name, raising=False)
    world = generated_world()
    code = next(c for c in sorted(world.projects) if world.view(department, c))
    running = await start_departments(world, departments=(department,))
    try:
        async with httpx.AsyncClient(base_url=running.urls[department], timeout=5) as client:
            # No credentials table: only the base URL, as docs/departments.md allows.
            settings = ConnectorSettings(base_url=running.urls[department])
            connector = CONNECTORS[department](settings=settings, client=client, cache=SimpleMemoryCache())
            if with_variables:
                view = await connector.fetch_project(code)
                assert view is not None and view.project_code == code
            else:
                with pytest.raises(DepartmentRejected):
                    await connector.fetch_project(code)
            await connector.aclose()
    finally:
        await running.stop()
