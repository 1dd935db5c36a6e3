"""Errors the ledger reports on purpose; each carries its GraphQL ``extensions.code``.

::

    HubError
    ├── InvalidInput           BAD_USER_INPUT: a missing or malformed argument
    ├── IllegalTransition      ILLEGAL_TRANSITION: the lifecycle forbids this change now
    └── NotFound               NOT_FOUND: no such item, account, department or system
"""

from __future__ import annotations

from connectors.errors import HubError, InvalidInput

__all__ = ["IllegalTransition", "InvalidInput", "NotFound"]


class IllegalTransition(HubError):
    """A change the lifecycle refuses; the message names the transition and why."""

    code = "ILLEGAL_TRANSITION"

    def __init__(self, message: str, *, subject: str, transition: str, reason: str) -> None:
        super().__init__(message)
        self.subject = subject
        self.transition = transition
        self.reason = reason

    def extensions(self) -> dict[str, object]:
        return {
            "code": self.code,
            "subject": self.subject,
            "transition": self.transition,
            "reason": self.reason,
        }


class NotFound(HubError):
    code = "NOT_FOUND"

    def __init__(self, message: str, *, entity: str, key: str) -> None:
        super().__init__(message)
        self.entity = entity
        self.key = key

    def extensions(self) -> dict[str, object]:
        return {"code": self.code, "entity": self.entity, "key": self.key}
