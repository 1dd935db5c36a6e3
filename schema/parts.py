"""A department's part of a matter: how a connector adds its own field to ``Matter``.

Connectors know no GraphQL, so a connector names its part by an import path
(``module:ATTRIBUTE``), and the part lives beside it in a module that may
import Strawberry::

    class EnvironmentConnector:
        name = "environment"
        part = "onematter_environment.part:PART"

    # onematter_environment/part.py
    PART = MatterPart(field="environment", type=list[EnvironmentApproval], show=show)

``build_schema(parts=...)`` adds one ``Matter`` field per loaded part (after
``items``), typed ``type | None``: when the department failed, the field is
null with that department's error, and ``show`` is not called. Otherwise
``show`` gets a ``PartInput`` (the department's ``DepartmentView``, or None
when it does not know the project) and returns the field's value. The five
built-in departments declare their parts the same way (``schema.departments``).
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Optional, cast

import strawberry

from connectors.discovery import ConnectorLoadError, declared, load_attribute
from domain.errors import ConfigError
from domain.records import DepartmentView

if TYPE_CHECKING:
    from strawberry.types.field import StrawberryField

    from schema.types import Matter

FIELD_RULE = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass(frozen=True, slots=True)
class PartInput:
    """What a part's ``show`` gets for one matter."""

    department: str  # the connector's name
    view: DepartmentView | None  # None: the department does not know the project
    as_of: date  # "today" for the working-day clocks


@dataclass(frozen=True, slots=True)
class MatterPart:
    """One department's field of ``Matter``.

    Args:
        field: the field's Python name (snake_case; GraphQL gets camelCase), e.g. ``fire_path``.
        type: the Strawberry type the field shows, e.g. ``FirePath | None`` or ``list[Ticket]``;
            the field itself is always nullable (null with the error when the department failed).
        show: builds the field's value from the department's answer.
        description: the field's description in the SDL.
    """

    field: str
    type: Any
    show: Callable[[PartInput], object]
    description: str | None = None


@dataclass(frozen=True, slots=True)
class DepartmentPart:
    """A loaded part and the department (connector name) it belongs to."""

    department: str
    part: MatterPart


class PartLoadError(ConfigError):
    """A connector's part cannot be loaded or used; the message names it and says why."""


def load_part(department: str, path: str) -> DepartmentPart:
    """Import ``module:ATTRIBUTE``: a ``MatterPart``, or a callable making one for the department."""
    try:
        part = load_attribute(path)
        if callable(part) and not isinstance(part, MatterPart):
            part = part(department)
    except Exception as exc:
        raise PartLoadError(
            f"connector {department!r}: part {path!r} failed to load: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(part, MatterPart):
        raise PartLoadError(f"connector {department!r}: part {path!r} is not a MatterPart")
    if not FIELD_RULE.fullmatch(part.field) or keyword.iskeyword(part.field):
        raise PartLoadError(
            f"connector {department!r}: part field {part.field!r} is not a valid name "
            "(lower-case letters, digits and _, starting with a letter)"
        )
    return DepartmentPart(department, part)


def parts_of(connectors: Mapping[str, object]) -> list[DepartmentPart]:
    """The parts the given connectors (instances or classes, by name) declare, in name order.

    A connector without a ``part`` attribute adds no field of its own (its items
    still show in ``Matter.items``).
    """
    found = []
    for name in sorted(connectors):
        try:
            path = declared(connectors[name], "part")
        except ConnectorLoadError as exc:
            raise PartLoadError(str(exc)) from exc
        if path is not None:
            found.append(load_part(name, path))
    return found


def matter_fields(parts: Iterable[DepartmentPart], taken: Iterable[str]) -> list[StrawberryField]:
    """One Strawberry field per part; ``taken`` are the Matter fields parts may not reuse."""
    used = set(taken)
    fields = []
    for loaded in parts:
        name = loaded.part.field
        if name in used:
            raise PartLoadError(
                f"connector {loaded.department!r}: part field {name!r} is already a field of Matter"
            )
        used.add(name)
        fields.append(_field(loaded))
    return fields


def _field(loaded: DepartmentPart) -> StrawberryField:
    department, part = loaded.department, loaded.part

    def resolve(root: Matter) -> object:
        view = root.department_view(department)  # raises the department's error
        return part.show(PartInput(department=department, view=view, as_of=root.as_of))

    # The resolver's own annotations are strings (postponed); the field's type is the part's.
    resolve.__annotations__ = {"root": object, "return": object}
    made = cast(
        "StrawberryField",
        strawberry.field(
            resolver=resolve,
            graphql_type=Optional[part.type],  # noqa: UP045 (part.type is a runtime value)
            description=part.description,
        ),
    )
    made.python_name = part.field
    return made


def with_parts(fields: Sequence[StrawberryField], extra: Sequence[StrawberryField]) -> list[StrawberryField]:
    """Matter's own fields with the parts' fields placed after ``items``."""
    names = [f.python_name for f in fields]
    at = names.index("items") + 1 if "items" in names else len(fields)
    return [*fields[:at], *extra, *fields[at:]]
