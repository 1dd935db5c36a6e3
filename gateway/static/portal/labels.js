// Chinese labels for what the portal shows. The hub's answers carry codes
// (stage, lifecycle status, department ...); these are their names on screen.

export const STAGES = [
  ["LAND_AND_PLANNING", "立项用地规划许可"],
  ["ENGINEERING_PERMIT", "工程建设许可"],
  ["CONSTRUCTION_PERMIT", "施工许可"],
  ["COMPLETION_ACCEPTANCE", "竣工验收"],
];

export const DEPARTMENTS = {
  planning: "自然资源和规划",
  civil_air_defence: "人防",
  fire: "消防",
  utilities: "水电气讯联合报装",
  real_estate: "不动产登记",
};

export const STATUS = {
  NOT_STARTED: "未申报",
  SUBMITTED: "已申报",
  ACCEPTED: "已受理",
  IN_REVIEW: "审查中",
  SUPPLEMENT_REQUIRED: "补齐补正",
  SUSPENDED: "挂起",
  APPROVED: "已办结",
  REJECTED: "不予许可",
  WITHDRAWN: "已撤回",
  // utility tickets
  SURVEYED: "已踏勘",
  CONSTRUCTING: "施工中",
  CONNECTED: "已接通",
};

export const FRESHNESS = { OK: "正常", STALE: "缓存", UNAVAILABLE: "暂不可用" };

export const PERMIT_MODES = { NONE: "一次性办理", TWO_PHASE: "两阶段办理", THREE_PHASE: "三阶段办理" };

export const SHELTER = { SHELTER: "结建防空地下室", FEE: "缴纳易地建设费", EXEMPT: "免建" };
export const FIRE_PATHS = { DESIGN_REVIEW: "消防设计审查", FILING: "消防设计备案" };
export const UTILITIES = { WATER: "供水", POWER: "供电", GAS: "供气", TELECOM: "通信" };
export const REGISTRATIONS = {
  FIRST: "首次登记", CHANGE: "变更登记", TRANSFER: "转移登记", MORTGAGE: "抵押登记",
  CANCELLATION: "注销登记", CORRECTION: "更正登记", OBJECTION: "异议登记",
  ADVANCE_NOTICE: "预告登记", SEIZURE: "查封登记",
};

export const GAPS = {
  TAKEN_OVER_WITHOUT_ACCOUNT: "已承接但无业务系统账号",
  DEPARTMENT_WITHOUT_ACCOUNT: "部门缺少业务系统账号",
  CANCELLED_HOLDING_ACCOUNT: "已取消事项仍占用账号",
  HISTORY_SKIPS_STEP: "台账记录跳过环节",
};

export function label(table, code) {
  return (code && table[code]) || code || "—";
}
