"""Who is calling: the principal a request runs as, and the roles."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ENTERPRISE = "ENTERPRISE"  # its own enterprise and projects
    AGENT = "AGENT"  # 帮代办 butler: the projects assigned to it
    WINDOW_STAFF = "WINDOW_STAFF"  # every matter, read only
    AUDITOR = "AUDITOR"  # the delegation ledger, accounts, coverage, access log
    INTEGRATOR = "INTEGRATOR"  # source health and connector figures
    ADMIN = "ADMIN"  # registry mutations


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str  # the token's ``sub``; "anonymous" when unauthenticated
    role: Role | None  # None: unauthenticated
    credit_code: str | None = None  # ENTERPRISE: its own credit code
    projects: frozenset[str] = frozenset()  # AGENT: project codes assigned

    @property
    def authenticated(self) -> bool:
        return self.role is not None


ANONYMOUS = Principal(subject="anonymous", role=None)
