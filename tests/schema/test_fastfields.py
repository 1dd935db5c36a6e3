"""Plain fields answer exactly as through Strawberry's own resolvers (schema/fastfields.py).

The same types and documents run on a plain Strawberry schema and on one with
the minimal resolvers installed and the hub's executor; data and errors must
be the same, values of every kind (strings, enums, dates, JSON, lists), nulls
where a non-null was promised, failing attributes, fields with resolvers,
permissions, extensions and arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum, StrEnum
from typing import Any

import pytest
import strawberry
from graphql import GraphQLObjectType
from strawberry.extensions import FieldExtension, SchemaExtension
from strawberry.permission import BasePermission
from strawberry.scalars import JSON
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types import Info

from schema.fastfields import DirectCall, HubExecutionContext, PlainAttr, PlainLeaf, install


@strawberry.enum
class Colour(StrEnum):
    RED = "red"
    DARK_RED = "dark-red"


@strawberry.enum
class Size(Enum):
    SMALL = 1
    LARGE = 2


class Never(BasePermission):
    message = "never"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return False


class Shout(FieldExtension):
    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        return str(next_(source, info, **kwargs)).upper()


@strawberry.type
class Leaf:
    code: str


@strawberry.type
class Thing:
    name: str
    missing: str  # set to None: a non-null field that gets null
    maybe: str | None
    colour: Colour
    size: Size
    on: date
    at: datetime
    extra: JSON
    tags: list[str]
    leaf: Leaf
    leaves: list[Leaf]
    maybe_leaf: Leaf | None
    shouted: str = strawberry.field(extensions=[Shout()])
    guarded: str | None = strawberry.field(permission_classes=[Never], default="secret")

    @strawberry.field
    def upper(self) -> str:
        return self.name.upper()

    @strawberry.field
    def fails(self) -> str | None:
        raise ValueError("the resolver failed")

    @strawberry.field
    def from_root(root: Thing) -> str:
        return f"root {root.name}"

    @strawberry.field
    def with_info(self, info: Info) -> str:
        return info.field_name

    @strawberry.field
    def with_argument(self, times: int = 2) -> str:
        return self.name * times

    @strawberry.field
    async def later(self) -> str:
        return "later"


class Broken:
    """An object whose attribute fails: the error is the field's, as with any resolver."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise RuntimeError(f"no {name} here")


def thing(name: str = "a", **changes: Any) -> Thing:
    values: dict[str, Any] = {
        "name": name,
        "missing": None,
        "maybe": None,
        "colour": Colour.DARK_RED,
        "size": Size.LARGE,
        "on": date(2026, 3, 4),
        "at": datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC),
        "extra": {"k": [1, "two", None]},
        "tags": ["x", "y"],
        "leaf": Leaf(code="L1"),
        "leaves": [Leaf(code="L2"), Leaf(code="L3")],
        "maybe_leaf": None,
        "shouted": "quiet",
    }
    values.update(changes)
    return Thing(**values)


@strawberry.type
class Query:
    @strawberry.field
    def things(self) -> list[Thing]:
        return [thing("a"), thing("b", maybe="here", colour=Colour.RED, size=Size.SMALL)]

    @strawberry.field
    def broken(self) -> Thing | None:
        return Broken()  # type: ignore[return-value]

    @strawberry.field
    def wrong_enum(self) -> Thing:
        return thing("c", colour="not a colour")

    @strawberry.field
    def raw_enum(self) -> Thing:
        return thing("d", colour="dark-red", size=1)  # the members' values, not the members


def schemas(*extensions: Any) -> tuple[strawberry.Schema, strawberry.Schema]:
    plain = strawberry.Schema(query=Query, extensions=list(extensions))
    fast = strawberry.Schema(
        query=Query, extensions=list(extensions), execution_context_class=HubExecutionContext
    )
    install(fast)
    return plain, fast


EVERYTHING = """{ things {
  name maybe colour size on at extra tags leaf { code } leaves { code } maybeLeaf { code }
  shouted guarded upper fails fromRoot withInfo withArgument(times: 3) later __typename
} }"""

DOCUMENTS = [
    EVERYTHING,
    "{ things { name missing } }",  # a non-null field that gets null nulls its object: the list
    "{ things { name } broken { name maybe colour } }",
    "{ broken { maybe colour on } }",  # each nullable field null with its own error
    "{ wrongEnum { name colour } }",
    "{ rawEnum { colour size } }",
    "{ things { n: name, n2: name, colour } }",
]


def _answer(result: Any) -> tuple[Any, list[dict[str, Any]]]:
    errors = [e.formatted for e in result.errors or ()]
    return result.data, sorted(errors, key=str)


@pytest.mark.parametrize("document", DOCUMENTS)
async def test_the_answer_is_strawberrys(document: str) -> None:
    plain, fast = schemas()
    assert _answer(await fast.execute(document)) == _answer(await plain.execute(document))


def test_the_answer_is_strawberrys_in_a_sync_run() -> None:
    plain, fast = schemas()
    document = "{ things { name maybe colour size on at extra tags leaf { code } upper fromRoot } }"
    assert _answer(fast.execute_sync(document)) == _answer(plain.execute_sync(document))


async def test_values_are_serialised_by_their_types() -> None:
    _, fast = schemas()
    result = await fast.execute("{ things { colour size on at extra } }")
    assert result.data is not None
    assert result.data["things"][0] == {
        "colour": "DARK_RED",
        "size": "LARGE",
        "on": "2026-03-04",
        "at": "2026-03-04T05:06:07+00:00",
        "extra": {"k": [1, "two", None]},
    }


def _resolvers(schema: strawberry.Schema, type_name: str) -> dict[str, Any]:
    named = schema._schema.type_map[type_name]
    assert isinstance(named, GraphQLObjectType)
    return {name: field.resolve for name, field in named.fields.items()}


def test_only_fields_that_need_nothing_else_change() -> None:
    _, fast = schemas()
    resolvers = _resolvers(fast, "Thing")
    leaves = {"name", "missing", "maybe", "colour", "size", "on", "at", "extra"}
    assert {n for n, r in resolvers.items() if isinstance(r, PlainLeaf)} == leaves
    assert {n for n, r in resolvers.items() if type(r) is PlainAttr} == {
        "tags",
        "leaf",
        "leaves",
        "maybeLeaf",
    }
    assert {n for n, r in resolvers.items() if isinstance(r, DirectCall)} == {"upper", "fails", "fromRoot"}
    kept = {"shouted", "guarded", "withInfo", "withArgument", "later"}
    assert {n for n, r in resolvers.items() if not isinstance(r, PlainAttr | DirectCall)} == kept
    # As Strawberry marks them: tracing skips default resolvers only.
    assert all(getattr(r, "_is_default", False) for n, r in resolvers.items() if n in leaves)
    assert not any(getattr(r, "_is_default", False) for r in resolvers.values() if isinstance(r, DirectCall))


class Doubles(SchemaExtension):
    """Wraps every resolver (as tracing does): plain fields must go through it too."""

    def resolve(self, _next: Callable[..., Any], root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        result = _next(root, info, *args, **kwargs)
        return result * 2 if type(result) is str else result


async def test_an_extension_that_wraps_resolvers_sees_every_field() -> None:
    plain, fast = schemas(Doubles)
    document = "{ things { name maybe colour upper } }"
    answer = _answer(await fast.execute(document))
    assert answer == _answer(await plain.execute(document))
    assert answer[0]["things"][0]["name"] == "aa"


def test_the_hub_schema_gets_them_and_keeps_its_guards() -> None:
    from schema import build_schema

    schema = build_schema()
    types = schema._schema.type_map

    def graphql_field(type_name: str, field: str) -> Any:
        named = types[type_name]
        assert isinstance(named, GraphQLObjectType)
        return named.fields[field]

    def resolver(type_name: str, field: str) -> Any:
        return graphql_field(type_name, field).resolve

    assert isinstance(resolver("ApprovalItem", "status"), PlainLeaf)  # an enum
    assert isinstance(resolver("ApprovalItem", "submittedOn"), PlainLeaf)  # a date
    assert isinstance(resolver("Matter", "name"), DirectCall)
    # Masked personal data, guarded matters, role rules and info-taking labels keep Strawberry's.
    for type_name, field in (
        ("Contact", "phone"),
        ("Query", "matter"),
        ("ApprovalItem", "departmentLabel"),
    ):
        kept = resolver(type_name, field)
        assert not isinstance(kept, PlainAttr | DirectCall), (type_name, field)
        definition = graphql_field(type_name, field).extensions[GraphQLCoreConverter.DEFINITION_BACKREF]
        assert definition.extensions or definition.base_resolver is not None


@dataclass
class _Counted:
    calls: int = 0


def test_a_schema_with_its_own_default_resolver_is_left_alone() -> None:
    seen = _Counted()

    def resolver(obj: Any, name: str) -> Any:
        seen.calls += 1
        return getattr(obj, name)

    schema = strawberry.Schema(
        query=Query,
        config=strawberry.schema.config.StrawberryConfig(default_resolver=resolver),
        execution_context_class=HubExecutionContext,
    )
    assert install(schema) == {"leaf": 0, "attr": 0, "direct": 0}
    schema.execute_sync("{ things { name } }")
    assert seen.calls == 2
