"""The GraphQL side of the hard limits: Strawberry extensions and validation rules.

Built by ``gateway.security.extensions`` from ``[limits]``: trusted documents, a
document guard that runs before validation (fragment bombs, repeated fields),
token, depth and alias limits, introspection off in production, root access for
anonymous callers, and a cost estimate in which lists multiply by their page
size. Every refusal is a GraphQL error with ``extensions.code``; none is a 500.
Error masking (and scrubbing in production) is schema/errors.py's ``HubErrors``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from graphql import (
    ArgumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_operation_ast,
)
from graphql import (
    ExecutionResult as GraphQLExecutionResult,
)
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.types.graphql import OperationType

from domain.errors import ConfigError
from domain.principal import ANONYMOUS, Principal
from schema.context import HubContext
from schema.documents import DOCUMENTS, DocumentMemo


def principal_of(context: HubContext | None) -> Principal:
    """The caller in a GraphQL context (``ANONYMOUS`` for a schema run with no context)."""
    return context.principal if context is not None else ANONYMOUS


def _refuse(execution_context: Any, message: str, code: str, **extra: object) -> None:
    """Stop before execution with one error (strawberry skips execution when a result is set).

    A subscription is started whatever the result says, so it is refused by raising:
    the stream then answers with this error and ends.
    """
    error = GraphQLError(message, extensions={"code": code, **extra})
    if execution_context.operation_type is OperationType.SUBSCRIPTION:
        raise error
    execution_context.result = GraphQLExecutionResult(data=None, errors=[error])


class CostEstimate:
    """An upper bound of the work a document asks for.

    Every field costs 1; the cost of a field's selection is multiplied by how
    many objects it may return: the ``first``/``last`` argument for a paged
    field (else its declared default, else ``default_page_size``), or for a plain
    list ``list_sizes['Type.field']`` (else ``default_list_size``). A list right
    under a paged field (``edges``, ``nodes``) is covered by that field's page.
    Introspection counts 1 per root field: it is cheap and limited elsewhere.
    """

    def __init__(self, *, default_page_size: int, default_list_size: int, list_sizes: Mapping[str, int]):
        self.default_page_size = default_page_size
        self.default_list_size = default_list_size
        self.list_sizes = dict(list_sizes)
        # Costs of documents whose page sizes are all literal (or defaults), per schema and operation.
        self._memo = DocumentMemo()

    def of(
        self,
        schema: GraphQLSchema,
        document: Any,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
    ) -> int:
        """The document's cost; kept per document when no page size comes from a variable."""
        known = self._memo.get(
            document,
            (schema, operation_name),
            lambda: self._walk(schema, document, operation_name, None),
        )
        if known is not None:
            return known
        cost = self._walk(schema, document, operation_name, variables or {})
        assert cost is not None
        return cost

    def _walk(
        self,
        schema: GraphQLSchema,
        document: Any,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
    ) -> int | None:
        """The cost; None if ``variables`` is None and the cost depends on them."""
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            return 0
        root = schema.get_root_type(operation.operation)
        if root is None:
            return 0
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        walk = _CostWalk(self, schema, fragments, variables, operation)
        cost = walk.selection(operation.selection_set, root, paged=False, visiting=frozenset())
        return None if walk.wanted_variables else cost


class _CostWalk:
    def __init__(
        self,
        estimate: CostEstimate,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: Mapping[str, Any] | None,
        operation: OperationDefinitionNode,
    ) -> None:
        self.estimate = estimate
        self.schema = schema
        self.fragments = fragments
        self.variables = variables  # None: not known yet (the walk notes that it wanted them)
        self.wanted_variables = False
        self.defaults = {v.variable.name.value: v.default_value for v in operation.variable_definitions or ()}

    def selection(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLNamedType,
        *,
        paged: bool,
        visiting: frozenset[str],
    ) -> int:
        total = 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                total += self.field(node, parent, paged=paged, visiting=visiting)
            elif isinstance(node, InlineFragmentNode):
                target = (
                    self.schema.get_type(node.type_condition.name.value) if node.type_condition else parent
                )
                if target is not None:
                    total += self.selection(node.selection_set, target, paged=paged, visiting=visiting)
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in visiting:
                    continue  # unknown or circular: validation refuses these anyway
                target = self.schema.get_type(fragment.type_condition.name.value)
                if target is not None:
                    total += self.selection(
                        fragment.selection_set, target, paged=paged, visiting=visiting | {name}
                    )
        return total

    def field(
        self, node: FieldNode, parent: GraphQLNamedType, *, paged: bool, visiting: frozenset[str]
    ) -> int:
        name = node.name.value
        if name.startswith("__") or not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return 1
        definition = parent.fields.get(name)
        if definition is None:
            return 1
        named = get_named_type(definition.type)
        if node.selection_set is None or not isinstance(
            named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType
        ):
            return 1
        field_type = (
            definition.type.of_type if isinstance(definition.type, GraphQLNonNull) else definition.type
        )
        size = self.page_size(node, definition)
        if size is not None:
            # A paged field returning a connection object: its edges/nodes list is the page.
            covered = not isinstance(field_type, GraphQLList)
            inner = self.selection(node.selection_set, named, paged=covered, visiting=visiting)
            return 1 + size * inner
        if isinstance(field_type, GraphQLList):
            # A list right under a paged field (edges, nodes) is that page.
            key = f"{parent.name}.{name}"
            multiplier = 1 if paged else self.estimate.list_sizes.get(key, self.estimate.default_list_size)
            inner = self.selection(node.selection_set, named, paged=False, visiting=visiting)
        else:
            multiplier = 1
            inner = self.selection(node.selection_set, named, paged=paged, visiting=visiting)
        return 1 + multiplier * inner

    def page_size(self, node: FieldNode, definition: Any) -> int | None:
        declared = next((a for a in ("first", "last") if a in definition.args), None)
        if declared is None:
            return None
        for argument in node.arguments or ():
            if argument.name.value not in ("first", "last"):
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return max(0, int(value.value))
            if isinstance(value, VariableNode):
                if self.variables is None:
                    self.wanted_variables = True
                    continue
                raw = self.variables.get(value.name.value)
                if raw is None and isinstance(self.defaults.get(value.name.value), IntValueNode):
                    raw = int(self.defaults[value.name.value].value)  # type: ignore[union-attr]
                if isinstance(raw, int) and not isinstance(raw, bool):
                    return max(0, raw)
        default = definition.args[declared].default_value
        if isinstance(default, int) and not isinstance(default, bool):
            return default
        return self.estimate.default_page_size


def root_fields(document: Any, operation_name: str | None) -> set[str]:
    """Names of the root fields an operation selects (through fragments)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return set()
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    names: set[str] = set()

    def visit(selection_set: SelectionSetNode, seen: frozenset[str]) -> None:
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                names.add(node.name.value)
            elif isinstance(node, InlineFragmentNode):
                visit(node.selection_set, seen)
            elif isinstance(node, FragmentSpreadNode) and node.name.value not in seen:
                fragment = fragments.get(node.name.value)
                if fragment is not None:
                    visit(fragment.selection_set, seen | {node.name.value})

    visit(operation.selection_set, frozenset())
    return names


def _operation(document: Any, operation_name: str | None) -> OperationDefinitionNode | None:
    """``get_operation_ast``, once per document and operation name."""
    return DOCUMENTS.get(
        document, ("operation", operation_name), lambda: get_operation_ast(document, operation_name)
    )


def _root_fields(document: Any, operation_name: str | None) -> frozenset[str]:
    """:func:`root_fields`, once per document and operation name."""
    return DOCUMENTS.get(
        document, ("root fields", operation_name), lambda: frozenset(root_fields(document, operation_name))
    )


class _TooBig(Exception):
    pass


class _Repeated(Exception):
    def __init__(self, key: str, count: int) -> None:
        super().__init__(key)
        self.key = key
        self.count = count


def expanded_fields(document: Any, limit: int, max_repeats: int = 10**9) -> int:
    """How many fields the document's operations select once fragments are expanded.

    Memoised per fragment, so a fragment bomb (each fragment spreading the one
    before twice) costs linear time here; stops counting past ``limit``. Raises
    ``ValueError`` on a fragment cycle and :class:`_Repeated` when one selection
    set (fragments merged in) asks for the same response key more than
    ``max_repeats`` times: graphql-core's overlapping-fields check is quadratic in that.
    """
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    memo: dict[str, tuple[int, Counter[str]]] = {}
    active: set[str] = set()

    def of_set(selection_set: SelectionSetNode) -> tuple[int, Counter[str]]:
        total = 0
        keys: Counter[str] = Counter()
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                total += 1 + (of_set(node.selection_set)[0] if node.selection_set else 0)
                keys[(node.alias or node.name).value] += 1
            elif isinstance(node, InlineFragmentNode):
                size, inner = of_set(node.selection_set)
                total += size
                keys.update(inner)
            elif isinstance(node, FragmentSpreadNode):
                size, inner = of_fragment(node.name.value)
                total += size
                keys.update(inner)
            if total > limit:
                raise _TooBig
        if keys:
            key, count = keys.most_common(1)[0]
            if count > max_repeats:
                raise _Repeated(key, count)
        return total, keys

    def of_fragment(name: str) -> tuple[int, Counter[str]]:
        if name in memo:
            return memo[name]
        if name in active:
            raise ValueError(name)
        fragment = fragments.get(name)
        if fragment is None:
            return 0, Counter()  # validation reports unknown fragments
        active.add(name)
        memo[name] = of_set(fragment.selection_set)
        active.discard(name)
        return memo[name]

    total = 0
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            total += of_set(definition.selection_set)[0]
            if total > limit:
                raise _TooBig
    return total


_TOO_MANY_TOKENS = re.compile(r"Document contains more than \d+ tokens\.")


class TokenLimit(MaxTokensLimiter):
    """Strawberry's parser token limit, refused like the hub's other size limits.

    graphql-core stops parsing at ``max_token_count`` with a syntax error that has
    no code; this gives it ``QUERY_TOO_COMPLEX`` and the ``limit``, as the field and
    repeat limits (``DocumentGuard``) have.
    """

    def on_parse(self) -> Iterator[None]:
        yield
        for error in self.execution_context.pre_execution_errors or ():
            if isinstance(error, GraphQLSyntaxError) and _TOO_MANY_TOKENS.match(error.description):
                error.extensions = {
                    **(error.extensions or {}),
                    "code": "QUERY_TOO_COMPLEX",
                    "limit": self.max_token_count,
                }


class DocumentGuard(SchemaExtension):
    """Before validation: refuse documents too big once fragments expand, and fragment cycles.

    Strawberry's depth and alias validators walk fragments without memoising;
    a small fragment bomb would keep them busy for seconds. This check is linear.
    """

    def __init__(self, *, max_fields: int, max_repeats: int) -> None:
        self.max_fields = max_fields
        self.max_repeats = max_repeats

    def on_validate(self) -> Iterator[None]:
        document = self.execution_context.graphql_document
        if document is not None:
            problem = DOCUMENTS.get(
                document, ("expanded", self.max_fields, self.max_repeats), lambda: self._problem(document)
            )
            if problem is not None:
                message, extensions = problem
                raise GraphQLError(message, extensions=dict(extensions))
        yield

    def _problem(self, document: Any) -> tuple[str, tuple[tuple[str, object], ...]] | None:
        """Why the document is refused (message and extensions), or None: the same for every request."""
        try:
            expanded_fields(document, self.max_fields, self.max_repeats)
        except _Repeated as exc:
            return (
                f"{exc.key[:64]!r} is selected {exc.count} times in one selection set "
                f"(at most {self.max_repeats}); use fewer repeats",
                (("code", "QUERY_TOO_COMPLEX"), ("limit", self.max_repeats)),
            )
        except _TooBig:
            return (
                f"the document selects more than {self.max_fields} fields with its fragments expanded",
                (("code", "QUERY_TOO_COMPLEX"), ("limit", self.max_fields)),
            )
        except ValueError as exc:
            return (
                f"fragment {str(exc)[:64]!r} spreads itself (a fragment cycle)",
                (("code", "GRAPHQL_VALIDATION_FAILED"),),
            )
        except RecursionError:
            return "the document is nested too deeply", (("code", "QUERY_TOO_COMPLEX"),)
        return None


class OperationGuard(SchemaExtension):
    """Before execution: anonymous callers reach only public root fields; the cost is bounded."""

    def __init__(
        self,
        *,
        public: frozenset[str],
        estimate: CostEstimate,
        max_cost: int,
        service_roles: frozenset[str] | None = None,
    ) -> None:
        """``service_roles``: the roles that may read ``_service`` (the SDL); None: any caller
        allowed to run root fields."""
        self.public = public
        self.estimate = estimate
        self.max_cost = max_cost
        self.service_roles = service_roles

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.result is None:
            if _operation(document, context.operation_name) is None:
                _refuse(context, "name the operation to run (operationName)", "GRAPHQL_VALIDATION_FAILED")
                yield
                return
            principal = principal_of(context.context)
            if not principal.authenticated:
                closed = sorted(
                    n
                    for n in _root_fields(document, context.operation_name)
                    if n not in self.public and n != "__typename" and not n.startswith("__")
                )
                if closed:
                    _refuse(
                        context,
                        f"sign in first: {', '.join(closed[:5])} needs an authenticated caller",
                        "FORBIDDEN",
                        fields=closed[:20],
                    )
            if (
                context.result is None
                and self.service_roles is not None
                and "_service" in _root_fields(document, context.operation_name)
                and str(principal.role) not in self.service_roles
            ):
                _refuse(
                    context,
                    "the federation SDL (_service) is for the router's and integrators' roles",
                    "FORBIDDEN",
                    fields=["_service"],
                )
            if context.result is None:
                cost = self.estimate.of(
                    context.schema._schema, document, context.operation_name, context.variables
                )
                if cost > self.max_cost:
                    _refuse(
                        context,
                        f"the query's estimated cost {cost} exceeds the limit {self.max_cost}; "
                        "ask for smaller pages (first) or fewer fields",
                        "QUERY_TOO_COSTLY",
                        cost=cost,
                        limit=self.max_cost,
                    )
        yield


class ListGuard(SchemaExtension):
    """Before execution: no list argument longer than its cap, and well-formed ``_entities``.

    A list argument (literal or variable, at any depth of an input object) may hold
    at most ``max_items`` entries; ``_entities(representations:)`` at most
    ``max_entities``. Each representation must be an object whose ``__typename``
    names an entity type of this schema, exactly (``matter`` is not ``Matter``).
    All of it is decided from the document and its variables, so a refused request
    makes no department call.
    """

    def __init__(self, *, max_items: int, max_entities: int) -> None:
        self.max_items = max_items
        self.max_entities = max_entities

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.result is None:
            operation = _operation(document, context.operation_name)
            if operation is not None:
                problem = self._problem(context, document, operation)
                if problem is not None:
                    _refuse(context, problem[0], "BAD_USER_INPUT", **problem[1])
        yield

    def _problem(
        self, context: Any, document: Any, operation: OperationDefinitionNode
    ) -> tuple[str, dict[str, object]] | None:
        variables = context.variables or {}
        for field_name, argument in _arguments(document, context.operation_name, operation):
            value = _argument_value(argument.value, variables)
            name = f"{field_name}({argument.name.value}:)"
            if field_name == "_entities" and argument.name.value == "representations":
                problem = self._representations(context, value)
                if problem is not None:
                    return problem
                continue
            longest = _longest_list(value)
            if longest > self.max_items:
                return (
                    f"{name} holds {longest} items; at most {self.max_items} per request",
                    {"argument": argument.name.value, "limit": self.max_items},
                )
        return None

    def _representations(self, context: Any, value: Any) -> tuple[str, dict[str, object]] | None:
        if not isinstance(value, list):
            return None  # GraphQL's own coercion reports it
        if len(value) > self.max_entities:
            return (
                f"_entities(representations:) holds {len(value)} representations; "
                f"at most {self.max_entities} per request",
                {"argument": "representations", "limit": self.max_entities},
            )
        entity_union = context.schema._schema.get_type("_Entity")
        entities = {t.name for t in getattr(entity_union, "types", ())}
        for index, representation in enumerate(value):
            typename = representation.get("__typename") if isinstance(representation, dict) else None
            if not isinstance(typename, str):
                return (
                    f"representation {index} must be an object with a __typename",
                    {"argument": "representations", "index": index},
                )
            if typename not in entities:
                return (
                    f"representation {index}: {typename[:64]!r} is not an entity type of this schema "
                    f"(entity types: {', '.join(sorted(entities))})",
                    {"argument": "representations", "index": index},
                )
        return None


def _arguments(
    document: Any, operation_name: str | None, operation: OperationDefinitionNode
) -> tuple[tuple[str, ArgumentNode], ...]:
    """Every argument the operation passes, with its field's name, in document order (kept per document)."""

    def find() -> tuple[tuple[str, ArgumentNode], ...]:
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        return tuple(
            (node.name.value, argument)
            for node in _fields(operation.selection_set, fragments, set())
            for argument in node.arguments or ()
        )

    return DOCUMENTS.get(document, ("arguments", operation_name), find)


def _fields(
    selection_set: SelectionSetNode | None, fragments: Mapping[str, FragmentDefinitionNode], seen: set[str]
) -> Iterator[FieldNode]:
    """Every field of a selection set, fragments expanded once each."""
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            yield selection
            yield from _fields(selection.selection_set, fragments, seen)
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
            seen.add(selection.name.value)
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                yield from _fields(fragment.selection_set, fragments, seen)


def _argument_value(node: Any, variables: Mapping[str, Any]) -> Any:
    """An argument's value as plain Python: variables substituted, lists and objects built."""
    if isinstance(node, VariableNode):
        return variables.get(node.name.value)
    if isinstance(node, ListValueNode):
        return [_argument_value(v, variables) for v in node.values]
    if isinstance(node, ObjectValueNode):
        return {f.name.value: _argument_value(f.value, variables) for f in node.fields}
    return getattr(node, "value", None)


def _longest_list(value: Any) -> int:
    if isinstance(value, list):
        return max([len(value), *(_longest_list(v) for v in value)])
    if isinstance(value, dict):
        return max([0, *(_longest_list(v) for v in value.values())])
    return 0


# -- trusted documents (persisted queries) --------------------------------------------

_HASH = re.compile(r"[0-9a-f]{64}")


def load_trusted_documents(path: Path) -> dict[str, str]:
    """sha256 hex -> document, from ``{hash: document}`` or an Apollo persisted-query manifest."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read [limits] trusted_documents: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"[limits] trusted_documents is not JSON: {exc}") from exc
    if isinstance(raw, dict) and isinstance(raw.get("operations"), list):
        pairs = [(op.get("id"), op.get("body")) for op in raw["operations"] if isinstance(op, dict)]
    elif isinstance(raw, dict):
        pairs = list(raw.items())
    else:
        raise ConfigError("[limits] trusted_documents must be a JSON object")
    documents: dict[str, str] = {}
    for key, body in pairs:
        if not isinstance(key, str) or not isinstance(body, str) or not _HASH.fullmatch(key):
            raise ConfigError("[limits] trusted_documents: every entry maps a sha256 hex hash to a document")
        if hashlib.sha256(body.encode()).hexdigest() != key:
            raise ConfigError(f"[limits] trusted_documents: {key[:12]}… is not the sha256 of its document")
        documents[key] = body
    return documents


class TrustedDocuments(SchemaExtension):
    """Only registered documents execute; a request may send just the hash.

    Speaks Apollo's automatic-persisted-query wire format
    (``extensions.persistedQuery.sha256Hash``) but never registers new documents.
    """

    def __init__(self, documents: Mapping[str, str], *, exempt: Callable[[Any], bool] | None = None) -> None:
        """``exempt(context)``: True for a request that may run any document (the router's
        own subgraph queries, which it derives from documents it has checked itself)."""
        self.documents = documents
        self.exempt = exempt

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        if self.exempt is not None and self.exempt(context.context):
            yield
            return
        persisted = (context.operation_extensions or {}).get("persistedQuery")
        wanted = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        if wanted is not None and not (isinstance(wanted, str) and _HASH.fullmatch(wanted)):
            raise GraphQLError(
                "persistedQuery.sha256Hash must be 64 lower-case hex digits",
                extensions={"code": "PERSISTED_QUERY_INVALID"},
            )
        if context.query is None:
            if wanted is None:
                raise GraphQLError(
                    "send a registered document's sha256Hash (trusted documents mode)",
                    extensions={"code": "PERSISTED_QUERY_NOT_FOUND"},
                )
            if wanted not in self.documents:
                raise GraphQLError(
                    "no registered document has this hash", extensions={"code": "PERSISTED_QUERY_NOT_FOUND"}
                )
            context.query = self.documents[wanted]
        else:
            actual = hashlib.sha256(context.query.encode()).hexdigest()
            if wanted is not None and wanted != actual:
                raise GraphQLError(
                    "persistedQuery.sha256Hash does not match the document",
                    extensions={"code": "PERSISTED_QUERY_HASH_MISMATCH"},
                )
            if actual not in self.documents:
                raise GraphQLError(
                    "only registered documents may run here (trusted documents mode)",
                    extensions={"code": "PERSISTED_QUERY_NOT_ALLOWED"},
                )
        yield


class NoSuggestions(SchemaExtension):
    """Drop graphql-core's "Did you mean …?" from messages (production: no schema hints).

    With introspection off, suggestions would still spell out field, type and
    argument names one typo at a time.
    """

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        for error in getattr(result, "errors", None) or ():
            error.message = without_suggestions(error.message)


_SUGGESTION = re.compile(r"\s*Did you mean .*?\?\s*$", re.DOTALL)


def without_suggestions(message: str) -> str:
    return _SUGGESTION.sub("", message)


class ValidationRules(SchemaExtension):
    """Depth and alias rules built once per app, not per request."""

    def __init__(self, rules: tuple[Any, ...]) -> None:
        self.rules = rules

    def on_operation(self) -> Iterator[None]:
        self.execution_context.validation_rules = self.execution_context.validation_rules + self.rules
        yield


def validation_rules(*, max_depth: int, max_aliases: int, introspection: bool) -> tuple[Any, ...]:
    """Depth and alias limits, and introspection off when it is not allowed."""
    rules: list[Any] = []
    rules += QueryDepthLimiter(max_depth=max_depth).validation_rules
    rules += MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules
    if not introspection:
        rules += DisableIntrospection().validation_rules
    return tuple(rules)
