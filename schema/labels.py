"""Chinese labels beside codes: one convention, a sibling ``<field>Label: String!`` for every code.

``status_label: str = code_label("status")`` on a Strawberry type answers
``label(self.status)`` from ``domain.labels``; ``department_label()`` answers
the department's title (its connector's ``title``, else ``domain.labels``'s
table, else the name itself, as for the handbook's non-connected departments).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

import strawberry
from strawberry.types import Info

from domain.labels import DEPARTMENT_LABELS, label
from schema.context import HubContext


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def code_label(attr: str, table: Mapping[str, str] | None = None) -> Any:
    """A ``String!`` field: the Chinese label of the code in ``attr`` (from ``table`` for plain codes)."""

    def resolve(root: Any) -> str:
        code = getattr(root, attr)
        if table is not None:
            return table.get(str(code), str(code))
        return label(code) if isinstance(code, StrEnum) else str(code)

    return strawberry.field(resolver=resolve, description=f"The Chinese label of {_camel(attr)}.")


def department_title(info: Info[HubContext, None], name: str) -> str:
    """A department's title: its connector's own, else the hub's table, else the name as given."""
    connector = info.context.connectors.get(name)
    return connector.title if connector is not None else DEPARTMENT_LABELS.get(name, name)


def department_label(attr: str = "department") -> Any:
    """A ``String!`` field: the title of the department in ``attr``, readable by every role."""

    def resolve(root: Any, info: Info[HubContext, None]) -> str:
        return department_title(info, getattr(root, attr))

    return strawberry.field(resolver=resolve, description=f"The department's title ({_camel(attr)}).")


@strawberry.type(description="A department the hub connects, by its key and its title.")
class Department:
    name: str = strawberry.field(description="The hub's key, e.g. planning (as in every department field).")
    title: str = strawberry.field(description="Its Chinese title, e.g. 自然资源和规划局.")


def departments(info: Info[HubContext, None], order: Sequence[str]) -> list[Department]:
    """The connected departments, in ``order`` first, with their titles."""
    names = list(info.context.connectors)
    rank = {name: i for i, name in enumerate(order)}
    names.sort(key=lambda n: (rank.get(n, len(rank)), n))
    return [Department(name=n, title=department_title(info, n)) for n in names]
