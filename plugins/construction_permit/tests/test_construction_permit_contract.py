"""The hub's connector contract suite, run against the bureau's simulation over loopback HTTP."""

from __future__ import annotations

from typing import Any, ClassVar

from onematter_construction_permit.connector import ConstructionPermitConnector
from onematter_construction_permit.fixture import (
    DEMO_PASSWORD,
    DEMO_USER,
    STATUSES,
    TIANJIA_CODE,
    UNKNOWN,
    create_app,
)

from connectors.testing import ConnectorContract


class TestConstructionPermitConnectorContract(ConnectorContract):
    connector_class = ConstructionPermitConnector
    known_project_code = TIANJIA_CODE
    unknown_project_code = UNKNOWN
    raw_statuses = STATUSES
    credentials: ClassVar[dict[str, tuple[str, str]]] = {
        "username": ("ONEMATTER_CONSTRUCTION_PERMIT_USERNAME", DEMO_USER),
        "password": ("ONEMATTER_CONSTRUCTION_PERMIT_PASSWORD", DEMO_PASSWORD),
    }

    def make_app(self) -> Any:
        return create_app()
