"""The seam between the hub and a department: the ``Connector`` protocol.

A connector is one small module per department. It is built by the hub with
its settings, an ``httpx.AsyncClient`` pointed at the department and a cache;
it never builds its own client, so tests inject one. Every call it makes goes
through its ``CallPipeline`` (connectors/pipeline.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import httpx

from domain.records import DepartmentView, EnterpriseProfile, HealthReport, ProjectProfile

if TYPE_CHECKING:
    from aiocache.base import BaseCache

    from connectors.pipeline import CallPipeline, Fetched
    from connectors.settings import ConnectorSettings
    from domain.errors import ConnectorError


@dataclass(frozen=True, slots=True)
class SimulatedSystem:
    """A stand-in for a department's system, which the embedded default serves on loopback.

    Args:
        app: the ASGI app that answers like the department.
        credentials: what the connector needs to call it: credential name (as in the
            connector's ``credentials`` table) -> (environment variable, demo value).
    """

    app: Any
    credentials: Mapping[str, tuple[str, str]] = field(default_factory=dict)


@runtime_checkable
class Connector(Protocol):
    """What the hub needs of a department connector."""

    name: str  # config and GraphQL key, e.g. "planning"
    title: str  # the department's name, e.g. "自然资源和规划局"
    pipeline: CallPipeline

    async def fetch_project(self, project_code: str) -> DepartmentView | None:
        """What the department knows of one project; None if it does not know it."""

    async def fetch_projects(self, project_codes: Sequence[str]) -> Mapping[str, DepartmentView]:
        """Batch lookup; projects the department does not know are absent."""

    async def health(self) -> HealthReport:
        """The department system's own health answer."""

    async def aclose(self) -> None:
        """Release what the connector holds (not the client: the hub owns it)."""


@runtime_checkable
class AnswersEachProject(Protocol):
    """A connector whose batch lookup settles each project on its own.

    ``fetch_answers`` is ``fetch_projects`` without the all-or-nothing: per project,
    a ``Fetched`` (its view, or None when the department does not know it, and
    where the answer came from: fresh, or a stale copy with the copy's time and
    why the fresh call failed) or that project's ``ConnectorError`` (no copy).
    The hub's loaders use it when a connector has it, so one project without a
    copy never blanks the others of a batch.
    """

    async def fetch_answers(
        self, project_codes: Sequence[str]
    ) -> Mapping[str, Fetched[DepartmentView | None] | ConnectorError]:
        """Each project's answer; codes the department cannot be asked for are absent."""


@runtime_checkable
class ProjectDirectory(Protocol):
    """The connector that knows every project's master data (planning, by default).

    The hub lists matters through it and keeps its matter index from it.
    """

    async def fetch_profiles(self, project_codes: Sequence[str]) -> Mapping[str, ProjectProfile]:
        """Profiles of the given projects; unknown codes are absent."""

    async def list_profiles(self) -> list[ProjectProfile]:
        """Every project's profile, walking the department's paging."""

    async def fetch_enterprise(self, credit_code: str) -> EnterpriseProfile | None:
        """An enterprise's profile, or None if no project of it is known."""


class ConnectorFactory(Protocol):
    """A connector class is its own factory; entry points name such a class.

    Optional class attributes, import paths (``module:ATTRIBUTE``) read by
    ``connectors.discovery.declared``: ``part``, the connector's ``schema.MatterPart``
    (its own field of ``Matter``), and ``simulator``, a callable
    ``(project_codes) -> SimulatedSystem`` the embedded default starts.
    """

    name: str
    title: str

    def __call__(
        self, *, settings: ConnectorSettings, client: httpx.AsyncClient, cache: BaseCache
    ) -> Connector: ...
