"""Helpers the migrations share (kept here, not in a revision, so revisions can import them)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def in_(column: str, values: tuple[str, ...]) -> str:
    """A CHECK expression: ``column`` holds one of ``values``."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def id_column() -> sa.Column:  # type: ignore[type-arg]
    """The ``id`` primary key column of a table with a surrogate key."""
    # SQLite only makes INTEGER PRIMARY KEY an alias of the rowid (autoincrementing).
    return sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )


def append_only(table: str) -> None:
    """The database itself refuses to change or delete rows of ``table`` (SQLite and PostgreSQL)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{table} is append-only: % refused', TG_OP;
            END $$
            """
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {action} refused'); END"
            )
