"""The registry's tables (the ledger and the service catalogue), as typed SQLAlchemy 2 mappings.

The migrations in ``registry/migrations`` create exactly these tables (a test
compares them); change both together.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from domain.limits import LimitUnit


class Status(StrEnum):
    """Where a delegated item stands; the happy path runs top to bottom."""

    DELEGATED = "DELEGATED"  # 已赋权: the city delegated it to the zone
    ASSIGNED = "ASSIGNED"  # 已分配: a receiving department is named
    ACCOUNT_REQUESTED = "ACCOUNT_REQUESTED"  # 已申请账号 on the bureau's business system
    ACCOUNT_ISSUED = "ACCOUNT_ISSUED"  # 已开通账号
    GUIDED = "GUIDED"  # 已业务指导: the bureau trained the department
    TAKEN_OVER = "TAKEN_OVER"  # 承接到位
    CANCELLED = "CANCELLED"  # 已取消 (reason required)


LIFECYCLE: tuple[Status, ...] = (
    Status.DELEGATED,
    Status.ASSIGNED,
    Status.ACCOUNT_REQUESTED,
    Status.ACCOUNT_ISSUED,
    Status.GUIDED,
    Status.TAKEN_OVER,
)


class Category(StrEnum):
    LICENSING = "行政许可"
    CONFIRMATION = "行政确认"
    PENALTY = "行政处罚"
    OTHER = "其他"


class Mode(StrEnum):
    DIRECT = "DIRECT"  # 直接赋权
    ENTRUSTED = "ENTRUSTED"  # 委托


class Origin(StrEnum):
    ORIGINAL = "ORIGINAL"  # in the first delegation list
    ADDED = "ADDED"  # delegated later, in the dynamic adjustment


E = TypeVar("E", bound=StrEnum)


class EnumText(TypeDecorator[E], Generic[E]):
    """A StrEnum stored as its value in a VARCHAR (no native enum: migrations stay simple)."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E]) -> None:
        super().__init__(length=max(len(m.value) for m in enum) + 4)
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are stored in UTC; SQLite drops the zone, so put it back on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must carry a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _in(column: str, enum: type[StrEnum]) -> str:
    values = ", ".join(f"'{m.value}'" for m in enum)
    return f"{column} IN ({values})"


# SQLite only makes INTEGER PRIMARY KEY an alias of the rowid (autoincrementing).
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def table_of(model: type[Base]) -> Table:
    """A mapped class's Table (``__table__`` is typed as a FromClause)."""
    return cast(Table, model.__table__)


class Department(Base):
    """One of the zone's receiving departments (承接部门)."""

    __tablename__ = "department"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class Bureau(Base):
    """A city bureau that delegated powers (下放部门)."""

    __tablename__ = "bureau"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    short_name: Mapped[str] = mapped_column(String(32))


class BusinessSystem(Base):
    """A bureau's business system, on which departments hold accounts (业务系统)."""

    __tablename__ = "business_system"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    bureau_code: Mapped[str] = mapped_column(ForeignKey("bureau.code"))


class DelegatedItem(Base):
    """A city-level power delegated to the zone (市级赋权事项)."""

    __tablename__ = "delegated_item"
    __table_args__ = (
        CheckConstraint(_in("status", Status), name="status"),
        CheckConstraint(_in("category", Category), name="category"),
        CheckConstraint(_in("mode", Mode), name="mode"),
        CheckConstraint(_in("origin", Origin), name="origin"),
        # A cancellation always carries its reason.
        CheckConstraint(
            "status <> 'CANCELLED' OR (cancel_reason IS NOT NULL AND cancel_reason <> '')",
            name="cancel_reason",
        ),
        # Covering: the coverage audit's one grouped scan reads this index only.
        Index(
            "ix_delegated_item_coverage",
            "department_code",
            "system_code",
            "source_bureau_code",
            "origin",
            "status",
        ),
        Index("ix_delegated_item_bureau_status", "source_bureau_code", "status"),
        Index("ix_delegated_item_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[Category] = mapped_column(EnumText(Category))
    mode: Mapped[Mode] = mapped_column(EnumText(Mode))
    origin: Mapped[Origin] = mapped_column(EnumText(Origin))
    status: Mapped[Status] = mapped_column(EnumText(Status))
    source_bureau_code: Mapped[str] = mapped_column(ForeignKey("bureau.code"))
    department_code: Mapped[str | None] = mapped_column(ForeignKey("department.code"))
    system_code: Mapped[str] = mapped_column(ForeignKey("business_system.code"))
    delegated_on: Mapped[date] = mapped_column(Date)
    cancelled_on: Mapped[date | None] = mapped_column(Date)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Account(Base):
    """A department's account on a business system; active while issued and not revoked."""

    __tablename__ = "account"
    __table_args__ = (
        Index("ix_account_department_system", "department_code", "system_code"),
        # One active account per department, system and holder, whatever races the service's
        # own check (two replicas, two idempotency keys): migration 0003.
        Index(
            "uq_account_active",
            "department_code",
            "system_code",
            "holder",
            unique=True,
            sqlite_where=text("revoked_on IS NULL"),
            postgresql_where=text("revoked_on IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    system_code: Mapped[str] = mapped_column(ForeignKey("business_system.code"))
    department_code: Mapped[str] = mapped_column(ForeignKey("department.code"))
    holder: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    requested_on: Mapped[date] = mapped_column(Date)
    issued_on: Mapped[date | None] = mapped_column(Date)
    revoked_on: Mapped[date | None] = mapped_column(Date)
    revoke_reason: Mapped[str | None] = mapped_column(Text)

    @property
    def active(self) -> bool:
        return self.issued_on is not None and self.revoked_on is None


class HistoryEntry(Base):
    """One change to the ledger: who, when, what, old value, new value. Never updated.

    ``entity``/``entity_key`` name what changed ("item" and its code, "account" and
    its id) as text, so the history outlives anything it describes.
    """

    __tablename__ = "history"
    __table_args__ = (
        CheckConstraint("entity IN ('item', 'account')", name="entity"),
        # Status rows hold lifecycle values only, so skipped steps are a finite set of pairs.
        CheckConstraint(
            f"field <> 'status' OR (entity = 'item' AND {_in('new_value', Status)} AND "
            f"(old_value IS NULL OR {_in('old_value', Status)}))",
            name="status_values",
        ),
        Index("ix_history_entity", "entity", "entity_key", "id"),
        # Partial: an item's latest status row in one seek.
        Index(
            "ix_history_status_latest",
            "entity_key",
            "id",
            sqlite_where=text("field = 'status'"),
            postgresql_where=text("field = 'status'"),
        ),
        # Partial: only status rows, so gap detection seeks the few illegal pairs.
        Index(
            "ix_history_transition",
            "old_value",
            "new_value",
            "entity_key",
            sqlite_where=text("field = 'status'"),
            postgresql_where=text("field = 'status'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(128))
    entity: Mapped[str] = mapped_column(String(16))
    entity_key: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(128))


class ItemTally(Base):
    """How many items share a department, system, bureau, origin and status.

    Kept in step with ``delegated_item`` by triggers (see the 0001 migration), so the
    coverage audit reads a few hundred rows however long the ledger grows.
    ``department_code`` is '' for items not yet assigned (a key column cannot be NULL).
    """

    __tablename__ = "item_tally"

    department_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    system_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    source_bureau_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    origin: Mapped[Origin] = mapped_column(EnumText(Origin), primary_key=True)
    status: Mapped[Status] = mapped_column(EnumText(Status), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class IdempotencyKey(Base):
    """A mutation already applied: a retry with the same key returns ``result`` unchanged."""

    __tablename__ = "idempotency_key"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    operation: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(Text)  # JSON
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# -- the service catalogue (事项目录) ------------------------------------------------------


class ServiceCategory(StrEnum):
    """The categories of application-based government services, as catalogues publish them."""

    LICENSING = "行政许可"
    PAYMENT = "行政给付"
    CONFIRMATION = "行政确认"
    REWARD = "行政奖励"
    ADJUDICATION = "行政裁决"
    OTHER_POWER = "其他行政权力"
    PUBLIC_SERVICE = "公共服务"


class ServiceItem(Base):
    """One item of the service catalogue with its service guide (办事指南).

    Handled by a receiving department, or by a city bureau's forward window in the
    centre (``window_bureau_code``). Limits are in ``limit_unit`` (working days unless
    the source counts calendar days); ``cases`` and ``online_cases`` are the item's
    cases in the reporting year and how many were handled online.
    """

    __tablename__ = "service_item"
    __table_args__ = (
        CheckConstraint(_in("category", ServiceCategory), name="category"),
        CheckConstraint(_in("limit_unit", LimitUnit), name="limit_unit"),
        CheckConstraint("department_code IS NOT NULL OR window_bureau_code IS NOT NULL", name="handled_by"),
        CheckConstraint("promised_limit > 0 AND promised_limit <= statutory_limit", name="limits"),
        CheckConstraint("online_depth BETWEEN 1 AND 4", name="online_depth"),
        CheckConstraint("materials_before >= 0", name="materials_before"),
        CheckConstraint("online_cases >= 0 AND online_cases <= cases", name="cases"),
        Index("ix_service_item_department", "department_code"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    department_code: Mapped[str | None] = mapped_column(ForeignKey("department.code"))
    window_bureau_code: Mapped[str | None] = mapped_column(ForeignKey("bureau.code"))
    category: Mapped[ServiceCategory] = mapped_column(EnumText(ServiceCategory))
    domain: Mapped[str] = mapped_column(String(32))  # 事项领域, e.g. 工程建设
    application_based: Mapped[bool] = mapped_column(Boolean)  # 依申请
    in_centre: Mapped[bool] = mapped_column(Boolean)  # 进驻政务服务中心
    conditions: Mapped[str] = mapped_column(Text)  # 受理条件
    procedure: Mapped[str] = mapped_column(Text)  # 办理流程
    materials_before: Mapped[int] = mapped_column(Integer)  # materials asked for before the reform
    statutory_limit: Mapped[int] = mapped_column(Integer)
    promised_limit: Mapped[int] = mapped_column(Integer)
    limit_unit: Mapped[LimitUnit] = mapped_column(EnumText(LimitUnit))
    online_depth: Mapped[int] = mapped_column(Integer)  # 网办深度 1 (信息公开) … 4 (全程网办)
    tolerance: Mapped[bool] = mapped_column(Boolean)  # 容缺受理
    commitment: Mapped[bool] = mapped_column(Boolean)  # 告知承诺制
    parallel_group: Mapped[str | None] = mapped_column(String(64))  # 并联审批: the items handled together
    handbook_code: Mapped[str | None] = mapped_column(String(8))  # the handbook entry (G01…)
    delegated_item_code: Mapped[str | None] = mapped_column(ForeignKey("delegated_item.code"))
    cases: Mapped[int] = mapped_column(Integer)
    online_cases: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ServiceMaterial(Base):
    """One application material of a service item; non-key ones may be owed under 容缺受理."""

    __tablename__ = "service_material"

    item_code: Mapped[str] = mapped_column(ForeignKey("service_item.code"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key: Mapped[bool] = mapped_column(Boolean)


class ServiceItemKind(Base):
    """The approval kind (``domain.records.ITEM_KINDS``) a service item covers: one item per kind."""

    __tablename__ = "service_item_kind"
    __table_args__ = (Index("ix_service_item_kind_item_code", "item_code"),)

    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    item_code: Mapped[str] = mapped_column(ForeignKey("service_item.code"))


class ServiceHistoryEntry(Base):
    """One change to the catalogue: who, when, which item and field, old and new value. Never updated."""

    __tablename__ = "service_history"
    __table_args__ = (Index("ix_service_history_item", "item_code", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(128))
    item_code: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)


ACTOR_MAX = 128  # the history's actor column


def bounded_actor(actor: str, limit: int = ACTOR_MAX) -> str:
    """``actor`` as stored in a column of ``limit`` characters (the history's: ``ACTOR_MAX``).

    A principal's identifier may be longer than the column (a token's ``sub`` has no
    limit of its own): it is then kept as its head and a SHA-256 of the whole, which
    is still one value per principal and never truncated into another's. The access
    log (``registry.access_log``, 200 characters) stores its principals the same way.
    """
    if len(actor) <= limit:
        return actor
    digest = hashlib.sha256(actor.encode()).hexdigest()
    return f"{actor[: limit - 72]}…sha256:{digest}"
