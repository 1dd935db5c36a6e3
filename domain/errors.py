"""The hub's error tree.

::

    HubError                          anything the hub reports on purpose
    ├── InvalidInput                  BAD_USER_INPUT: an argument broke a rule; nothing was called
    ├── ConfigError                   a configuration file or override is invalid; the message says where
    ├── IllegalTransition             ILLEGAL_TRANSITION: the ledger's lifecycle forbids this change now
    ├── NotFound                      NOT_FOUND: no such item, account, department or system
    └── ConnectorError(department=)   a department's failure, reported as that department's
        ├── DepartmentUnavailable     DEPARTMENT_UNAVAILABLE: connect error, 5xx, 429 after
        │   │                         retries, maintenance, breaker open
        │   └── DepartmentMalformed   the department answered something we cannot parse
        ├── DepartmentTimeout         DEPARTMENT_TIMEOUT: the call's deadline passed
        └── DepartmentRejected        DEPARTMENT_REJECTED: the department refused the call
                                      (4xx the connector does not expect, bad credentials;
                                      a 404 a connector expects means "unknown", not an error)

httpx errors are caught in one place, the call pipeline, and re-raised as these
``from exc``. Resolvers see only ``HubError``; anything else is masked. Messages
never carry URLs, credentials or payloads.
"""

from __future__ import annotations


class HubError(Exception):
    """Base of every error the hub reports on purpose."""

    code = "INTERNAL"
    retryable = False

    def extensions(self) -> dict[str, object]:
        return {"code": self.code}


class InvalidInput(HubError):
    """An argument broke an identifier or input rule; no department was called."""

    code = "BAD_USER_INPUT"

    def __init__(self, message: str, *, argument: str, rule: str | None = None) -> None:
        super().__init__(message)
        self.argument = argument
        self.rule = rule or message

    def extensions(self) -> dict[str, object]:
        return {"code": self.code, "argument": self.argument, "rule": self.rule}


class ConnectorError(HubError):
    """A department call failed; ``department`` names the department, not the hub."""

    code = "DEPARTMENT_UNAVAILABLE"

    def __init__(self, message: str, *, department: str) -> None:
        super().__init__(message)
        self.department = department

    def extensions(self) -> dict[str, object]:
        return {"code": self.code, "department": self.department, "retryable": self.retryable}


class DepartmentUnavailable(ConnectorError):
    code = "DEPARTMENT_UNAVAILABLE"
    retryable = True


class DepartmentMalformed(DepartmentUnavailable):
    """The department answered, but with a body we cannot parse."""


class DepartmentTimeout(ConnectorError):
    code = "DEPARTMENT_TIMEOUT"
    retryable = True


class DepartmentRejected(ConnectorError):
    code = "DEPARTMENT_REJECTED"
    retryable = False

    def __init__(self, message: str, *, department: str, status_code: int | None = None) -> None:
        super().__init__(message, department=department)
        self.status_code = status_code


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


class ConfigError(HubError):
    """The configuration file or an override is invalid; the message says where."""

    code = "CONFIG_INVALID"
