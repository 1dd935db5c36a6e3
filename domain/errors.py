"""The hub's error tree: every error class the hub raises on purpose.

::

    HubError                          INTERNAL_SERVER_ERROR: the one default code
    ├── InvalidInput(argument=)       BAD_USER_INPUT: an argument broke a rule; nothing was called
    ├── ImportRejected                BAD_USER_INPUT: a delegation spreadsheet has errors; nothing
    │                                 was imported (registry.spreadsheet; ``errors`` names the rows)
    ├── SeedError                     BAD_USER_INPUT: the report's ledger cannot be seeded here
    │                                 (registry.seed: the registry is not empty, or counts disagree)
    ├── ConfigError                   CONFIG_INVALID: a configuration file or override is invalid;
    │   │                             the message says where
    │   ├── CacheConfigError          the [cache] settings are unusable (connectors.cache)
    │   ├── ConnectorLoadError        a connector entry point cannot be loaded or used
    │   │                             (connectors.discovery)
    │   ├── MappingError              a declarative connector's mapping file is invalid;
    │   │                             file, line and key named (connectors.mapping_format)
    │   ├── OptionError               a [connectors.NAME.options] value is unusable; the key
    │   │                             named (connectors.settings)
    │   ├── PartLoadError             a connector's Matter part cannot be loaded or used
    │   │                             (schema.parts)
    │   └── ServicesError             the hub cannot start with these settings (gateway.services)
    ├── AuthenticationError           UNAUTHENTICATED: the bearer token was refused; an HTTP 401
    │                                 before GraphQL runs (gateway.auth)
    ├── PersistedQueryError           PERSISTED_QUERY_NOT_FOUND / _INVALID / _HASH_MISMATCH /
    │                                 _NOT_SUPPORTED: an automatic persisted query answered
    │                                 without executing (gateway.view)
    ├── IllegalTransition             ILLEGAL_TRANSITION: the ledger's lifecycle forbids this change now
    ├── NotFound(entity=, key=)       NOT_FOUND: no such item, account, department or system
    ├── TooManySubscriptions          TOO_MANY_SUBSCRIPTIONS: the caller holds as many as allowed
    ├── SubscriptionEnded             SUBSCRIPTION_ENDED: the hub ended a subscription (shutdown,
    │                                 token expired, subscriber too slow); the message says which
    └── ConnectorError(department=)   a department's failure, reported as that department's
        ├── DepartmentUnavailable     DEPARTMENT_UNAVAILABLE: connect error, 5xx, 429 after
        │   │                         retries, maintenance, breaker open
        │   └── DepartmentMalformed   the department answered something we cannot parse
        ├── DepartmentTimeout         DEPARTMENT_TIMEOUT: the call's deadline passed
        └── DepartmentRejected        DEPARTMENT_REJECTED: the department refused the call
                                      (4xx the connector does not expect, bad credentials;
                                      a 404 a connector expects means "unknown", not an error)

Outside the tree, on purpose:

- ``Forbidden`` (schema.permissions; FORBIDDEN) is a ``GraphQLError``, the type
  Strawberry's permission classes must raise;
- ``UnsafeXml`` (connectors.xmlfields: a DOCTYPE refused) and ``NotAWorkbook``
  (registry.xlsx) are ``ValueError``s of a parser, translated into the tree
  (``DepartmentMalformed``, ``ImportRejected``) before any caller sees them;
- ``BadLimit`` (domain.limits: a promise above the statutory limit, or kinds
  that do not share one) is a ``ValueError`` about the one limits table itself,
  bad data the table's tests catch, never a caller's mistake;
- ``NoDirectory`` (schema.loaders: no connector is the project directory) is a
  deployment bug, masked like any other.

A ``ConnectorError`` carries what the call pipeline needs, as keyword-only
constructor arguments: ``transient`` (worth retrying now: a 503, a dropped
connection), ``retry_after`` (the department's Retry-After, in seconds) and
``attempts`` (how many upstream attempts the failed call made; the pipeline
records it when it gives up). ``retryable`` is what the caller is told: may a
later request succeed?

httpx and parse exceptions are caught in one place, ``connectors.failures``,
and re-raised as these ``from exc``. Resolvers see only ``HubError``; anything
else is masked. Messages never carry URLs, credentials or payloads.
"""

from __future__ import annotations


class HubError(Exception):
    """Base of every error the hub reports on purpose."""

    code = "INTERNAL_SERVER_ERROR"
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


class ConfigError(HubError):
    """The configuration file or an override is invalid; the message says where."""

    code = "CONFIG_INVALID"


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


class ConnectorError(HubError):
    """A department call failed; ``department`` names the department, not the hub.

    Args:
        department: the connector's name.
        transient: the call pipeline may retry it (within the deadline).
        retry_after: not before this many seconds (the department's Retry-After).
        attempts: upstream attempts the failed call made (set by the pipeline).
    """

    code = "DEPARTMENT_UNAVAILABLE"

    def __init__(
        self,
        message: str,
        *,
        department: str,
        transient: bool = False,
        retry_after: float | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(message)
        self.department = department
        self.transient = transient
        self.retry_after = retry_after
        self.attempts = attempts

    def extensions(self) -> dict[str, object]:
        return {"code": self.code, "department": self.department, "retryable": self.retryable}


class DepartmentUnavailable(ConnectorError):
    code = "DEPARTMENT_UNAVAILABLE"
    retryable = True


class DepartmentMalformed(DepartmentUnavailable):
    """The department answered, but with a body we cannot parse (never retried at once)."""


class DepartmentTimeout(ConnectorError):
    code = "DEPARTMENT_TIMEOUT"
    retryable = True


class DepartmentRejected(ConnectorError):
    code = "DEPARTMENT_REJECTED"
    retryable = False

    def __init__(self, message: str, *, department: str, status_code: int | None = None) -> None:
        super().__init__(message, department=department)
        self.status_code = status_code


class TooManySubscriptions(HubError):
    """A caller (or one connection) already holds as many subscriptions as allowed."""

    code = "TOO_MANY_SUBSCRIPTIONS"


class SubscriptionEnded(HubError):
    """The hub ended a subscription; the message says why (shutdown, token expired, too slow)."""

    code = "SUBSCRIPTION_ENDED"
