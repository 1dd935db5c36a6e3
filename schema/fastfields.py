"""Fields resolved without per-field machinery they do not need.

Strawberry gives every field the same wrapper: a field with a resolver gets an
``Info``, its arguments converted and its field extensions chained; a plain
attribute (no resolver, no extension) already skips those, but still goes
through three calls to reach ``getattr``; and graphql-core builds a
``GraphQLResolveInfo`` for every field whether its resolver reads it or not.
Most fields of a matter are plain attributes of a leaf type (a string, a date,
an enum). After the schema is built, :func:`install` gives the fields that
need nothing else a resolver that does only what Strawberry's would:

* :class:`PlainLeaf`: no resolver, no extension, a scalar or enum type (maybe
  non-null). :class:`HubExecutionContext` completes such a field in place:
  the attribute, the null check and the type's own serialisation, the same
  calls graphql-core makes, without building an info it would not read.
* :class:`PlainAttr`: no resolver, no extension, any other type: ``getattr``.
* :class:`DirectCall`: a synchronous resolver with no arguments that asks for
  neither ``info`` nor ``parent`` (``def name(self) -> str``): called with the
  object.

Every other field keeps Strawberry's resolver: permission classes, field
extensions (``requires(...)``, ``Guarded``, ``Masked``), arguments, async
resolvers, resolvers taking ``info``. Serialisation is the types' own in every
case (enums by Strawberry's enum type, dates and JSON by their scalars), so the
answers are the same. With a schema extension that wraps resolvers (tracing) the
executor takes graphql-core's path for every field; the resolvers still report
themselves default or not as Strawberry's do (``_is_default``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
)
from graphql.pyutils import Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

__all__ = ["DirectCall", "HubExecutionContext", "PlainAttr", "PlainLeaf", "install"]


class PlainAttr:
    """The resolver of a plain field: its object's attribute of the same Python name."""

    __slots__ = ("name",)
    _is_default = True  # as Strawberry marks its default resolvers (tracing skips them)

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, source: Any, info: Any, **kwargs: Any) -> Any:
        return getattr(source, self.name)


class PlainLeaf(PlainAttr):
    """A plain field of a scalar or enum type: :class:`HubExecutionContext` completes it in place.

    ``settled``: the value types that are never awaitable (checked by exact type, so
    graphql-core's awaitable check runs for anything else). For an enum, ``names``
    holds the name Strawberry's enum type gives each member, asked of that type once.
    """

    __slots__ = ("enum", "leaf", "names", "non_null", "settled")

    def __init__(self, name: str, leaf: GraphQLScalarType | GraphQLEnumType, non_null: bool) -> None:
        super().__init__(name)
        self.leaf = leaf
        self.non_null = non_null
        wrapped = getattr(leaf, "wrapped_cls", None) if isinstance(leaf, GraphQLEnumType) else None
        self.enum: type[Enum] | None = (
            wrapped if isinstance(wrapped, type) and issubclass(wrapped, Enum) else None
        )
        self.names: dict[Any, Any] = {}
        if self.enum is not None:
            try:
                self.names = {member: leaf.coerce_output_value(member) for member in self.enum}
            except Exception:  # then the type serialises each value, as it always can
                self.enum, self.names = None, {}
        self.settled = SETTLED | ({self.enum} if self.enum is not None else set())


# Value types that are never awaitable (exactly these types; subclasses are checked).
SETTLED: frozenset[type] = frozenset({str, int, float, bool, type(None), date, datetime, time, Decimal})


class DirectCall:
    """A resolver taking only its object (``self`` or ``root``), called directly."""

    __slots__ = ("func", "root")
    _is_default = False

    def __init__(self, func: Callable[..., Any], root: str | None) -> None:
        self.func = func
        self.root = root  # the name of a ``root`` parameter; None: the object is ``self``

    def __call__(self, source: Any, info: Any, **kwargs: Any) -> Any:
        if self.root is None:
            return self.func(source)
        return self.func(**{self.root: source})


def _plain_resolver(field: GraphQLField, definition: StrawberryField) -> PlainAttr | None:
    if definition.base_resolver is not None or definition.extensions or field.args:
        return None
    name = definition.python_name
    if not isinstance(name, str):
        return None
    wrapped = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    if isinstance(wrapped, GraphQLScalarType | GraphQLEnumType):
        return PlainLeaf(name, wrapped, isinstance(field.type, GraphQLNonNull))
    return PlainAttr(name)


def _direct_resolver(field: GraphQLField, definition: StrawberryField) -> DirectCall | None:
    resolver = definition.base_resolver
    if resolver is None or definition.extensions or field.args or definition.arguments:
        return None
    if definition.is_async or resolver.is_async or resolver.info_parameter or resolver.parent_parameter:
        return None
    if resolver.self_parameter and resolver.root_parameter:
        return None
    func = resolver.wrapped_func
    if not callable(func):
        return None
    if resolver.self_parameter:
        return DirectCall(func, None)
    if resolver.root_parameter:
        return DirectCall(func, resolver.root_parameter.name)
    return None  # takes nothing at all: rare, left as it is


def install(schema: Any) -> dict[str, int]:
    """Give the fields of ``schema`` (a Strawberry schema) that need nothing else a minimal resolver.

    Only when the schema resolves fields the default way: ``getattr`` as its default
    resolver and no exception handlers. Returns how many fields got each kind.
    """
    counts = {"leaf": 0, "attr": 0, "direct": 0}
    if schema.config.default_resolver is not getattr:
        return counts
    if getattr(schema.schema_converter, "_exception_handler_specs", None):
        return counts
    for named in schema._schema.type_map.values():
        if not isinstance(named, GraphQLObjectType) or named.name.startswith("__"):
            continue
        for field in named.fields.values():
            definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            # Only Strawberry's own field class: a subclass may resolve its own way.
            if type(definition) is not StrawberryField or definition.is_subscription:
                continue
            made: PlainAttr | DirectCall | None = _plain_resolver(field, definition)
            if made is None:
                made = _direct_resolver(field, definition)
            if made is None:
                continue
            field.resolve = made
            counts[
                "leaf" if isinstance(made, PlainLeaf) else "attr" if isinstance(made, PlainAttr) else "direct"
            ] += 1
    return counts


class HubExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor, completing :class:`PlainLeaf` fields without a resolve info."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        # An extension that wraps every resolver (tracing) sees every field: nothing in place.
        self.in_place = manager is None or not manager.middlewares

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        node = field_details_list[0].node
        field_def = parent_type.fields.get(node.name.value)
        plain = field_def.resolve if field_def is not None else None
        if type(plain) is not PlainLeaf or node.arguments or not self.in_place:
            return super().execute_field(parent_type, source, field_details_list, path, position_context)
        try:
            result = getattr(source, plain.name)
            kind = type(result)
            if kind not in plain.settled and self.is_awaitable(result):
                # Never for an attribute of a leaf type; if it were, as graphql-core would.
                return super().execute_field(parent_type, source, field_details_list, path, position_context)
            if isinstance(result, Exception):
                raise result
            if result is None or result is Undefined:
                if plain.non_null:
                    raise TypeError(
                        f"Cannot return null for non-nullable field {parent_type}.{node.name.value}."
                    )
                return None
            if kind is plain.enum:
                return plain.names[result]
            return self.complete_leaf_value(plain.leaf, result)
        except Exception as raw_error:
            self.handle_field_error(raw_error, field_def.type, field_details_list, path)
            return None
