"""Per-request DataLoaders: one per department lookup, plus the project directory.

Every ``load`` made in the same event-loop tick is batched into one batch
lookup per department, so a matter's five departments are fetched
concurrently and a page of N matters costs one call per department. Each
project's answer says where it came from (``ViewResult.meta``: fetched now, or
a stale copy with the copy's time and why the fresh call failed), "not known
here" included. A connector with ``fetch_answers`` settles each project alone:
when the batch call fails, the projects with a copy keep it and only those
without one get the department's error; any other connector's failure fails
all its keys. The resolvers turn an error into a null field with a GraphQL
error, never a failed request.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar, cast

from strawberry.dataloader import DataLoader

from connectors.base import AnswersEachProject, Connector, ProjectDirectory
from connectors.pipeline import Fetched
from domain.errors import ConnectorError
from domain.records import DepartmentView, EnterpriseProfile, ProjectProfile, SourceMeta

K = TypeVar("K")
V = TypeVar("V")
BatchLoad = Callable[[list[K]], Awaitable[Sequence[V | BaseException]]]


@dataclass(frozen=True, slots=True)
class ViewResult:
    """One department's answer for one project: its view (None: not known there) and where from."""

    department: str
    view: DepartmentView | None
    meta: SourceMeta


@dataclass(frozen=True, slots=True)
class Loaders:
    views: dict[str, DataLoader[str, ViewResult]]  # department -> loader
    profiles: DataLoader[str, ProjectProfile | None]
    enterprises: DataLoader[str, EnterpriseProfile | None]


class NoDirectory(Exception):
    """No connector acts as the project directory (configuration problem; masked)."""


@functools.cache
def _settles_each(kind: type) -> bool:
    # Asked once per connector class: a runtime protocol check walks the protocol's
    # members each time (about 0.02 ms), and loaders are made per request.
    return issubclass(kind, AnswersEachProject)


def _view_batch(department: str, connector: Connector) -> BatchLoad[str, ViewResult]:
    settles_each = _settles_each(type(connector))

    async def load(keys: list[str]) -> Sequence[ViewResult | BaseException]:
        fetched_at = datetime.now(UTC)
        started = time.perf_counter()
        answers: Mapping[str, Fetched[DepartmentView | None] | ConnectorError] | None = None
        found: Mapping[str, DepartmentView] = {}
        try:
            if settles_each:
                # each project settled alone
                answers = await cast(AnswersEachProject, connector).fetch_answers(keys)
            else:
                found = await connector.fetch_projects(keys)  # all or nothing
        except Exception as exc:
            return [exc] * len(keys)
        # A project that was not asked (or, all or nothing, is not known) has no meta of its
        # own: the batch's, fetched now.
        batch_meta = SourceMeta(fetched_at=fetched_at, latency_ms=(time.perf_counter() - started) * 1000)
        results: list[ViewResult | BaseException] = []
        for key in keys:
            if answers is not None:
                answer = answers.get(key)
                if isinstance(answer, ConnectorError):
                    results.append(answer)  # no copy: this project's part is unavailable
                elif answer is not None:
                    results.append(ViewResult(department, answer.value, answer.meta))
                else:
                    results.append(ViewResult(department, None, batch_meta))
                continue
            view = found.get(key)
            meta = view.source if view is not None and view.source is not None else batch_meta
            results.append(ViewResult(department, view, meta))
        return results

    return load


def _profile_batch(directory: ProjectDirectory | None) -> BatchLoad[str, ProjectProfile | None]:
    async def load(keys: list[str]) -> Sequence[ProjectProfile | BaseException | None]:
        if directory is None:
            return [NoDirectory("no project directory is configured")] * len(keys)
        try:
            found = await directory.fetch_profiles(keys)
        except Exception as exc:
            return [exc] * len(keys)
        return [found.get(key) for key in keys]

    return load


def _enterprise_batch(directory: ProjectDirectory | None) -> BatchLoad[str, EnterpriseProfile | None]:
    async def one(key: str) -> EnterpriseProfile | BaseException | None:
        if directory is None:
            return NoDirectory("no project directory is configured")
        try:
            return await directory.fetch_enterprise(key)
        except Exception as exc:
            return exc

    async def load(keys: list[str]) -> Sequence[EnterpriseProfile | BaseException | None]:
        # The directory has no batch lookup for enterprises; these are rare (one per query).
        return await asyncio.gather(*(one(key) for key in keys))

    return load


def create_loaders(connectors: Mapping[str, Connector], directory: ProjectDirectory | None) -> Loaders:
    """Fresh loaders for one request (their caches must not outlive it)."""
    return Loaders(
        views={
            name: DataLoader(load_fn=_view_batch(name, connector)) for name, connector in connectors.items()
        },
        profiles=DataLoader(load_fn=_profile_batch(directory)),
        enterprises=DataLoader(load_fn=_enterprise_batch(directory)),
    )
