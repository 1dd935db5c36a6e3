"""The GraphQL schema: the only package that knows GraphQL.

Each domain module (``schema/<domain>.py``) exposes a ``Query`` class and, if it
writes, a ``Mutation`` class; ``build_schema`` merges them into one Apollo
Federation 2 subgraph, with one ``Matter`` field per department part
(``schema.parts``).

The public surface for plug-in departments is ``__all__``: ``MatterPart`` and
``PartInput`` to declare a part, ``load_part`` to load one by its import
path (as a plug-in's tests do), ``build_schema`` and ``parts_of`` for the
composition root.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Sequence
from typing import Any, Optional

import strawberry
from strawberry.annotation import StrawberryAnnotation
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext
from strawberry.types.base import StrawberryObjectDefinition, StrawberryOptional
from strawberry.types.field import StrawberryField

from schema import enums as _enums  # noqa: F401  (registers the domain enums first)
from schema.errors import HubErrors, HubSchema
from schema.fastfields import HubExecutionContext
from schema.fastfields import install as install_fast_fields
from schema.hooks import HubExtensionsRunner
from schema.parts import (
    DepartmentPart,
    MatterPart,
    PartInput,
    PartLoadError,
    load_part,
    matter_fields,
    parts_of,
    with_parts,
)

__all__ = [
    "DepartmentPart",
    "MatterPart",
    "PartInput",
    "PartLoadError",
    "build_schema",
    "load_part",
    "parts_of",
]

DOMAIN_MODULES = ("schema.matter", "schema.ledger", "schema.catalogue", "schema.audit")

# Federation 2 subgraph. 2.9 is the newest version both Apollo Router and Hive
# Gateway's composition (@theguild/federation-composition) accept; we use only @key.
FEDERATION_VERSION = "2.9"


class _PartedSchema(HubSchema):
    """The hub's schema: ``Matter`` gets one field per department part.

    Strawberry asks ``get_fields`` for each type's fields while it builds the
    schema, so the parts are added to this schema only: the ``Matter`` class
    itself is shared by every schema of the process.
    """

    def __init__(self, *, parts: Sequence[DepartmentPart], **kwargs: Any) -> None:
        from schema.types import Matter, _ordered

        # In the order a matter lists its departments (the built-in five first).
        rank = {name: i for i, name in enumerate(_ordered(p.department for p in parts))}
        parts = sorted(parts, key=lambda p: rank[p.department])
        self._matter = Matter.__strawberry_definition__  # type: ignore[attr-defined]
        taken = [f.python_name for f in self._matter.fields]
        self._part_fields = matter_fields(parts, taken)
        for made in self._part_fields:
            made.origin = Matter
        kwargs.setdefault("execution_context_class", HubExecutionContext)
        super().__init__(**kwargs)
        install_fast_fields(self)  # plain fields without the per-field wrapper (schema/fastfields.py)

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        # Each extension class's hooks found once, not per request (schema/hooks.py).
        return HubExtensionsRunner(execution_context, extensions)

    def get_fields(self, type_definition: StrawberryObjectDefinition) -> list[StrawberryField]:
        fields = super().get_fields(type_definition)
        if type_definition is self._matter:
            return with_parts(fields, self._part_fields)
        if type_definition.name in ROOTS:
            return [_refusable(f) for f in fields]
        return fields


ROOTS = frozenset({"Query", "Mutation"})


def _refusable(field: StrawberryField) -> StrawberryField:
    """A root field a role rule or an argument check can refuse, made nullable.

    GraphQL nulls the nearest nullable parent of a failed non-null field: for a
    root field that is the whole ``data``, so one refused field would take its
    siblings down. Nullable, a refused or invalid root field is null with its
    error and everything else comes back. Fields nothing can refuse (no rule, no
    argument, e.g. ``approvalGuide``) and federation's own (``_entities``,
    ``_service``) stay as declared.
    """
    name = field.python_name or ""
    if name.startswith("_") or not (field.extensions or field.arguments):
        return field
    if isinstance(field.type, StrawberryOptional):
        return field
    made = copy.copy(field)
    made.type_annotation = StrawberryAnnotation(Optional[field.type])  # noqa: UP045 (a runtime type)
    return made


def build_schema(
    extensions: Sequence[Any] = (), *, parts: Sequence[DepartmentPart] | None = None, **kwargs: Any
) -> strawberry.federation.Schema:
    """The hub's schema.

    Args:
        extensions: schema extensions, after the hub's error reporting.
        parts: the departments' parts (``parts_of(connectors)``); by default those of every
            installed connector.
        kwargs: passed to ``strawberry.federation.Schema``.
    """
    if parts is None:
        from connectors.discovery import discover

        parts = parts_of(discover())
    queries: list[type] = []
    mutations: list[type] = []
    for name in DOMAIN_MODULES:
        module = importlib.import_module(name)
        queries.append(module.Query)
        if hasattr(module, "Mutation"):
            mutations.append(module.Mutation)
    query = merge_types("Query", tuple(queries))
    mutation = merge_types("Mutation", tuple(mutations)) if mutations else None
    # HubErrors first: every schema reports HubError extensions and masks the rest.
    kwargs.setdefault("federation_version", FEDERATION_VERSION)
    from schema.subscriptions import Subscription

    kwargs.setdefault("subscription", Subscription)
    return _PartedSchema(
        parts=parts, query=query, mutation=mutation, extensions=[HubErrors, *extensions], **kwargs
    )
