"""The hub's connector contract suite, run against the fixture over loopback HTTP."""

from __future__ import annotations

from typing import Any, ClassVar

from onematter_ecology.connector import EcologyConnector
from onematter_ecology.fixture import DEMO_API_KEY, HELI_CODE, STATUSES, UNKNOWN, create_app

from connectors.testing import ConnectorContract


class TestEcologyConnectorContract(ConnectorContract):
    connector_class = EcologyConnector
    known_project_code = HELI_CODE
    unknown_project_code = UNKNOWN
    raw_statuses = STATUSES
    credentials: ClassVar[dict[str, tuple[str, str]]] = {
        "api_key": ("ONEMATTER_ECOLOGY_API_KEY", DEMO_API_KEY)
    }

    def make_app(self) -> Any:
        return create_app()
