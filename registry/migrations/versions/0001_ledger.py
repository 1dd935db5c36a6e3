"""The delegation ledger: departments, bureaus, business systems, items, accounts, history.

Revision ID: 0001_ledger
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from registry.migrations.helpers import append_only, id_column, in_

revision = "0001_ledger"
down_revision = None
branch_labels = None
depends_on = None

STATUSES = (
    "DELEGATED",
    "ASSIGNED",
    "ACCOUNT_REQUESTED",
    "ACCOUNT_ISSUED",
    "GUIDED",
    "TAKEN_OVER",
    "CANCELLED",
)
CATEGORIES = ("行政许可", "行政确认", "行政处罚", "其他")


def upgrade() -> None:
    op.create_table(
        "department",
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_department"),
        sa.UniqueConstraint("name", name="uq_department_name"),
    )
    op.create_table(
        "bureau",
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("short_name", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_bureau"),
        sa.UniqueConstraint("name", name="uq_bureau_name"),
    )
    op.create_table(
        "business_system",
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("bureau_code", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_business_system"),
        sa.UniqueConstraint("name", name="uq_business_system_name"),
        sa.ForeignKeyConstraint(
            ["bureau_code"], ["bureau.code"], name="fk_business_system_bureau_code_bureau"
        ),
    )
    op.create_table(
        "delegated_item",
        id_column(),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("category", sa.String(8), nullable=False),
        sa.Column("mode", sa.String(13), nullable=False),
        sa.Column("origin", sa.String(12), nullable=False),
        sa.Column("status", sa.String(21), nullable=False),
        sa.Column("source_bureau_code", sa.String(16), nullable=False),
        sa.Column("department_code", sa.String(16), nullable=True),
        sa.Column("system_code", sa.String(16), nullable=False),
        sa.Column("delegated_on", sa.Date(), nullable=False),
        sa.Column("cancelled_on", sa.Date(), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_delegated_item"),
        sa.UniqueConstraint("code", name="uq_delegated_item_code"),
        sa.CheckConstraint(in_("status", STATUSES), name="ck_delegated_item_status"),
        sa.CheckConstraint(in_("category", CATEGORIES), name="ck_delegated_item_category"),
        sa.CheckConstraint(in_("mode", ("DIRECT", "ENTRUSTED")), name="ck_delegated_item_mode"),
        sa.CheckConstraint(in_("origin", ("ORIGINAL", "ADDED")), name="ck_delegated_item_origin"),
        sa.CheckConstraint(
            "status <> 'CANCELLED' OR (cancel_reason IS NOT NULL AND cancel_reason <> '')",
            name="ck_delegated_item_cancel_reason",
        ),
        sa.ForeignKeyConstraint(
            ["source_bureau_code"], ["bureau.code"], name="fk_delegated_item_source_bureau_code_bureau"
        ),
        sa.ForeignKeyConstraint(
            ["department_code"], ["department.code"], name="fk_delegated_item_department_code_department"
        ),
        sa.ForeignKeyConstraint(
            ["system_code"], ["business_system.code"], name="fk_delegated_item_system_code_business_system"
        ),
    )
    op.create_index(
        "ix_delegated_item_coverage",
        "delegated_item",
        ["department_code", "system_code", "source_bureau_code", "origin", "status"],
    )
    op.create_index("ix_delegated_item_bureau_status", "delegated_item", ["source_bureau_code", "status"])
    op.create_index("ix_delegated_item_status", "delegated_item", ["status"])
    op.create_table(
        "account",
        id_column(),
        sa.Column("system_code", sa.String(16), nullable=False),
        sa.Column("department_code", sa.String(16), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("requested_on", sa.Date(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=True),
        sa.Column("revoked_on", sa.Date(), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_account"),
        sa.ForeignKeyConstraint(
            ["system_code"], ["business_system.code"], name="fk_account_system_code_business_system"
        ),
        sa.ForeignKeyConstraint(
            ["department_code"], ["department.code"], name="fk_account_department_code_department"
        ),
    )
    op.create_index("ix_account_department_system", "account", ["department_code", "system_code"])
    op.create_table(
        "history",
        id_column(),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("entity", sa.String(16), nullable=False),
        sa.Column("entity_key", sa.String(64), nullable=False),
        sa.Column("field", sa.String(32), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_history"),
        sa.CheckConstraint("entity IN ('item', 'account')", name="ck_history_entity"),
        sa.CheckConstraint(
            f"field <> 'status' OR (entity = 'item' AND {in_('new_value', STATUSES)} AND "
            f"(old_value IS NULL OR {in_('old_value', STATUSES)}))",
            name="ck_history_status_values",
        ),
    )
    op.create_index("ix_history_entity", "history", ["entity", "entity_key", "id"])
    op.create_index(
        "ix_history_status_latest",
        "history",
        ["entity_key", "id"],
        sqlite_where=sa.text("field = 'status'"),
        postgresql_where=sa.text("field = 'status'"),
    )
    op.create_index(
        "ix_history_transition",
        "history",
        ["old_value", "new_value", "entity_key"],
        sqlite_where=sa.text("field = 'status'"),
        postgresql_where=sa.text("field = 'status'"),
    )
    op.create_table(
        "idempotency_key",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_idempotency_key"),
    )
    append_only("history")
    _status_always_recorded()
    op.create_table(
        "item_tally",
        sa.Column("department_code", sa.String(16), nullable=False),
        sa.Column("system_code", sa.String(16), nullable=False),
        sa.Column("source_bureau_code", sa.String(16), nullable=False),
        sa.Column("origin", sa.String(12), nullable=False),
        sa.Column("status", sa.String(21), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "department_code", "system_code", "source_bureau_code", "origin", "status", name="pk_item_tally"
        ),
    )
    _tally_items()


_OUTSIDE = "'status changed outside the ledger service'"


def _status_always_recorded() -> None:
    """A status written around the ledger service still lands in the history.

    The service writes its history row first; when an item's status is inserted or
    changed and the item's latest status row does not already say so, the database
    appends one (actor "database"). The coverage audit then finds any skipped step
    among the recorded transitions by index seeks alone, with no per-item scan.
    """
    if op.get_bind().dialect.name == "postgresql":
        return  # done by _postgres_item_triggers, statement by statement
    latest = (
        "(SELECT new_value FROM history WHERE field = 'status' AND entity_key = NEW.code "
        "ORDER BY id DESC LIMIT 1)"
    )
    columns = "(at, actor, entity, entity_key, field, old_value, new_value, reason)"
    op.execute(
        f"""
        CREATE TRIGGER delegated_item_insert_recorded AFTER INSERT ON delegated_item
        WHEN {latest} IS NOT NEW.status
        BEGIN
            INSERT INTO history {columns}
            VALUES (datetime('now'), 'database', 'item', NEW.code, 'status', NULL, NEW.status, {_OUTSIDE});
        END
        """
    )
    op.execute(
        f"""
        CREATE TRIGGER delegated_item_status_recorded AFTER UPDATE OF status ON delegated_item
        WHEN NEW.status IS NOT OLD.status AND {latest} IS NOT NEW.status
        BEGIN
            INSERT INTO history {columns}
            VALUES (datetime('now'), 'database', 'item', NEW.code, 'status', OLD.status, NEW.status,
                    {_OUTSIDE});
        END
        """
    )


_TALLY_KEY = "department_code, system_code, source_bureau_code, origin, status"


def _tally_items() -> None:
    """Keep ``item_tally`` in step with every insert, update and delete of an item."""

    def key(row: str) -> str:
        return (
            f"COALESCE({row}.department_code, ''), {row}.system_code, {row}.source_bureau_code, "
            f"{row}.origin, {row}.status"
        )

    def add(row: str) -> str:
        return (
            f"INSERT INTO item_tally ({_TALLY_KEY}, n) VALUES ({key(row)}, 1) "
            f"ON CONFLICT ({_TALLY_KEY}) DO UPDATE SET n = item_tally.n + 1"
        )

    def remove(row: str) -> str:
        return (
            f"UPDATE item_tally SET n = n - 1 WHERE department_code = COALESCE({row}.department_code, '') "
            f"AND system_code = {row}.system_code AND source_bureau_code = {row}.source_bureau_code "
            f"AND origin = {row}.origin AND status = {row}.status"
        )

    columns = "department_code, system_code, source_bureau_code, origin, status"
    if op.get_bind().dialect.name == "postgresql":
        _postgres_item_triggers()
        return
    op.execute(
        f"CREATE TRIGGER delegated_item_tally_insert AFTER INSERT ON delegated_item BEGIN {add('NEW')}; END"
    )
    op.execute(
        f"CREATE TRIGGER delegated_item_tally_delete AFTER DELETE ON delegated_item "
        f"BEGIN {remove('OLD')}; END"
    )
    op.execute(
        f"CREATE TRIGGER delegated_item_tally_update AFTER UPDATE OF {columns} ON delegated_item "
        f"BEGIN {remove('OLD')}; {add('NEW')}; END"
    )


_GROUPED = (
    "SELECT COALESCE(department_code, '') AS d, system_code AS s, source_bureau_code AS b, origin AS og, "
    "status AS st, count(*) AS n FROM {rows} GROUP BY 1, 2, 3, 4, 5"
)


def _postgres_item_triggers() -> None:
    """PostgreSQL: both item rules (status recorded, tally) once per statement.

    Statement-level triggers see the changed rows as transition tables, so a
    100,000-row import updates each tally row once rather than once per item.
    """
    latest = (
        "(SELECT h.new_value FROM history h WHERE h.field = 'status' AND h.entity_key = n.code "
        "ORDER BY h.id DESC LIMIT 1)"
    )
    columns = "(at, actor, entity, entity_key, field, old_value, new_value, reason)"
    add = (
        f"INSERT INTO item_tally ({_TALLY_KEY}, n) SELECT d, s, b, og, st, n FROM ({_GROUPED}) g "
        f"ON CONFLICT ({_TALLY_KEY}) DO UPDATE SET n = item_tally.n + EXCLUDED.n"
    ).format(rows="new_rows")
    remove = (
        f"UPDATE item_tally t SET n = t.n - g.n FROM ({_GROUPED}) g WHERE t.department_code = g.d "
        "AND t.system_code = g.s AND t.source_bureau_code = g.b AND t.origin = g.og AND t.status = g.st"
    ).format(rows="old_rows")
    bodies = {
        "inserted": (
            "INSERT",
            "NEW TABLE AS new_rows",
            f"INSERT INTO history {columns} "
            f"SELECT now(), 'database', 'item', n.code, 'status', NULL, n.status, {_OUTSIDE} "
            f"FROM new_rows n WHERE {latest} IS DISTINCT FROM n.status ORDER BY n.id; {add};",
        ),
        "updated": (
            "UPDATE",
            "OLD TABLE AS old_rows NEW TABLE AS new_rows",
            f"INSERT INTO history {columns} "
            f"SELECT now(), 'database', 'item', n.code, 'status', o.status, n.status, {_OUTSIDE} "
            "FROM new_rows n JOIN old_rows o ON o.id = n.id "
            f"WHERE o.status IS DISTINCT FROM n.status AND {latest} IS DISTINCT FROM n.status "
            f"ORDER BY n.id; {remove}; {add};",
        ),
        "deleted": ("DELETE", "OLD TABLE AS old_rows", f"{remove};"),
    }
    for name, (event, tables, body) in bodies.items():
        op.execute(
            f"CREATE FUNCTION delegated_item_{name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {body} RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER delegated_item_{name} AFTER {event} ON delegated_item "
            f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION delegated_item_{name}()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in ("inserted", "updated", "deleted"):
            op.execute(f"DROP TRIGGER IF EXISTS delegated_item_{name} ON delegated_item")
            op.execute(f"DROP FUNCTION IF EXISTS delegated_item_{name}()")
        op.execute("DROP TRIGGER IF EXISTS history_append_only ON history")
        op.execute("DROP FUNCTION IF EXISTS history_append_only()")
    op.drop_table("item_tally")
    op.drop_table("idempotency_key")
    op.drop_table("history")
    op.drop_table("account")
    op.drop_table("delegated_item")
    op.drop_table("business_system")
    op.drop_table("bureau")
    op.drop_table("department")
