"""How errors reach GraphQL clients.

A ``HubError`` raised by a resolver (or returned per key by a DataLoader) is
reported with its own message and ``extensions`` (``code``, and for a
department's failure ``department`` and ``retryable``). Anything else is a bug
or an unexpected library error: its message could carry a URL, a credential or
a payload, so it is masked, keeping only ``path`` and the code
``INTERNAL_SERVER_ERROR``. Parse and validation errors have no original error
and pass through untouched.
"""

from __future__ import annotations

import logging
from typing import Any

import strawberry
from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

from domain.errors import HubError

log = logging.getLogger("onematter.graphql")

INTERNAL_CODE = "INTERNAL_SERVER_ERROR"
MASKED_MESSAGE = "Unexpected error."


def hub_error(error: GraphQLError) -> HubError | None:
    """The ``HubError`` behind a GraphQL error, if there is one."""
    original = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    return original if isinstance(original, HubError) else None


def should_mask(error: GraphQLError) -> bool:
    original = error.original_error
    if original is None or hub_error(error) is not None:
        return False
    # A GraphQLError raised on purpose (e.g. by strawberry's own input checks) is for the caller.
    return not isinstance(original, GraphQLError)


class HubErrors(MaskErrors):
    """Report ``HubError``s with their extensions; mask everything else."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=should_mask, error_message=MASKED_MESSAGE)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return GraphQLError(
            message=self.error_message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions={"code": INTERNAL_CODE},
        )

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = super()._process_errors(errors)
        for error in processed:
            original = hub_error(error)
            if original is not None:
                error.extensions = {**(error.extensions or {}), **original.extensions()}
        return processed


class HubSchema(strawberry.federation.Schema):
    """The federation schema, logging errors by kind.

    A ``HubError`` is expected (bad input, a department's bad day, which the
    call pipeline already logs): one line, no traceback, so a department outage
    does not flood the log with one traceback per matter. Anything else is a
    bug and keeps strawberry's full log entry.
    """

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        unexpected = []
        for error in errors:
            original = hub_error(error)
            if original is None:
                unexpected.append(error)
            else:
                path = ".".join(str(p) for p in error.path or ())
                log.info("%s at %s: %s", original.code, path or "-", original)
        if unexpected:
            super().process_errors(unexpected, execution_context)
