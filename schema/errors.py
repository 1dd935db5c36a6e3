"""How errors reach GraphQL clients: one masking extension, ``HubErrors``.

A ``HubError`` raised by a resolver (or returned per key by a DataLoader) is
reported with its own message and ``extensions`` (``code``, and for a
department's failure ``department`` and ``retryable``); so is a
``GraphQLError`` raised on purpose, which carries ``extensions.code`` (a
refusal such as FORBIDDEN). Anything else is a bug or an unexpected library
error: its message could carry a URL, a credential or a payload, so it is
masked, keeping only ``path`` and the code ``INTERNAL_SERVER_ERROR``. Parse and
validation errors have no original error and pass through untouched. With
``scrub`` (``[limits] mask_errors``, on in production) every message shown is
also stripped of URLs and credential-looking words.

A ``HubSchema`` always runs exactly one ``HubErrors``, first in its extension
list so that its after-operation step runs last and sees every error.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable
from typing import Any

import strawberry
from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

from domain.errors import HubError

log = logging.getLogger("onematter.graphql")

INTERNAL_CODE = HubError.code
MASKED_MESSAGE = "Unexpected error."

_URL = re.compile(r"\b[a-z][a-z0-9+.\-]*://\S+", re.IGNORECASE)
_SECRETISH = re.compile(r"(?i)\b(bearer|token|secret|password|api[_-]?key)\b\s*[:=]?\s*\S+")


def _origin(error: GraphQLError) -> BaseException | None:
    """The innermost error behind a GraphQL error (through wrapping GraphQLErrors)."""
    original = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    return original


def hub_error(error: GraphQLError) -> HubError | None:
    """The ``HubError`` behind a GraphQL error, if there is one."""
    original = _origin(error)
    return original if isinstance(original, HubError) else None


def should_mask(error: GraphQLError) -> bool:
    """Mask what was not raised on purpose: anything but a HubError or a coded GraphQLError."""
    if error.original_error is None:
        return False  # parse / validation / the limits' refusals: about the document
    original = _origin(error)
    if isinstance(original, HubError):
        return False
    if isinstance(original, GraphQLError):
        return not (original.extensions or {}).get("code")
    return True


def scrub(message: str) -> str:
    """Drop URLs and credential-looking words from a message shown to callers."""
    return _SECRETISH.sub(r"\1 [redacted]", _URL.sub("[url]", message))


class HubErrors(MaskErrors):
    """Report ``HubError``s with their extensions; mask everything else.

    Args:
        scrub: also strip URLs and credential-looking words from every message.
    """

    def __init__(self, *, scrub: bool = False) -> None:
        super().__init__(should_mask_error=should_mask, error_message=MASKED_MESSAGE)
        self.scrub = scrub

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
            if self.scrub:
                error.message = scrub(error.message)
        return processed


def _is_masking(extension: Any) -> bool:
    target = extension.func if isinstance(extension, functools.partial) else extension
    return isinstance(extension, HubErrors) or (isinstance(target, type) and issubclass(target, HubErrors))


def with_one_masking(extensions: Iterable[Any]) -> list[Any]:
    """``extensions`` with exactly one ``HubErrors``, first: the last one given wins
    (``functools.partial(HubErrors, scrub=True)`` from the limits configuration
    over the default), else the default ``HubErrors``."""
    given = list(extensions)
    masking = [e for e in given if _is_masking(e)]
    return [masking[-1] if masking else HubErrors, *(e for e in given if not _is_masking(e))]


class HubSchema(strawberry.federation.Schema):
    """The federation schema with the one masking extension, logging errors by kind.

    A ``HubError`` is expected (bad input, a department's bad day, which the
    call pipeline already logs): one line, no traceback, so a department outage
    does not flood the log with one traceback per matter. Anything else is a
    bug and keeps strawberry's full log entry.
    """

    def __init__(self, *, extensions: Iterable[Any] = (), **kwargs: Any) -> None:
        super().__init__(extensions=with_one_masking(extensions), **kwargs)

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        unexpected = []
        for error in errors:
            original = hub_error(error)
            path = ".".join(str(p) for p in error.path or ())
            if original is not None:
                log.info("%s at %s: %s", original.code, path or "-", original)
            elif _clients_fault(error):
                # A document that does not parse or validate, a limit, a permission
                # refusal: the caller's mistake, one line and no traceback.
                code = (error.extensions or {}).get("code") or _code_of(error) or "GRAPHQL_VALIDATION_FAILED"
                log.info("%s at %s: %s", code, path or "-", error.message)
            else:
                unexpected.append(error)
        if unexpected:
            super().process_errors(unexpected, execution_context)


def _clients_fault(error: GraphQLError) -> bool:
    """Parse and validation errors, the limits' refusals, and coded GraphQL errors (FORBIDDEN)."""
    if error.original_error is None:
        return True
    original = _origin(error)
    return isinstance(original, GraphQLError) and bool((original.extensions or {}).get("code"))


def _code_of(error: GraphQLError) -> str | None:
    original = _origin(error)
    code = (original.extensions or {}).get("code") if isinstance(original, GraphQLError) else None
    return str(code) if code else None
