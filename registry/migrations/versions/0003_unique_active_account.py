"""One active account per department, business system and holder.

A partial unique index (``WHERE revoked_on IS NULL``) on both SQLite and
PostgreSQL: the ledger's own check runs first and gives the clear error, this
index makes a double impossible when two writers race past that check.

Revision ID: 0003_unique_active_account
Revises: 0002_access_log
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_unique_active_account"
down_revision = "0002_access_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    doubles = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT department_code, system_code, holder, COUNT(*) FROM account "
                "WHERE revoked_on IS NULL GROUP BY department_code, system_code, holder HAVING COUNT(*) > 1"
            )
        )
        .all()
    )
    if doubles:
        department, system, holder, n = doubles[0]
        raise RuntimeError(
            f"the registry holds {len(doubles)} doubled active account(s), e.g. {n} for {holder} on "
            f"{system} for {department}: revoke the extra ones (revokeAccount) and migrate again"
        )
    op.create_index(
        "uq_account_active",
        "account",
        ["department_code", "system_code", "holder"],
        unique=True,
        sqlite_where=sa.text("revoked_on IS NULL"),
        postgresql_where=sa.text("revoked_on IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_account_active", table_name="account")
