"""What the hub works out from a parsed document, kept with the document.

Portals send the same few documents over and over, and the parser cache
(``gateway/tuning.py``) hands every request of the same text the same parsed
document. graphql-core's AST nodes are immutable, so anything computed from a
document alone (its size with fragments expanded, its root fields, the fields a
selection reads, whether it validates against a schema) is the same for every
request that brings that document, and is kept here instead of recomputed.

A :class:`DocumentMemo` is keyed by the node's identity (AST nodes hash by
their whole content, which costs more than what is saved) and holds the node
itself, so an identity is never reused while its entry lives. Bounded: texts
come from callers, and a flood of unique documents only churns the memo.
Nothing that depends on variables or on the caller is kept here.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

MAX_DOCUMENTS = 256


class DocumentMemo:
    """Values computed from an AST node (a document, an operation), per node and key."""

    def __init__(self, maxsize: int = MAX_DOCUMENTS) -> None:
        self.maxsize = maxsize
        self._entries: dict[int, tuple[object, dict[Hashable, Any]]] = {}

    def get(self, node: object, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()`` for ``node`` and ``key``, the first time; the same value afterwards."""
        facts = self.facts(node)
        try:
            return facts[key]  # type: ignore[no-any-return]
        except KeyError:
            value = facts[key] = compute()
            return value

    def facts(self, node: object) -> dict[Hashable, Any]:
        """The values kept for ``node`` (a new, empty set the first time)."""
        entry = self._entries.get(id(node))
        if entry is not None and entry[0] is node:
            return entry[1]
        facts: dict[Hashable, Any] = {}
        self._entries[id(node)] = (node, facts)
        while len(self._entries) > self.maxsize:
            try:
                del self._entries[next(iter(self._entries))]  # the oldest first
            except (KeyError, StopIteration, RuntimeError):  # another thread evicted it
                break
        return facts

    def __len__(self) -> int:
        return len(self._entries)


# Facts of a document alone (no schema, no variables), shared by every schema of the process:
# kept per document and per operation node (the access log's), so twice the parser cache's size.
DOCUMENTS = DocumentMemo(2 * MAX_DOCUMENTS)
