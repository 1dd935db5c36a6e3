"""The service catalogue: items with their guides, materials, approval kinds and history.

Revision ID: 0004_catalogue
Revises: 0003_unique_active_account
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from registry.migrations.helpers import append_only, id_column, in_

revision = "0004_catalogue"
down_revision = "0003_unique_active_account"
branch_labels = None
depends_on = None

CATEGORIES = ("行政许可", "行政给付", "行政确认", "行政奖励", "行政裁决", "其他行政权力", "公共服务")
UNITS = ("WORKING_DAYS", "CALENDAR_DAYS")


def upgrade() -> None:
    op.create_table(
        "service_item",
        id_column(),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("department_code", sa.String(16), nullable=True),
        sa.Column("window_bureau_code", sa.String(16), nullable=True),
        sa.Column("category", sa.String(10), nullable=False),
        sa.Column("domain", sa.String(32), nullable=False),
        sa.Column("application_based", sa.Boolean(), nullable=False),
        sa.Column("in_centre", sa.Boolean(), nullable=False),
        sa.Column("conditions", sa.Text(), nullable=False),
        sa.Column("procedure", sa.Text(), nullable=False),
        sa.Column("materials_before", sa.Integer(), nullable=False),
        sa.Column("statutory_limit", sa.Integer(), nullable=False),
        sa.Column("promised_limit", sa.Integer(), nullable=False),
        sa.Column("limit_unit", sa.String(17), nullable=False),
        sa.Column("online_depth", sa.Integer(), nullable=False),
        sa.Column("tolerance", sa.Boolean(), nullable=False),
        sa.Column("commitment", sa.Boolean(), nullable=False),
        sa.Column("parallel_group", sa.String(64), nullable=True),
        sa.Column("handbook_code", sa.String(8), nullable=True),
        sa.Column("delegated_item_code", sa.String(64), nullable=True),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("online_cases", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_service_item"),
        sa.UniqueConstraint("code", name="uq_service_item_code"),
        sa.ForeignKeyConstraint(
            ["department_code"], ["department.code"], name="fk_service_item_department_code_department"
        ),
        sa.ForeignKeyConstraint(
            ["window_bureau_code"], ["bureau.code"], name="fk_service_item_window_bureau_code_bureau"
        ),
        sa.ForeignKeyConstraint(
            ["delegated_item_code"],
            ["delegated_item.code"],
            name="fk_service_item_delegated_item_code_delegated_item",
        ),
        sa.CheckConstraint(in_("category", CATEGORIES), name="ck_service_item_category"),
        sa.CheckConstraint(in_("limit_unit", UNITS), name="ck_service_item_limit_unit"),
        sa.CheckConstraint(
            "department_code IS NOT NULL OR window_bureau_code IS NOT NULL", name="ck_service_item_handled_by"
        ),
        sa.CheckConstraint(
            "promised_limit > 0 AND promised_limit <= statutory_limit", name="ck_service_item_limits"
        ),
        sa.CheckConstraint("online_depth BETWEEN 1 AND 4", name="ck_service_item_online_depth"),
        sa.CheckConstraint("materials_before >= 0", name="ck_service_item_materials_before"),
        sa.CheckConstraint("online_cases >= 0 AND online_cases <= cases", name="ck_service_item_cases"),
    )
    op.create_index("ix_service_item_department", "service_item", ["department_code"])
    op.create_table(
        "service_material",
        sa.Column("item_code", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("item_code", "position", name="pk_service_material"),
        sa.ForeignKeyConstraint(
            ["item_code"], ["service_item.code"], name="fk_service_material_item_code_service_item"
        ),
    )
    op.create_table(
        "service_item_kind",
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("item_code", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("kind", name="pk_service_item_kind"),
        sa.ForeignKeyConstraint(
            ["item_code"], ["service_item.code"], name="fk_service_item_kind_item_code_service_item"
        ),
    )
    op.create_index("ix_service_item_kind_item_code", "service_item_kind", ["item_code"])
    op.create_table(
        "service_history",
        id_column(),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("item_code", sa.String(64), nullable=False),
        sa.Column("field", sa.String(32), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_service_history"),
    )
    op.create_index("ix_service_history_item", "service_history", ["item_code", "id"])
    append_only("service_history")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS service_history_append_only ON service_history")
        op.execute("DROP FUNCTION IF EXISTS service_history_append_only()")
    op.drop_table("service_history")
    op.drop_table("service_item_kind")
    op.drop_table("service_material")
    op.drop_table("service_item")
