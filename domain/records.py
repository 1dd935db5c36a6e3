"""Typed domain records every connector returns.

A connector turns its department's payload into these records, with the
department's vocabulary normalised (``status``) and the raw value kept beside
it (``raw_status``). No GraphQL and no HTTP here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from domain.errors import ConnectorError
from domain.limits import LimitUnit


class Lifecycle(StrEnum):
    """The one lifecycle every department's status vocabulary maps onto."""

    NOT_STARTED = "NOT_STARTED"
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    IN_REVIEW = "IN_REVIEW"
    SUPPLEMENT_REQUIRED = "SUPPLEMENT_REQUIRED"
    SUSPENDED = "SUSPENDED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    WITHDRAWN = "WITHDRAWN"


class Stage(StrEnum):
    """The four approval stages of a construction project."""

    LAND_AND_PLANNING = "LAND_AND_PLANNING"  # 立项用地规划许可
    ENGINEERING_PERMIT = "ENGINEERING_PERMIT"  # 工程建设许可
    CONSTRUCTION_PERMIT = "CONSTRUCTION_PERMIT"  # 施工许可
    COMPLETION_ACCEPTANCE = "COMPLETION_ACCEPTANCE"  # 竣工验收


class EventKind(StrEnum):
    """What happened to an item, on a department's processing history (办件过程)."""

    SUBMITTED = "SUBMITTED"  # 收件 / 申请
    ACCEPTED = "ACCEPTED"  # 受理
    SUPPLEMENT_REQUESTED = "SUPPLEMENT_REQUESTED"  # 补齐补正告知: the clock stops
    SUPPLEMENT_RETURNED = "SUPPLEMENT_RETURNED"  # 补正材料收讫: the clock runs again
    SUSPENDED = "SUSPENDED"  # 挂起: the clock stops
    RESUMED = "RESUMED"  # 恢复办理: the clock runs again
    APPROVED = "APPROVED"  # 办结（准予）
    REJECTED = "REJECTED"  # 办结（不予）
    WITHDRAWN = "WITHDRAWN"  # 撤件
    CERTIFICATE_ISSUED = "CERTIFICATE_ISSUED"  # 出证 / 发证
    TICKET_ACCEPTED = "TICKET_ACCEPTED"  # a utility ticket: 受理
    TICKET_SURVEYED = "TICKET_SURVEYED"  # 踏勘
    TICKET_CONSTRUCTING = "TICKET_CONSTRUCTING"  # 施工
    TICKET_CONNECTED = "TICKET_CONNECTED"  # 接通
    TICKET_REJECTED = "TICKET_REJECTED"  # 不予受理
    REGISTRATION_APPLIED = "REGISTRATION_APPLIED"  # a registration: 申请登记
    REGISTERED = "REGISTERED"  # 登簿


# Events that stop the working-day clock, and the events that start it again.
PAUSE_STARTS: dict[EventKind, EventKind] = {
    EventKind.SUPPLEMENT_REQUESTED: EventKind.SUPPLEMENT_RETURNED,
    EventKind.SUSPENDED: EventKind.RESUMED,
}


@dataclass(frozen=True, slots=True)
class ItemEvent:
    """One step of an item's processing history; ``subject`` names the ticket a utility move is about."""

    on: date
    kind: EventKind
    subject: str | None = None


@dataclass(frozen=True, slots=True)
class ApprovalItem:
    """One approval item a department handles for a project.

    ``kind`` is a stable, department-independent code for what the item is
    (see ``ITEM_KINDS``); the rules engine keys on it. ``paused`` lists the
    (from, until) periods spent in 补齐补正 or 挂起, which the clock skips;
    ``history`` the department's processing steps, whose pause events bound
    the same periods.
    """

    department: str
    kind: str
    name: str
    status: Lifecycle
    raw_status: str
    file_number: str | None = None
    submitted_on: date | None = None
    accepted_on: date | None = None
    decided_on: date | None = None
    statutory_limit_days: int | None = None
    promised_limit_days: int | None = None
    paused: tuple[tuple[date, date | None], ...] = ()
    certificate_number: str | None = None
    missing_materials: tuple[str, ...] = ()  # 容缺受理: materials still owed
    materials_due_on: date | None = None
    on_commitment: bool = False  # 告知承诺制
    limit_unit: LimitUnit = LimitUnit.WORKING_DAYS  # calendar days where the department counts them
    history: tuple[ItemEvent, ...] = ()  # the department's processing history, oldest first


@dataclass(frozen=True, slots=True)
class PermitIssued:
    """A construction permit issued for one phase of a phased permit, or for the whole project.

    Any department may report one among its view's records; the hub's
    ``phasedPermit`` shows, per phase, whether its permit was issued, with the
    number and date, from whichever department reported it.
    """

    phase: str  # EARTHWORK, BASEMENT, BELOW_GROUND, ABOVE_GROUND or FULL (domain.rules' phases)
    permit_number: str
    issued_on: date
    department: str


# Stable item kinds. Connectors map their department's item names onto these.
ITEM_KINDS: dict[str, str] = {
    "planning.conditions": "规划条件批文",
    "planning.land_use_permit": "建设用地规划许可证",
    "planning.design_scheme_review": "建设工程设计方案审查意见",
    "planning.detailed_plan": "修建性详细规划",
    "planning.layout_plan": "总平面图",
    "planning.construction_permit": "建设工程规划许可证",
    "planning.verification": "规划条件核实",
    "civil_air_defence.design_review": "人防工程设计审查",
    "civil_air_defence.acceptance": "人防工程竣工验收备案",
    "fire.design_review": "消防设计审查",
    "fire.design_filing": "消防设计备案",
    "fire.acceptance": "消防验收",
    "fire.acceptance_filing": "消防验收备案",
    "utilities.joint_connection": "水电气讯联合报装",
    "real_estate.registration": "不动产登记",
}


class ShelterRequirement(StrEnum):
    SHELTER = "SHELTER"  # build a shelter the size of the ground floor
    FEE = "FEE"  # pay the relocation fee (易地建设费) instead
    EXEMPT = "EXEMPT"  # plants are exempt


@dataclass(frozen=True, slots=True)
class CivilAirDefenceDecision:
    requirement: ShelterRequirement
    shelter_area_m2: float | None
    fee_yuan: float | None
    status: Lifecycle
    raw_status: str


class FirePathKind(StrEnum):
    DESIGN_REVIEW = "DESIGN_REVIEW"  # special construction project: review, then acceptance
    FILING = "FILING"  # others: filing (备案), may be drawn for a spot check


@dataclass(frozen=True, slots=True)
class FirePath:
    path: FirePathKind
    spot_check_drawn: bool = False


class Utility(StrEnum):
    WATER = "WATER"
    POWER = "POWER"
    GAS = "GAS"
    TELECOM = "TELECOM"


class UtilityStatus(StrEnum):
    ACCEPTED = "ACCEPTED"
    SURVEYED = "SURVEYED"
    CONSTRUCTING = "CONSTRUCTING"
    CONNECTED = "CONNECTED"
    REJECTED = "REJECTED"


@dataclass(frozen=True, slots=True)
class UtilityTicket:
    utility: Utility
    ticket_number: str
    status: UtilityStatus
    raw_status: str
    updated_on: date | None = None


class RegistrationType(StrEnum):
    FIRST = "FIRST"  # 首次
    CHANGE = "CHANGE"  # 变更
    TRANSFER = "TRANSFER"  # 转移
    MORTGAGE = "MORTGAGE"  # 抵押
    CANCELLATION = "CANCELLATION"  # 注销
    CORRECTION = "CORRECTION"  # 更正
    OBJECTION = "OBJECTION"  # 异议
    ADVANCE_NOTICE = "ADVANCE_NOTICE"  # 预告
    SEIZURE = "SEIZURE"  # 查封


@dataclass(frozen=True, slots=True)
class Registration:
    business_number: str
    unit_number: str
    type: RegistrationType
    raw_type: str
    status: Lifecycle
    raw_status: str
    submitted_on: date | None = None
    registered_on: date | None = None
    certificate_number: str | None = None


@dataclass(frozen=True, slots=True)
class SourceMeta:
    """Where a department answer came from: fresh, or stale from the cache.

    A stale copy served because the fresh call failed carries that ``failure``;
    ``fetched_at`` is then the copy's time.
    """

    fetched_at: datetime
    latency_ms: float
    stale: bool = False
    failure: ConnectorError | None = None


@dataclass(frozen=True, slots=True)
class DepartmentView:
    """Everything one department knows about one project.

    Department-specific parts are empty for departments that do not hold them.
    ``records`` is the slot for a plug-in department's own records, which its
    part of a matter shows (built-in departments use the typed fields above).
    """

    department: str
    project_code: str
    items: tuple[ApprovalItem, ...] = ()
    civil_air_defence: CivilAirDefenceDecision | None = None
    fire_path: FirePath | None = None
    utilities: tuple[UtilityTicket, ...] = ()
    registrations: tuple[Registration, ...] = ()
    records: tuple[object, ...] = ()
    source: SourceMeta | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class HealthReport:
    """A department system's own health answer (200 ok / 500 down / 503 maintenance)."""

    department: str
    status: str  # "UP", "DOWN" or "MAINTENANCE"
    latency_ms: float | None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    name: str
    phone: str


@dataclass(frozen=True, slots=True)
class EnterpriseProfile:
    credit_code: str
    name: str
    liaison: Contact | None = None  # key enterprises have a liaison officer
    key_enterprise: bool = False


@dataclass(frozen=True, slots=True)
class ProjectProfile:
    """A project's master data, from the department acting as project directory.

    The hub derives the approval stage from the items; it is not stored here.
    """

    project_code: str
    name: str
    enterprise: EnterpriseProfile
    site: str
    division: str
    parcel_code: str
    floors_above_ground: int
    foundation_depth_m: float
    ground_floor_area_m2: float
    total_area_m2: float
    is_plant: bool
    special_fire: bool
    phased_mode: str  # "NONE", "TWO_PHASE" or "THREE_PHASE"
    agent: Contact | None = None  # 专职管家
    parties_fixed: bool = True  # all parties (builder, designer, supervisor) are contracted
    source: SourceMeta | None = field(default=None, compare=False)
