"""Chinese labels for every code a portal displays: one table, one lookup.

``label(Stage.ENGINEERING_PERMIT)`` is ``"工程建设许可"``. The GraphQL answer
carries each label beside its code (``stage`` / ``stageLabel``), so no portal
keeps its own copy. Department titles are the connectors' own (``title``);
approval kinds are named in ``domain.records.ITEM_KINDS``.
"""

from __future__ import annotations

from enum import StrEnum

from domain.changes import Subject
from domain.limits import LimitUnit
from domain.records import (
    EventKind,
    FirePathKind,
    Lifecycle,
    RegistrationType,
    ShelterRequirement,
    Stage,
    Utility,
    UtilityStatus,
)

__all__ = [
    "DEPARTMENT_LABELS",
    "LABELS",
    "PHASED_MODE_LABELS",
    "PHASE_LABELS",
    "SOURCE_STATUS_LABELS",
    "label",
]

LABELS: dict[type[StrEnum], dict[str, str]] = {
    Stage: {
        Stage.LAND_AND_PLANNING: "立项用地规划许可",
        Stage.ENGINEERING_PERMIT: "工程建设许可",
        Stage.CONSTRUCTION_PERMIT: "施工许可",
        Stage.COMPLETION_ACCEPTANCE: "竣工验收",
    },
    Lifecycle: {
        Lifecycle.NOT_STARTED: "未申请",
        Lifecycle.SUBMITTED: "已提交",
        Lifecycle.ACCEPTED: "已受理",
        Lifecycle.IN_REVIEW: "审查中",
        Lifecycle.SUPPLEMENT_REQUIRED: "补齐补正",
        Lifecycle.SUSPENDED: "挂起",
        Lifecycle.APPROVED: "准予许可",
        Lifecycle.REJECTED: "不予许可",
        Lifecycle.WITHDRAWN: "已撤件",
    },
    ShelterRequirement: {
        ShelterRequirement.SHELTER: "结建防空地下室",
        ShelterRequirement.FEE: "缴纳易地建设费",
        ShelterRequirement.EXEMPT: "免建",
    },
    FirePathKind: {
        FirePathKind.DESIGN_REVIEW: "消防设计审查",
        FirePathKind.FILING: "消防设计备案",
    },
    Utility: {
        Utility.WATER: "供水",
        Utility.POWER: "供电",
        Utility.GAS: "供气",
        Utility.TELECOM: "通信",
    },
    UtilityStatus: {
        UtilityStatus.ACCEPTED: "已受理",
        UtilityStatus.SURVEYED: "已踏勘",
        UtilityStatus.CONSTRUCTING: "施工中",
        UtilityStatus.CONNECTED: "已接通",
        UtilityStatus.REJECTED: "不予受理",
    },
    RegistrationType: {
        RegistrationType.FIRST: "首次登记",
        RegistrationType.CHANGE: "变更登记",
        RegistrationType.TRANSFER: "转移登记",
        RegistrationType.MORTGAGE: "抵押登记",
        RegistrationType.CANCELLATION: "注销登记",
        RegistrationType.CORRECTION: "更正登记",
        RegistrationType.OBJECTION: "异议登记",
        RegistrationType.ADVANCE_NOTICE: "预告登记",
        RegistrationType.SEIZURE: "查封登记",
    },
    EventKind: {
        EventKind.SUBMITTED: "提交申请",
        EventKind.ACCEPTED: "受理",
        EventKind.SUPPLEMENT_REQUESTED: "补齐补正告知",
        EventKind.SUPPLEMENT_RETURNED: "补正材料收讫",
        EventKind.SUSPENDED: "挂起",
        EventKind.RESUMED: "恢复办理",
        EventKind.APPROVED: "办结（准予许可）",
        EventKind.REJECTED: "办结（不予许可）",
        EventKind.WITHDRAWN: "撤件",
        EventKind.CERTIFICATE_ISSUED: "出证",
        EventKind.TICKET_ACCEPTED: "报装受理",
        EventKind.TICKET_SURVEYED: "现场踏勘",
        EventKind.TICKET_CONSTRUCTING: "开始施工",
        EventKind.TICKET_CONNECTED: "接通",
        EventKind.TICKET_REJECTED: "不予受理",
        EventKind.REGISTRATION_APPLIED: "申请登记",
        EventKind.REGISTERED: "登簿",
    },
    Subject: {
        Subject.ITEM: "审批事项",
        Subject.REGISTRATION: "不动产登记",
        Subject.UTILITY_TICKET: "联合报装工单",
    },
    LimitUnit: {
        LimitUnit.WORKING_DAYS: "工作日",
        LimitUnit.CALENDAR_DAYS: "自然日",
    },
}

# Phased construction permits (``domain.rules.phased_permit``): modes and phases are plain codes.
PHASED_MODE_LABELS: dict[str, str] = {
    "NONE": "不分阶段",
    "TWO_PHASE": "两阶段（±0.000以下 / 以上）",
    "THREE_PHASE": "三阶段（土方基坑 / 基础及地下室 / ±0.000以上）",
}
PHASE_LABELS: dict[str, str] = {
    "EARTHWORK": "土方开挖及基坑支护阶段",
    "BASEMENT": "基础及地下室（±0.000以下）阶段",
    "BELOW_GROUND": "±0.000以下阶段",
    "ABOVE_GROUND": "±0.000以上阶段",
    "FULL": "施工许可（整体）",
}

# How fresh a department's part of a matter is (the schema's SourceStatus).
SOURCE_STATUS_LABELS: dict[str, str] = {"OK": "实时", "STALE": "缓存副本", "UNAVAILABLE": "暂不可用"}

# Departments by the hub's key: the five connected systems (their connectors carry the same
# titles) and the parts of a matter no one system holds. A connector's own ``title`` wins.
DEPARTMENT_LABELS: dict[str, str] = {
    "planning": "自然资源和规划局",
    "civil_air_defence": "人民防空办公室",
    "fire": "消防救援支队",
    "utilities": "水电气讯联合报装",
    "real_estate": "不动产登记中心",
    "joint_acceptance": "竣工联合验收",
}

for _enum, _labels in LABELS.items():  # every member labelled: a new code without a label fails here
    _missing = [m.value for m in _enum if m not in _labels]
    if _missing:
        raise ValueError(f"{_enum.__name__} members without a label: {_missing}")


def label(code: StrEnum) -> str:
    """The Chinese label of any enum member a portal displays."""
    return LABELS[type(code)][code]
