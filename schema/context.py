"""What the schema needs of each request: the ``HubContext`` the gateway implements.

Every resolver takes ``Info[HubContext, None]``; the gateway's ``Context``
(gateway/context.py) is the one implementation, and tests may pass any object
with these attributes. The schema reads the context and never writes into it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from connectors.base import Connector
    from domain.principal import Principal
    from registry.store import Registry
    from schema.loaders import Loaders
    from schema.matter_index import MatterIndex
    from schema.subscriptions import HubChanges


class HubContext(Protocol):
    """One GraphQL request's view of the hub."""

    @property
    def principal(self) -> Principal:
        """Who is asking (``ANONYMOUS`` when nobody signed in)."""

    @property
    def as_of(self) -> date:
        """ "Today" for the working-day clocks."""

    @property
    def request_id(self) -> str:
        """The id every department call and log line of this request carries."""

    @property
    def case_number(self) -> str | None:
        """The case number (办件号) the caller gave, if any."""

    @property
    def loaders(self) -> Loaders:
        """This request's DataLoaders: one per department lookup, plus the directory."""

    @property
    def matter_index(self) -> MatterIndex:
        """The index behind list filters, built at startup."""

    @property
    def connectors(self) -> Mapping[str, Connector]:
        """The enabled department connectors, by name."""

    @property
    def registry(self) -> Registry:
        """The hub's own store: ledger, accounts, access log."""

    @property
    def changes(self) -> HubChanges:
        """The change feed subscriptions read."""

    @property
    def token_expires_at(self) -> float | None:
        """Unix seconds when the caller's token expires (a subscription ends then)."""
