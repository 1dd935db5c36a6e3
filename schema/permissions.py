"""Who may read what: permission classes, object rules and personal-data masking.

Rules live on the schema, not in front ends:

* a field guarded by a permission class raises ``FORBIDDEN`` for other roles
  (``@strawberry.field(extensions=requires(AuditorOnly))`` or
  ``permission_classes=[AuditorOnly]``);
* an object the caller may not see is left out of a list and refused
  (``FORBIDDEN``) when asked for alone: :class:`Guarded` does both for projects
  and enterprises, and logs each read it lets through to the access log;
* personal data (phone numbers, staff names, account holders) is masked for
  roles that do not need it: :class:`Masked` or :func:`mask`.

=================  =======================================================
role               reads
=================  =======================================================
anonymous          ``approvalGuide`` only (enforced for every root field by
                   ``schema.limits.OperationGuard``)
ENTERPRISE         its own enterprise (token ``credit_code``) and its projects
AGENT              the projects in its token's ``projects`` claim
WINDOW_STAFF       every matter and enterprise, read only
AUDITOR            delegation ledger, accounts, coverage, the access log
INTEGRATOR         source health and connector figures
ADMIN              registry mutations (and the ledger they change)
=================  =======================================================
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from graphql import GraphQLError
from strawberry.extensions import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.types import Info

from domain.principal import Principal, Role
from schema.context import HubContext

FORBIDDEN = "FORBIDDEN"


class Forbidden(GraphQLError):
    """A refused field or object; ``extensions.code`` is ``FORBIDDEN``."""

    def __init__(self, message: str, **extra: object) -> None:
        super().__init__(message, extensions={"code": FORBIDDEN, **extra})


def principal_of(info: Info[HubContext, None]) -> Principal:
    """The caller: ``info.context.principal``."""
    return info.context.principal


# -- permission classes --------------------------------------------------------------


class RolePermission(BasePermission):
    """Allows the roles in ``roles``; everyone else gets ``FORBIDDEN``."""

    roles: ClassVar[frozenset[Role]] = frozenset()
    what: ClassVar[str] = "this field"
    message = "forbidden"
    error_extensions = {"code": FORBIDDEN}  # noqa: RUF012 (strawberry's attribute)

    def has_permission(self, source: Any, info: Info[HubContext, None], **kwargs: Any) -> bool:
        principal = principal_of(info)
        if principal.role in self.roles:
            return True
        needed = ", ".join(sorted(self.roles))
        if not principal.authenticated:
            raise Forbidden(
                f"sign in first: {self.what} needs one of the roles {needed}", needs=sorted(self.roles)
            )
        raise Forbidden(
            f"role {principal.role} may not read {self.what}; it needs one of {needed}",
            needs=sorted(self.roles),
        )


def allow(*roles: Role, what: str, name: str) -> type[RolePermission]:
    """A permission class for ``roles`` (``what`` names the guarded data in messages)."""
    return type(name, (RolePermission,), {"roles": frozenset(roles), "what": what, "__module__": __name__})


MatterReaders = allow(Role.ENTERPRISE, Role.AGENT, Role.WINDOW_STAFF, what="matters", name="MatterReaders")
EnterpriseReaders = allow(
    Role.ENTERPRISE, Role.AGENT, Role.WINDOW_STAFF, what="enterprises", name="EnterpriseReaders"
)
LedgerReaders = allow(Role.AUDITOR, Role.ADMIN, what="the delegation ledger", name="LedgerReaders")
AccessLogReaders = allow(Role.AUDITOR, what="the access log", name="AccessLogReaders")
SourceReaders = allow(Role.INTEGRATOR, what="source health and connector figures", name="SourceReaders")
Administrators = allow(Role.ADMIN, what="registry mutations", name="Administrators")
Authenticated = allow(*Role, what="this field", name="Authenticated")


def requires(*permissions: type[BasePermission]) -> list[FieldExtension]:
    """Field extensions enforcing ``permissions``, without schema directives in the SDL.

    ``@strawberry.field(extensions=requires(LedgerReaders))``.
    """
    return [PermissionExtension([p() for p in permissions], use_directives=False)]


# -- object rules ----------------------------------------------------------------------


def can_read_project(principal: Principal, project_code: str, owner_credit_code: str | None) -> bool:
    """Whether ``principal`` may read the project (``owner_credit_code``: its enterprise)."""
    role = principal.role
    if role is Role.WINDOW_STAFF:
        return True
    if role is Role.AGENT:
        return project_code in principal.projects
    if role is Role.ENTERPRISE:
        return owner_credit_code is not None and owner_credit_code == principal.credit_code
    return False


def can_read_enterprise(principal: Principal, credit_code: str, project_codes: Iterable[str] = ()) -> bool:
    """Whether ``principal`` may read the enterprise; an AGENT may if it serves one of its projects."""
    role = principal.role
    if role is Role.WINDOW_STAFF:
        return True
    if role is Role.ENTERPRISE:
        return credit_code == principal.credit_code
    if role is Role.AGENT:
        return not principal.projects.isdisjoint(project_codes)
    return False


def may_ask_for_project(principal: Principal, project_code: str) -> bool:
    """A cheap check before any department call: False only when the answer is surely no.

    An ENTERPRISE's ownership is known only after the project is looked up, so
    it passes here and is checked on the object (:class:`Guarded`).
    """
    if principal.role is Role.AGENT:
        return project_code in principal.projects
    return principal.role in (Role.WINDOW_STAFF, Role.ENTERPRISE)


def check_project(
    info: Info[HubContext, None], project_code: str, owner_credit_code: str | None = None
) -> None:
    """Raise ``FORBIDDEN`` unless the caller may read the project."""
    principal = principal_of(info)
    allowed = (
        may_ask_for_project(principal, project_code)
        if owner_credit_code is None and principal.role is Role.ENTERPRISE
        else can_read_project(principal, project_code, owner_credit_code)
    )
    if not allowed:
        raise Forbidden(_object_message(principal, "project", project_code))


def _object_message(principal: Principal, kind: str, key: str) -> str:
    if not principal.authenticated:
        return f"sign in first: {kind} {key} is not public"
    return f"{kind} {key} is not visible to role {principal.role}"


def _attr(obj: Any, *paths: str) -> Any:
    for path in paths:
        value: Any = obj
        for part in path.split("."):
            value = getattr(value, part, None) if not isinstance(value, dict) else value.get(part)
            if value is None:
                break
        if value is not None:
            return value
    return None


def project_key(obj: Any) -> tuple[str, str | None]:
    """(project code, owner credit code) of a matter/project object, by common attribute names."""
    code = _attr(obj, "project_code", "code", "profile.project_code")
    owner = _attr(
        obj,
        "credit_code",
        "enterprise_credit_code",
        "enterprise.credit_code",
        "profile.enterprise.credit_code",
    )
    return str(code), (str(owner) if owner is not None else None)


def enterprise_key(obj: Any) -> tuple[str, tuple[str, ...]]:
    """(credit code, project codes) of an enterprise object, by common attribute names."""
    code = _attr(obj, "credit_code", "code", "profile.credit_code")
    projects = _attr(obj, "project_codes") or ()
    return str(code), tuple(projects)


def visible(info: Info[HubContext, None], kind: str, items: Iterable[Any]) -> list[Any]:
    """The items of ``kind`` ("project" or "enterprise") the caller may read; the rest left out."""
    principal = principal_of(info)
    if kind == "project":
        return [i for i in items if i is not None and can_read_project(principal, *project_key(i))]
    return [i for i in items if i is not None and can_read_enterprise(principal, *enterprise_key(i))]


def _allowed(kind: str, key: Callable[[Any], tuple[Any, Any]], principal: Principal, obj: Any) -> bool:
    a, b = key(obj)
    if kind == "project":
        return can_read_project(principal, str(a), b)
    return can_read_enterprise(principal, str(a), tuple(b or ()))


def guard(
    info: Info[HubContext, None],
    kind: str,
    result: Any,
    *,
    key: Callable[[Any], tuple[Any, Any]] | None = None,
    log: bool = True,
) -> Any:
    """Apply the object rule to a resolved value; what :class:`Guarded` does, callable directly.

    For resolvers that cannot take a field extension, e.g. a federation
    ``resolve_reference``: ``return guard(info, "project", matter)``.
    A list keeps only what the caller may read; a single object the caller may
    not read raises ``FORBIDDEN``; each object let through is logged as read.
    """
    from schema.audit import record_read

    key = key or (project_key if kind == "project" else enterprise_key)
    principal = principal_of(info)
    log_kind = "matter" if kind == "project" else "enterprise"
    if result is None:
        return None
    if isinstance(result, list | tuple):
        kept = [obj for obj in result if obj is not None and _allowed(kind, key, principal, obj)]
        if log:
            for obj in kept:
                record_read(info, log_kind, str(key(obj)[0]))
        return kept
    if not _allowed(kind, key, principal, result):
        if kind == "project" and principal.role is Role.ENTERPRISE:
            # Another enterprise's project answers as an unknown code does: no oracle.
            return None
        raise Forbidden(_object_message(principal, kind, str(key(result)[0])))
    if log:
        record_read(info, log_kind, str(key(result)[0]))
    return result


def sees_the_whole_zone(info: Info[HubContext, None]) -> bool:
    """Zone-wide figures (how many projects there are) are not for ENTERPRISE or AGENT callers."""
    return principal_of(info).role not in (None, Role.ENTERPRISE, Role.AGENT)


def not_the_callers(info: Info[HubContext, None], project_code: object) -> bool:
    """True when an ENTERPRISE asks for a project the matter index says is not its own.

    Unknown codes and other enterprises' projects are both answered null from the
    index, before any department call, so neither the answer nor its timing tells
    them apart (a project the index has not seen yet is null until its next
    refresh, ``hub.index_refresh_s``). Until the index is first built the lookup
    runs and the object rule answers null the same way.
    """
    principal = principal_of(info)
    if principal.role is not Role.ENTERPRISE or not isinstance(project_code, str):
        return False
    index = info.context.matter_index
    if not index.built:
        return False
    entry = index.entry(project_code)
    return entry is None or entry.credit_code != principal.credit_code


class Guarded(FieldExtension):
    """Object-level rule for a field returning projects/matters or enterprises.

    A list result keeps only what the caller may read; a single result the
    caller may not read is ``FORBIDDEN``. Every object let through is recorded
    in the access log (``log=False`` to skip, e.g. for a nested back-reference).

    Args:
        kind: "project" (matters are projects) or "enterprise".
        key: optional ``obj -> (code, owner)`` for projects or ``obj -> (credit_code,
            project_codes)`` for enterprises, when the attribute names differ.
    """

    def __init__(self, kind: str, *, key: Callable[[Any], tuple[Any, Any]] | None = None, log: bool = True):
        if kind not in ("project", "enterprise"):
            raise ValueError("Guarded kind is 'project' or 'enterprise'")
        self.kind = kind
        self.key = key or (project_key if kind == "project" else enterprise_key)
        self.log = log

    def _apply(self, result: Any, info: Info[HubContext, None]) -> Any:
        return guard(info, self.kind, result, key=self.key, log=self.log)

    def _precheck(self, info: Info[HubContext, None], kwargs: dict[str, Any]) -> None:
        """Refuse before any department is called when the argument alone says no."""
        principal = principal_of(info)
        if self.kind == "project":
            code = kwargs.get("project_code")
            if isinstance(code, str) and not may_ask_for_project(principal, code):
                raise Forbidden(_object_message(principal, "project", code))
        else:
            code = kwargs.get("credit_code")
            if isinstance(code, str) and (
                principal.role not in (Role.ENTERPRISE, Role.AGENT, Role.WINDOW_STAFF)
                or (principal.role is Role.ENTERPRISE and code != principal.credit_code)
            ):
                raise Forbidden(_object_message(principal, "enterprise", code))

    def resolve(
        self, next_: Callable[..., Any], source: Any, info: Info[HubContext, None], **kwargs: Any
    ) -> Any:
        self._precheck(info, kwargs)
        if self.kind == "project" and not_the_callers(info, kwargs.get("project_code")):
            return None
        return self._apply(next_(source, info, **kwargs), info)

    async def resolve_async(
        self, next_: Callable[..., Any], source: Any, info: Info[HubContext, None], **kwargs: Any
    ) -> Any:
        self._precheck(info, kwargs)
        if self.kind == "project" and not_the_callers(info, kwargs.get("project_code")):
            return None
        result = next_(source, info, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return self._apply(result, info)


# -- personal data -----------------------------------------------------------------------

# Who sees each kind of personal data in clear; everyone else sees it masked.
PERSONAL_DATA: dict[str, frozenset[Role]] = {
    # the agent's and liaison officer's phones: for the people who work the case
    "phone": frozenset({Role.ENTERPRISE, Role.AGENT, Role.WINDOW_STAFF}),
    # names of department staff, agents and liaison officers
    "staff_name": frozenset({Role.ENTERPRISE, Role.AGENT, Role.WINDOW_STAFF, Role.AUDITOR, Role.ADMIN}),
    # who holds a business-system account: the administrators who issue them;
    # auditors check that accounts exist, not who holds them
    "account_holder": frozenset({Role.ADMIN}),
}


def mask_phone(value: str) -> str:
    """``13812345678`` -> ``138****5678``; short numbers keep only their last two digits."""
    digits = [i for i, ch in enumerate(value) if ch.isdigit()]
    if len(digits) >= 11:
        keep = set(digits[:3] + digits[-4:])
    else:
        keep = set(digits[-2:])
    return "".join(ch if (i in keep or not ch.isdigit()) else "*" for i, ch in enumerate(value))


def mask_name(value: str) -> str:
    """``张伟`` -> ``张*``; ``Li Wei`` -> ``L*****``."""
    return value[:1] + "*" * max(len(value) - 1, 1) if value else value


MASKERS: dict[str, Callable[[str], str]] = {
    "phone": mask_phone,
    "staff_name": mask_name,
    "account_holder": mask_name,
}


def mask(info: Info[HubContext, None], kind: str, value: str | None) -> str | None:
    """``value`` in clear for roles that need ``kind`` of personal data, masked otherwise."""
    if value is None:
        return None
    if principal_of(info).role in PERSONAL_DATA[kind]:
        return value
    return MASKERS[kind](value)


class Masked(FieldExtension):
    """Mask a string field's value for roles that do not need it: ``extensions=[Masked("phone")]``."""

    def __init__(self, kind: str) -> None:
        if kind not in PERSONAL_DATA:
            raise ValueError(f"unknown personal data kind {kind!r}; one of {sorted(PERSONAL_DATA)}")
        self.kind = kind

    def resolve(
        self, next_: Callable[..., Any], source: Any, info: Info[HubContext, None], **kwargs: Any
    ) -> Any:
        return mask(info, self.kind, next_(source, info, **kwargs))

    async def resolve_async(
        self, next_: Callable[..., Any], source: Any, info: Info[HubContext, None], **kwargs: Any
    ) -> Any:
        result = next_(source, info, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return mask(info, self.kind, result)
