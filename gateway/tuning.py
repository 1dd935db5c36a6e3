"""Process tuning: work the hub does once instead of per request (parsing, validation, garbage collection).

Portals send the same few documents over and over, so the parsed document
(keyed by its text, in a bounded LRU cache shared by every request of the
process) and the validation result (kept with that parsed document and the
rules, per app: ``schema.documents.DocumentMemo``) are worked out once.
Bounded, because query texts come from callers: a flood of unique texts only
churns the caches. Strawberry's own ``ValidationCache`` keys its cache by the
document's content, which graphql-core hashes node by node on every request;
the parsed document's identity is enough, since the parser cache hands the
same text the same document. These extensions must come after the security
extensions, so that the linear fragment-bomb check runs before a first
validation (schema/limits.py ``DocumentGuard``).
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterator

from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.schema.schema import validate_document

from schema.documents import DocumentMemo

CACHED_DOCUMENTS = 256


def document_caches() -> list[Callable[[], SchemaExtension]]:
    """The parser cache and this app's validation memo."""
    return [
        functools.partial(ParserCache, maxsize=CACHED_DOCUMENTS),
        functools.partial(ValidatedDocuments, DocumentMemo(CACHED_DOCUMENTS)),
    ]


class ValidatedDocuments(SchemaExtension):
    """Validate a parsed document once per set of rules; later requests reuse the errors (or none)."""

    def __init__(self, memo: DocumentMemo) -> None:
        self.memo = memo

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document, rules = context.graphql_document, context.validation_rules
        if document is not None:
            context.pre_execution_errors = self.memo.get(
                document,
                ("validated", rules),
                lambda: validate_document(context.schema._schema, document, rules),
            )
        yield


# Collect the young generation every 10,000 net allocations instead of 700: most of a
# request's objects die by reference counting before a collection would see them, so
# fewer, larger collections do less work (measured: 1.3 -> about 0.5 ms of collector
# time per cold matter; docs/performance.md).
GC_THRESHOLDS = (10_000, 20, 20)


def settle_gc() -> None:
    """After startup: move what the process built so far out of the collector's way.

    ``gc.freeze()`` puts the schema, the connectors and the imported modules in a
    permanent generation that full collections no longer walk (a full collection
    otherwise paused a worker for 100-150 ms); the thresholds make young
    collections rarer. Only for a serving process: tests build many apps in one
    process and must not freeze them.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
