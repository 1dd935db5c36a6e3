"""Per-request work the hub does once instead: parsing and validating known documents.

Portals send the same few documents over and over, so the parsed document
(keyed by its text) and the validation result (keyed by the parsed document
and the rules) are kept in bounded LRU caches shared by every request of the
process. Bounded, because query texts come from callers: a flood of unique
texts only churns the caches. These extensions must come after the security
extensions, so that the linear fragment-bomb check runs before a first
validation (gateway/security.py ``DocumentGuard``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache

CACHED_DOCUMENTS = 256


def document_caches() -> list[Callable[[], SchemaExtension]]:
    return [
        functools.partial(ParserCache, maxsize=CACHED_DOCUMENTS),
        functools.partial(ValidationCache, maxsize=CACHED_DOCUMENTS),
    ]
