"""Reference data for the seeded service catalogue (the zone's 事项目录).

The catalogue is built from the seeded ledger (the delegated items the
departments handle in the centre), the handbook's 14 construction-domain
approvals, and the items below that no delegation brought: the city bureaus'
forward windows and the centre's help-and-agency services. Names follow
published catalogues' wording; codes are the hub's own.
"""

from __future__ import annotations

from typing import Final

# The handbook entry each ledger item (by name) is the catalogue item of.
HANDBOOK_ITEMS: Final[dict[str, str]] = {
    "G01": "企业投资项目备案",
    "G02": "建设项目用地预审与选址意见书核发（新办）",
    "G03": "建设用地规划许可证核发（新办）",
    "G04": "建设工程设计方案审查",
    "G05": "修建性详细规划审批",
    "G06": "建设工程规划许可证核发（新办）",
    "G07": "建设工程消防设计审查（新办）",
    "G08": "人民防空工程建设审批（新办）",
    "G09": "建筑工程施工许可证核发（新办）",
    "G11": "建设工程规划条件核实（首次）",
    "G12": "特殊建设工程消防验收（新办）",
    "G13": "人民防空工程竣工验收备案（首次）",
    "G14": "房屋所有权首次登记（首次）",
}

# Items no delegation brought: (name, handler, category, domain, handbook entry or "").
# A handler is a department code or, for a city bureau's forward window, its bureau code.
WINDOW_ITEMS: Final[tuple[tuple[str, str, str, str, str], ...]] = (
    ("水电气讯联合报装", "SPJ", "公共服务", "工程建设", "G10"),
    ("其他建设工程消防设计备案", "SXFZ", "其他行政权力", "工程建设", "G07"),
    ("其他建设工程消防验收备案", "SXFZ", "其他行政权力", "工程建设", "G12"),
    ("特殊建设工程消防设计审查（专家评审）", "SXFZ", "行政许可", "工程建设", ""),
    ("人民防空工程易地建设审批", "SGDB", "行政许可", "工程建设", ""),
    ("人民防空警报设施拆除审批", "SGDB", "行政许可", "工程建设", ""),
    ("建设项目规划选址变更审批", "SZGJ", "行政许可", "工程建设", ""),
    ("临时建设工程规划许可", "SZGJ", "行政许可", "工程建设", ""),
    ("不动产变更登记", "SZGJ", "行政确认", "不动产登记", ""),
    ("不动产转移登记", "SZGJ", "行政确认", "不动产登记", ""),
    ("不动产注销登记", "SZGJ", "行政确认", "不动产登记", ""),
    ("不动产更正登记", "SZGJ", "行政确认", "不动产登记", ""),
    ("不动产异议登记", "SZGJ", "行政确认", "不动产登记", ""),
    ("不动产查封登记", "SZGJ", "行政确认", "不动产登记", ""),
    ("用水报装", "SPJ", "公共服务", "工程建设", ""),
    ("用电报装", "SPJ", "公共服务", "工程建设", ""),
    ("用气报装", "SPJ", "公共服务", "工程建设", ""),
    ("通信报装", "SPJ", "公共服务", "工程建设", ""),
    ("工程建设项目全程帮代办", "SPJ", "公共服务", "工程建设", ""),
    ("企业开办一件事", "SJJ", "公共服务", "市场准入", ""),
    ("企业注销一件事", "SJJ", "公共服务", "市场准入", ""),
    ("开办餐饮店一件事", "SJJ", "公共服务", "市场准入", ""),
    ("开办药店一件事", "SJJ", "公共服务", "市场准入", ""),
    ("开办便利店一件事", "SJJ", "公共服务", "市场准入", ""),
    ("员工招聘一件事", "RSJ", "公共服务", "人力社保", ""),
    ("企业职工退休一件事", "RSJ", "公共服务", "人力社保", ""),
    ("就业创业补贴申领", "RSJ", "行政给付", "人力社保", ""),
    ("稳岗返还申领", "RSJ", "行政给付", "人力社保", ""),
    ("高新技术企业认定申报推荐", "KGJ", "公共服务", "科技创新", ""),
    ("科技型中小企业评价入库", "KGJ", "公共服务", "科技创新", ""),
    ("企业研发费用奖补申领", "KGJ", "行政奖励", "科技创新", ""),
    ("重点企业联络员服务", "JFJ", "公共服务", "投资项目", ""),
    ("惠企政策兑现申报", "CZJ", "行政给付", "财政", ""),
    ("建设工程施工扬尘防治方案备案", "CGJ", "其他行政权力", "城市管理", ""),
    ("生产经营单位安全生产标准化自评备案", "YJJ", "其他行政权力", "应急管理", ""),
    ("民办非企业单位年度检查", "SYJ", "行政确认", "社会事业", ""),
)

# Ledger items that are the departments' own duties, not applications (依职权): in the
# catalogue, neither application-based nor in the centre.
DUTY_CATEGORY: Final = "其他行政权力"

# The approval domain (事项领域) of a ledger item, by its business system.
DOMAIN_BY_SYSTEM: Final[dict[str, str]] = {
    "TZSP": "投资项目",
    "GTKJ": "工程建设",
    "BDCD": "不动产登记",
    "GCJS": "工程建设",
    "JZSC": "建筑市场",
    "HPSP": "工程建设",
    "PWXK": "生态环境",
    "RFGC": "工程建设",
    "XFJD": "工程建设",
    "SCZT": "市场准入",
    "TZSB": "市场准入",
    "SPJY": "市场准入",
    "RSYT": "人力社保",
    "YJZH": "应急管理",
    "CGZF": "城市管理",
    "DLYS": "交通运输",
    "QSXK": "水利",
    "WSJD": "卫生健康",
    "JYSP": "教育",
    "GXXM": "工业和信息化",
    "SWBA": "商务",
    "CZYW": "财政",
    "WLSC": "文化旅游",
}
CONSTRUCTION_DOMAIN: Final = "工程建设"

# 并联审批: the construction-domain licensing items handled together, by stage.
PARALLEL: Final[dict[str, str]] = {
    "建设项目用地预审与选址意见书核发（新办）": "立项用地规划许可阶段",
    "建设用地规划许可证核发（新办）": "立项用地规划许可阶段",
    "临时用地审批（新办）": "立项用地规划许可阶段",
    "建设项目环境影响报告书审批（新办）": "立项用地规划许可阶段",
    "建设项目环境影响报告表审批（新办）": "立项用地规划许可阶段",
    "建设工程规划许可证核发（新办）": "工程建设许可阶段",
    "建设工程规划许可证核发（分期）": "工程建设许可阶段",
    "建筑工程施工许可证核发（新办）": "施工许可阶段",
    "建设工程分阶段施工许可（基坑土方阶段）": "施工许可阶段",
    "建设工程分阶段施工许可（±0.000以下阶段）": "施工许可阶段",
    "建设工程消防设计审查（新办）": "施工许可阶段",
    "特殊建设工程消防设计审查（专家评审）": "施工许可阶段",
    "人民防空工程建设审批（新办）": "施工许可阶段",
    "人民防空工程易地建设审批": "施工许可阶段",
    "城镇污水排入排水管网许可（新办）": "施工许可阶段",
    "建设工程城市建筑垃圾处置核准（工程渣土）": "施工许可阶段",
    "特殊建设工程消防验收（新办）": "竣工验收阶段",
}

# Catalogue items the report names: the first among the 告知承诺 items, the first among the 容缺 ones.
COMMITMENT_NAMED: Final = "公共场所卫生许可（新办）"
TOLERANCE_NAMED: Final = "建筑工程施工许可证核发（新办）"

# Items whose approvals a plug-in department's system holds: (approval kinds covered,
# statutory, promised, unit). Environmental assessments are counted in days, as the
# report counts them (47 against 90).
DEPARTMENT_ITEMS: Final[dict[str, tuple[tuple[str, ...], int, int, str]]] = {
    "建设项目环境影响报告书审批（新办）": (("ecology.report_book",), 180, 90, "CALENDAR_DAYS"),
    "建设项目环境影响报告书审批（变更）": ((), 180, 90, "CALENDAR_DAYS"),
    "建设项目环境影响报告表审批（新办）": (("ecology.report_form",), 60, 30, "CALENDAR_DAYS"),
    "建设项目环境影响报告表审批（变更）": ((), 60, 30, "CALENDAR_DAYS"),
    "建设项目环境影响登记表备案": (("ecology.registration_form",), 5, 1, "WORKING_DAYS"),
    "建设工程质量监督手续办理": (("construction_permit.quality_supervision",), 5, 2, "WORKING_DAYS"),
    "建设工程安全监督手续办理": (("construction_permit.safety_supervision",), 5, 2, "WORKING_DAYS"),
    "建设工程竣工验收备案（首次）": (("construction_permit.joint_acceptance",), 15, 5, "WORKING_DAYS"),
}

# Application materials, before the reform's cuts and after, drawn from in order.
MATERIALS: Final = (
    "申请书（申请表）",
    "营业执照或统一社会信用代码证书",
    "法定代表人身份证明",
    "授权委托书及受托人身份证明",
    "场所产权或使用权证明",
    "相关技术资料",
    "专业技术人员资格证明",
    "管理制度文本",
    "现场照片",
    "设备设施清单",
    "承诺书",
)
NON_KEY: Final = frozenset({"授权委托书及受托人身份证明", "现场照片", "设备设施清单"})
CONDITIONS: Final = (
    "申请人依法设立，具备与申请事项相适应的场所、设施、人员和管理制度；申请材料齐全、符合法定形式"
)
PROCEDURE: Final = "窗口受理→后台分类审批→窗口统一出件"
PUBLIC_PROCEDURE: Final = "一窗受理→帮代办→部门并联办理→窗口统一出件"
