"""Subscriptions: status changes pushed to portals.

- ``matterUpdates(projectCode)``: every change in one matter's department parts;
- ``windowUpdates(filter)``: changes across the matters the caller may read,
  narrowed by stage and department (a service-centre window screen).

Each ``MatterUpdate`` says what changed (department, item, old and new
status, when) and carries the current ``Matter`` for the fields asked. The
rules are the queries': the same roles (matter readers), object rules (an
ENTERPRISE follows only its own projects, an AGENT its assigned ones), field
masks and cost limits; each delivered update is written to the access log as a
read of that matter before it is sent. A subscription ends cleanly when the
hub shuts down and with a ``SUBSCRIPTION_ENDED`` error when the caller's token
expires; ``[push]`` bounds how many one caller may hold.

The change feed behind them is the gateway's (``HubChanges`` below says what
the schema needs of it); where changes come from is in gateway/changes.py.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Protocol

import strawberry
from strawberry.types import Info

from domain.changes import Change, Subject
from domain.errors import InvalidInput, NotFound, SubscriptionEnded
from domain.labels import label
from domain.principal import Role
from domain.records import Lifecycle, Stage, UtilityStatus
from schema.audit import record_read
from schema.context import HubContext
from schema.labels import code_label, department_label
from schema.matter import checked_project_code
from schema.permissions import (
    MatterReaders,
    can_read_project,
    check_project,
    guard,
    principal_of,
)
from schema.types import Matter, _ordered, field, load_matter

strawberry.enum(Subject, description="What changed: an approval item, a registration or a utility ticket.")
SUBJECT_LABELS = {
    Subject.ITEM: "审批事项",
    Subject.REGISTRATION: "不动产登记",
    Subject.UTILITY_TICKET: "联合报装工单",
}


class ChangeStream(Protocol):
    async def next(self, wait_s: float | None) -> Change | None:
        """The next change; None when the feed ended the stream or ``wait_s`` passed."""

    @property
    def closed(self) -> bool: ...

    def close(self) -> None: ...


class HubChanges(Protocol):
    """What subscriptions need of the gateway's change feed."""

    def subscribe(self, owner: str) -> ChangeStream:
        """A stream of every change; raises ``TooManySubscriptions`` past the caller's limit."""


@strawberry.type(description="One status change in one department's part of a matter.")
class MatterUpdate:
    id: strawberry.ID = strawberry.field(description="The change's id: the same on every hub replica.")
    project_code: str
    department: str
    department_label: str = department_label()
    subject: Subject
    subject_label: str = code_label("subject")
    kind: str = strawberry.field(description="Item kind, real_estate.registration or utilities.<utility>.")
    item: str = strawberry.field(description="The item's name, the registration type or the utility.")
    number: str | None = strawberry.field(description="File, business or ticket number.")
    old_status: str | None = strawberry.field(
        description="A Lifecycle value (UtilityStatus for a ticket); null when the department just opened it."
    )
    new_status: str
    old_status_label: str | None = strawberry.field(description="The old status in Chinese.")
    new_status_label: str = strawberry.field(description="The new status in Chinese.")
    raw_old_status: str | None = strawberry.field(description="In the department's own vocabulary.")
    raw_new_status: str
    detected_at: datetime = strawberry.field(description="When the hub saw the change.")

    @classmethod
    def of(cls, change: Change) -> MatterUpdate:
        return cls(
            id=strawberry.ID(change.id),
            project_code=change.project_code,
            department=change.department,
            subject=change.subject,
            kind=change.kind,
            item=change.name,
            number=change.number,
            old_status=change.old_status,
            new_status=change.new_status,
            old_status_label=_status_label(change.subject, change.old_status),
            new_status_label=_status_label(change.subject, change.new_status) or change.new_status,
            raw_old_status=change.raw_old_status,
            raw_new_status=change.raw_new_status,
            detected_at=change.detected_at,
        )

    @field(description="The matter as it is now (the same fields, rules and freshness as `matter`).")
    async def matter(self, info: Info[HubContext, None]) -> Matter | None:
        # Each update is answered fresh: this connection's loaders must not serve the last one's.
        loaders = info.context.loaders
        loaders.profiles.clear_all()
        for loader in loaders.views.values():
            loader.clear_all()
        found = await load_matter(info, self.project_code)
        matter: Matter | None = guard(info, "project", found, log=False)  # logged per update
        return matter


def _status_label(subject: Subject, status: str | None) -> str | None:
    if status is None:
        return None
    vocabulary: type[StrEnum] = UtilityStatus if subject is Subject.UTILITY_TICKET else Lifecycle
    try:
        return label(vocabulary(status))
    except ValueError:  # a status this hub has no label for: show the code
        return status


@strawberry.input(description="Which changes a window screen follows; every given condition must hold.")
class UpdateFilter:
    stage: Stage | None = strawberry.field(default=None, description="The matter's stage after the change.")
    department: str | None = None


def _principal_key(info: Info[HubContext, None]) -> str:
    principal = principal_of(info)
    return f"{principal.role}:{principal.subject}"


async def _updates(
    info: Info[HubContext, None], accept: Callable[[Change], bool]
) -> AsyncGenerator[MatterUpdate, None]:
    changes: HubChanges = info.context.changes
    # Changes are found by diffing against the built index: build it before listening.
    await info.context.matter_index.ready()
    stream = changes.subscribe(_principal_key(info))
    expires_at: float | None = info.context.token_expires_at
    try:
        while True:
            wait_s = None if expires_at is None else expires_at - time.time()
            change = await stream.next(max(wait_s, 0.0) if wait_s is not None else None)
            if change is None:
                if stream.closed:
                    return  # the hub ended the feed (shutting down): complete cleanly
                raise SubscriptionEnded("the bearer token has expired: subscribe again with a new token")
            if not accept(change):
                continue
            record_read(info, "matter", change.project_code)
            yield MatterUpdate.of(change)
    finally:
        stream.close()


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Every status change in one matter's department parts, with the matter as it is now."
    )
    async def matter_updates(
        self,
        info: Info[HubContext, None],
        project_code: Annotated[str, strawberry.argument(description="投资项目统一代码 (GB/T 40058-2021).")],
    ) -> AsyncGenerator[MatterUpdate, None]:
        code = checked_project_code(project_code, argument="projectCode")
        MatterReaders().has_permission(None, info)  # raises FORBIDDEN for other roles
        check_project(info, code)  # an AGENT's assignment is known now
        profile = await info.context.loaders.profiles.load(code)
        principal = principal_of(info)
        if profile is None or (
            # Another enterprise's project answers as an unknown code does, as `matter` does: no oracle.
            principal.role is Role.ENTERPRISE and profile.enterprise.credit_code != principal.credit_code
        ):
            raise NotFound(f"no project with code {code}", entity="project", key=code)
        check_project(info, code, profile.enterprise.credit_code)
        async for update in _updates(info, lambda change: change.project_code == code):
            yield update

    @strawberry.subscription(
        description=(
            "Status changes across every matter the caller may read, narrowed by stage and "
            "department: for a service-centre window screen."
        )
    )
    async def window_updates(
        self, info: Info[HubContext, None], filter: UpdateFilter | None = None
    ) -> AsyncGenerator[MatterUpdate, None]:
        MatterReaders().has_permission(None, info)
        wanted = filter or UpdateFilter()
        departments = set(info.context.connectors)
        if wanted.department is not None and wanted.department not in departments:
            rule = f"department must be one of {', '.join(_ordered(departments))}"
            raise InvalidInput(f"filter.department: {rule}", argument="filter.department", rule=rule)
        principal = principal_of(info)
        index = info.context.matter_index

        def accept(change: Change) -> bool:
            if wanted.department is not None and change.department != wanted.department:
                return False
            entry = index.entry(change.project_code)
            if wanted.stage is not None and (entry is None or entry.stage is not wanted.stage):
                return False
            owner = entry.credit_code if entry else None
            return can_read_project(principal, change.project_code, owner)

        async for update in _updates(info, accept):
            yield update
