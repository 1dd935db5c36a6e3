"""The index of matters behind list filters and paging.

Filters such as "overdue" or "stage" need every project's department views;
asking the departments per query would fan out per project. The index keeps
them instead: it walks the project directory (``list_profiles``) and asks each
department for all projects through its batch lookup, in chunks, then keeps a
small summary per project. ``matters`` and ``Enterprise.projects`` filter and
page over the index, then load the page's matters through the per-request
DataLoaders: one batch call per department for a whole page.

Freshness: the index is rebuilt every ``hub.index_refresh_s`` seconds (60 by
default) in the background, so a filter may be up to that old (plus the
connectors' cache TTL); the matters it returns are loaded fresh. A department
that fails during a refresh keeps its last good views and is reported in
``MatterConnection.index``.

Changes: each refresh diffs every project's department parts against the
last good ones (``domain.changes.diff``) and hands what moved to the
observers (the gateway's change feed); ``refresh_project`` refreshes one
project at once, past the connectors' fresh cache, when a department says it
changed. A department is diffed only once it has answered a refresh, and a
stale copy (stale-if-error) is never taken for news.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from connectors.base import Connector, ProjectDirectory
from connectors.pipeline import fresh_calls
from domain import rules
from domain.changes import Change, diff
from domain.errors import HubError
from domain.records import ApprovalItem, DepartmentView, Lifecycle, ProjectProfile, Stage
from schema.paging import Window, slice_sorted

log = logging.getLogger(__name__)

DEFAULT_REFRESH_S = 60.0
INDEX_BUILT = "matter index built"  # logged once, when the first build is done
DEFAULT_CHUNK = 100  # projects per department batch call while indexing
FIRST_RETRY_S = 5.0  # a first build that failed is retried this soon (then every refresh_s)
YIELD_EVERY = 200  # projects summarised between yields to the event loop


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """What the filters need to know of one project."""

    project_code: str
    profile: ProjectProfile
    stage: Stage
    departments: frozenset[str]  # departments that know the project
    statuses: frozenset[tuple[str, Lifecycle]]  # (department, normalised item status)
    overdue_departments: frozenset[str]  # departments with an overdue item

    @property
    def credit_code(self) -> str:
        return self.profile.enterprise.credit_code


@dataclass(frozen=True, slots=True)
class MatterQuery:
    """A validated list filter; None means "any"."""

    credit_code: str | None = None
    stage: Stage | None = None
    department: str | None = None
    status: Lifecycle | None = None
    overdue: bool | None = None
    search: str | None = None  # casefolded: in the project or enterprise name, or a code's prefix

    def matches(self, entry: IndexEntry) -> bool:
        if self.search is not None and not _found(self.search, entry):
            return False
        if self.credit_code is not None and entry.credit_code != self.credit_code:
            return False
        if self.stage is not None and entry.stage is not self.stage:
            return False
        if self.department is not None and self.department not in entry.departments:
            return False
        if self.status is not None:
            if self.department is not None:
                if (self.department, self.status) not in entry.statuses:
                    return False
            elif all(status is not self.status for _, status in entry.statuses):
                return False
        if self.overdue is not None:
            overdue = (
                self.department in entry.overdue_departments
                if self.department is not None
                else bool(entry.overdue_departments)
            )
            if overdue is not self.overdue:
                return False
        return True


def _found(search: str, entry: IndexEntry) -> bool:
    """Search words: in the project's or the enterprise's name, or the start of one of its codes."""
    profile = entry.profile
    if search in profile.name.casefold() or search in profile.enterprise.name.casefold():
        return True
    codes = (entry.project_code, profile.enterprise.credit_code, profile.parcel_code)
    return any(code.casefold().startswith(search) for code in codes)


@dataclass(frozen=True, slots=True)
class Page:
    entries: list[IndexEntry]
    total: int
    has_next: bool
    has_previous: bool


@dataclass(slots=True)
class IndexStatus:
    built_at: datetime | None
    as_of: date | None
    refresh_s: float
    projects: int
    # department -> error code of its last failed refresh (its views are the last good ones)
    stale_departments: dict[str, str] = field(default_factory=dict)


def page_in(entries: Sequence[IndexEntry], window: Window) -> Page:
    """The entries of a Relay window (keys are project codes; entries sorted by project code)."""
    start, stop = slice_sorted([e.project_code for e in entries], window)
    return Page(list(entries[start:stop]), len(entries), stop < len(entries), start > 0)


# -- the index ------------------------------------------------------------------


OverdueMemo = dict[tuple[ApprovalItem, date], bool]


def summarise(
    profile: ProjectProfile,
    views: Mapping[str, DepartmentView],
    as_of: date,
    overdue_of: Callable[[ApprovalItem], bool] | None = None,
) -> IndexEntry:
    """One project's filter facts; ``overdue_of`` may answer item clocks from a memo."""
    late = overdue_of or (lambda item: rules.item_clock(item, as_of).overdue)
    statuses: set[tuple[str, Lifecycle]] = set()
    overdue: set[str] = set()
    for name, view in views.items():
        for item in view.items:
            statuses.add((name, item.status))
            if late(item):
                overdue.add(name)
    return IndexEntry(
        project_code=profile.project_code,
        profile=profile,
        stage=rules.derive_stage(views),
        departments=frozenset(views),
        statuses=frozenset(statuses),
        overdue_departments=frozenset(overdue),
    )


class MatterIndex:
    """Every project's summary, rebuilt in the background every ``refresh_s`` seconds."""

    def __init__(
        self,
        directory: ProjectDirectory,
        connectors: Mapping[str, Connector],
        *,
        refresh_s: float = DEFAULT_REFRESH_S,
        chunk: int = DEFAULT_CHUNK,
        as_of: Callable[[], date] = date.today,
    ) -> None:
        self._directory = directory
        self._connectors = dict(connectors)
        self.refresh_s = refresh_s
        self._chunk = chunk
        self._as_of = as_of
        self._entries: list[IndexEntry] = []
        self._by_code: dict[str, IndexEntry] = {}
        self._views: dict[str, dict[str, DepartmentView]] = {}
        self._overdue_memo: OverdueMemo = {}
        self._status = IndexStatus(None, None, refresh_s, 0)
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._observers: list[Callable[[list[Change]], Awaitable[object]]] = []
        self._answered: set[str] = set()  # departments that have answered a refresh

    def observe(self, observer: Callable[[list[Change]], Awaitable[object]]) -> None:
        """Call ``observer(changes)`` after each refresh that found changes."""
        self._observers.append(observer)

    async def _announce(self, changes: list[Change]) -> None:
        for observer in self._observers if changes else ():
            try:
                await observer(changes)
            except Exception:  # an observer's failure must not stop the index
                log.warning("a change observer failed", exc_info=True)

    @property
    def built(self) -> bool:
        return self._status.built_at is not None

    @property
    def status(self) -> IndexStatus:
        return self._status

    def start(self) -> None:
        """Refresh now and then every ``refresh_s`` seconds, in a background task."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="matter-index-refresh")

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def ready(self) -> None:
        """Build the index now unless it has been built (or is being built); keep it refreshed."""
        await self.ready_once()
        self.start()

    async def refresh(self) -> None:
        async with self._lock:
            await self._refresh()

    async def _run(self) -> None:
        while True:
            try:
                if self.built:
                    await asyncio.sleep(self.refresh_s)
                    await self.refresh()
                else:
                    await self.ready_once()
            except Exception:  # a failed refresh keeps the last good index
                log.warning("matter index refresh failed; keeping the last good index", exc_info=True)
                # Never built: nothing to list until it is, so try again soon.
                await asyncio.sleep(self.refresh_s if self.built else min(self.refresh_s, FIRST_RETRY_S))

    async def ready_once(self) -> None:
        """Build the index unless it has been built (waiting for a build in progress)."""
        if not self.built:
            async with self._lock:
                if not self.built:
                    await self._refresh()

    async def _refresh(self) -> None:
        as_of = self._as_of()
        profiles = await self._directory.list_profiles()
        codes = sorted(p.project_code for p in profiles)
        results = await asyncio.gather(
            *(self._department_views(name, connector, codes) for name, connector in self._connectors.items()),
            return_exceptions=True,
        )
        stale: dict[str, str] = {}
        views: dict[str, dict[str, DepartmentView]] = {}
        changes: list[Change] = []
        now = datetime.now(UTC)
        for name, result in zip(self._connectors, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                stale[name] = result.code if isinstance(result, HubError) else HubError.code
                views[name] = self._views.get(name, {})
                continue
            previous = self._views.get(name, {})
            views[name] = {}
            for code, view in result.items():
                if view.source is not None and view.source.stale and code in previous:
                    views[name][code] = previous[code]  # a stale copy is no news
                    continue
                views[name][code] = view
                if name in self._answered:
                    changes += diff(code, name, previous.get(code), view, at=now)
        self._answered.update(n for n in self._connectors if n not in stale)
        # Clocks walk the calendar day by day: memoise them across refreshes (items rarely
        # change) and yield to the event loop now and then, so requests keep being served.
        old_memo, memo = self._overdue_memo, {}

        def overdue_of(item: ApprovalItem) -> bool:
            key = (item, as_of)
            late = old_memo.get(key)
            if late is None:
                late = rules.item_clock(item, as_of).overdue
            memo[key] = late
            return late

        entries = []
        for n, profile in enumerate(sorted(profiles, key=lambda p: p.project_code), start=1):
            code = profile.project_code
            mine = {name: v[code] for name, v in views.items() if code in v}
            entries.append(summarise(profile, mine, as_of, overdue_of))
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        self._overdue_memo = memo
        self._views = views
        self._entries = entries
        self._by_code = {e.project_code: e for e in entries}
        first = self._status.built_at is None
        self._status = IndexStatus(datetime.now(UTC), as_of, self.refresh_s, len(entries), stale)
        if first:
            log.info("%s: %d projects", INDEX_BUILT, len(entries))
        await self._announce(changes)

    async def refresh_project(self, project_code: str) -> list[Change]:
        """Ask every department for one project now (past the fresh cache); announce what moved."""
        async with self._lock:
            entry = self._by_code.get(project_code)
            profile = entry.profile if entry else None
            if profile is None:
                found = await self._directory.fetch_profiles([project_code])
                profile = found.get(project_code)
                if profile is None:
                    return []
            with fresh_calls():
                results = await asyncio.gather(
                    *(c.fetch_projects([project_code]) for c in self._connectors.values()),
                    return_exceptions=True,
                )
            now = datetime.now(UTC)
            changes: list[Change] = []
            for name, result in zip(self._connectors, results, strict=True):
                if isinstance(result, BaseException):
                    if not isinstance(result, Exception):
                        raise result
                    continue  # that department keeps its last good view
                view = result.get(project_code)
                if view is None or (view.source is not None and view.source.stale):
                    continue
                known = self._views.setdefault(name, {})
                if name in self._answered:  # else there is nothing to compare with yet
                    changes += diff(project_code, name, known.get(project_code), view, at=now)
                known[project_code] = view
            mine = {name: v[project_code] for name, v in self._views.items() if project_code in v}
            fresh = summarise(profile, mine, self._as_of())
            if entry is None:
                codes = [e.project_code for e in self._entries]
                self._entries.insert(bisect.bisect_left(codes, project_code), fresh)
            else:
                self._entries[self._entries.index(entry)] = fresh
            self._by_code[project_code] = fresh
        await self._announce(changes)
        return changes

    async def _department_views(
        self, name: str, connector: Connector, codes: list[str]
    ) -> dict[str, DepartmentView]:
        found: dict[str, DepartmentView] = {}
        for i in range(0, len(codes), self._chunk):
            found.update(await connector.fetch_projects(codes[i : i + self._chunk]))
        return found

    def items(self) -> Iterator[ApprovalItem]:
        """Every item of every indexed project, as the last refresh saw it."""
        for views in self._views.values():
            for view in views.values():
                yield from view.items

    def select(self, query: MatterQuery) -> list[IndexEntry]:
        return [e for e in self._entries if query.matches(e)]

    def entry(self, project_code: str) -> IndexEntry | None:
        return self._by_code.get(project_code)

    def profile(self, project_code: str) -> ProjectProfile | None:
        entry = self._by_code.get(project_code)
        return entry.profile if entry else None
