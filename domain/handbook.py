"""The zone's advance-notice handbook: the 14 construction-domain approvals.

Kept as data in the hub (the portal's approvalGuide and every ``nextSteps``
answer come from here). An entry's time limits are not written here: they are
those of the approval kinds it covers, from the one table in ``domain.limits``
(working days; promised limits under half the statutory ones, as the zone's
reform requires). Phone numbers are the service centre's windows (Hengyang
area code 0734).
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.limits import TimeLimit, limit_of
from domain.records import Stage


@dataclass(frozen=True, slots=True)
class GuideEntry:
    code: str
    name: str
    department: str  # the hub's department key, or the non-connected department's name
    stage: Stage
    basis: str
    conditions: tuple[str, ...]
    materials: tuple[str, ...]
    process: tuple[str, ...]
    contact: str
    item_kinds: tuple[str, ...]  # ITEM_KINDS this entry covers; empty if no connected system
    # The approval kind whose limits the entry publishes when no connected system holds it.
    unconnected_kind: str | None = None

    @property
    def limits(self) -> tuple[tuple[str, TimeLimit], ...]:
        """(approval kind, limits) for every kind the entry covers, from ``domain.limits``."""
        kinds = self.item_kinds or ((self.unconnected_kind,) if self.unconnected_kind else ())
        return tuple((kind, limit_of(kind)) for kind in kinds)

    @property
    def limit(self) -> TimeLimit:
        """The entry's headline limits: those of its first (main) kind.

        An entry covering a review and its lighter filing path (消防设计审查 /
        备案) publishes both in ``limits``; the headline is the review's.
        """
        return self.limits[0][1]

    @property
    def statutory_days(self) -> int:
        return self.limit.statutory

    @property
    def promised_days(self) -> int:
        return self.limit.promised


_WINDOW = ("窗口受理", "后台分类审批", "窗口统一出件")

HANDBOOK: tuple[GuideEntry, ...] = (
    GuideEntry(
        code="G01",
        name="企业投资项目备案",
        department="发展和改革局",
        stage=Stage.LAND_AND_PLANNING,
        basis="《企业投资项目核准和备案管理条例》（国务院令第673号）第十三条",
        conditions=("属于备案管理的企业投资项目", "项目单位已取得统一社会信用代码"),
        materials=(
            "项目单位基本情况",
            "项目名称、建设地点、建设规模及内容",
            "项目总投资额",
            "符合产业政策的声明",
        ),
        process=("在线平台填报", "赋码备案", "信息公开"),
        contact="0734-8812001",
        item_kinds=(),
        unconnected_kind="development_reform.project_filing",
    ),
    GuideEntry(
        code="G02",
        name="建设项目用地预审与选址意见书",
        department="planning",
        stage=Stage.LAND_AND_PLANNING,
        basis="《中华人民共和国土地管理法》第五十二条；《中华人民共和国城乡规划法》第三十六条",
        conditions=("项目已备案或核准", "选址符合国土空间规划"),
        materials=("建设项目用地预审与选址申请表", "项目备案证明", "标注拟选址范围的地形图"),
        process=_WINDOW,
        contact="0734-8812101",
        item_kinds=(),
        unconnected_kind="planning.site_selection",
    ),
    GuideEntry(
        code="G03",
        name="规划条件及建设用地规划许可证核发",
        department="planning",
        stage=Stage.LAND_AND_PLANNING,
        basis="《中华人民共和国城乡规划法》第三十八条",
        conditions=("已取得规划条件", "已签订国有建设用地使用权出让合同"),
        materials=("建设用地规划许可申请表", "国有建设用地使用权出让合同", "规划条件批文", "宗地界址图"),
        process=_WINDOW,
        contact="0734-8812102",
        item_kinds=("planning.conditions", "planning.land_use_permit"),
    ),
    GuideEntry(
        code="G04",
        name="建设工程设计方案审查",
        department="planning",
        stage=Stage.ENGINEERING_PERMIT,
        basis="《中华人民共和国城乡规划法》第四十条；《湖南省实施〈中华人民共和国城乡规划法〉办法》",
        conditions=("已取得建设用地规划许可证", "设计方案符合规划条件"),
        materials=("设计方案审查申请表", "建设工程设计方案文本及电子文件", "建设用地规划许可证"),
        process=("窗口受理", "方案公示", "后台分类审批", "窗口统一出件"),
        contact="0734-8812103",
        item_kinds=("planning.design_scheme_review",),
    ),
    GuideEntry(
        code="G05",
        name="修建性详细规划及总平面图审批",
        department="planning",
        stage=Stage.ENGINEERING_PERMIT,
        basis="《中华人民共和国城乡规划法》第二十一条、第四十条",
        conditions=("已取得规划条件批文", "修建性详细规划符合控制性详细规划"),
        materials=("修建性详细规划文本及图纸", "总平面图（含竖向设计）", "规划条件批文"),
        process=_WINDOW,
        contact="0734-8812104",
        item_kinds=("planning.detailed_plan", "planning.layout_plan"),
    ),
    GuideEntry(
        code="G06",
        name="建设工程规划许可证核发",
        department="planning",
        stage=Stage.ENGINEERING_PERMIT,
        basis="《中华人民共和国城乡规划法》第四十条",
        conditions=("设计方案已审查通过", "已缴清相关规费"),
        materials=("建设工程规划许可申请表", "建设工程设计方案审查意见", "施工图设计文件（规划部分）"),
        process=_WINDOW,
        contact="0734-8812105",
        item_kinds=("planning.construction_permit",),
    ),
    GuideEntry(
        code="G07",
        name="特殊建设工程消防设计审查（其他建设工程消防设计备案）",
        department="fire",
        stage=Stage.CONSTRUCTION_PERMIT,
        basis="《建设工程消防设计审查验收管理暂行规定》（住房和城乡建设部令第51号）第十五条",
        conditions=("属于特殊建设工程的须经审查；其他建设工程实行备案抽查",),
        materials=("消防设计审查申请表", "消防设计文件", "依法需要批准的临时性建筑证明文件"),
        process=("窗口受理", "技术审查（需专家评审的另计20个工作日）", "窗口统一出件"),
        contact="0734-8812201",
        item_kinds=("fire.design_review", "fire.design_filing"),
    ),
    GuideEntry(
        code="G08",
        name="人防工程设计审查（结建或易地建设审批）",
        department="civil_air_defence",
        stage=Stage.CONSTRUCTION_PERMIT,
        basis="《中华人民共和国人民防空法》第二十二条；《湖南省实施〈中华人民共和国人民防空法〉办法》",
        conditions=(
            "十层以上或基础埋深3米以上的民用建筑按首层面积修建防空地下室",
            "工业厂房免建；其他民用建筑缴纳易地建设费",
        ),
        materials=(
            "人防工程设计审查申请表",
            "人防工程施工图",
            "建设工程规划许可证",
            "易地建设费缴费凭证（易地建设的）",
        ),
        process=_WINDOW,
        contact="0734-8812301",
        item_kinds=("civil_air_defence.design_review",),
    ),
    GuideEntry(
        code="G09",
        name="建筑工程施工许可证核发（可分阶段办理）",
        department="住房和城乡建设局",
        stage=Stage.CONSTRUCTION_PERMIT,
        basis="《中华人民共和国建筑法》第八条；《建筑工程施工许可管理办法》",
        conditions=(
            "土方开挖及基坑支护阶段：取得规划条件批文",
            "基础及地下室（±0.000以下）阶段：取得修建性详细规划、总平面图和设计方案审查意见",
            "±0.000以上（整体）阶段：取得建设工程规划许可证、消防设计审查意见（须审查的）和人防审批",
            "各阶段均须取得用地批准手续并确定全部参建单位",
        ),
        materials=(
            "施工许可申请表",
            "用地批准手续",
            "中标通知书及施工合同",
            "施工图审查合格书",
            "质量安全监督手续",
        ),
        process=_WINDOW,
        contact="0734-8812401",
        item_kinds=(),
        unconnected_kind="construction_permit.permit",
    ),
    GuideEntry(
        code="G10",
        name="水电气讯联合报装",
        department="utilities",
        stage=Stage.CONSTRUCTION_PERMIT,
        basis="《优化营商环境条例》第二十八条",
        conditions=("已取得建筑工程施工许可（含分阶段）",),
        materials=("联合报装申请表（一表申请）", "用电、用水、用气、通信需求表", "项目红线图"),
        process=("一表申请", "联合踏勘", "并联施工", "通水通电通气通讯"),
        contact="0734-8812501",
        item_kinds=("utilities.joint_connection",),
    ),
    GuideEntry(
        code="G11",
        name="规划条件核实",
        department="planning",
        stage=Stage.COMPLETION_ACCEPTANCE,
        basis="《中华人民共和国城乡规划法》第四十五条",
        conditions=("工程已竣工", "已完成竣工测绘"),
        materials=("规划条件核实申请表", "竣工测绘报告", "建设工程规划许可证"),
        process=("联合验收窗口受理", "现场核实", "窗口统一出件"),
        contact="0734-8812106",
        item_kinds=("planning.verification",),
    ),
    GuideEntry(
        code="G12",
        name="特殊建设工程消防验收（其他建设工程消防验收备案）",
        department="fire",
        stage=Stage.COMPLETION_ACCEPTANCE,
        basis="《建设工程消防设计审查验收管理暂行规定》（住房和城乡建设部令第51号）第二十六条",
        conditions=("工程已竣工并完成消防查验",),
        materials=("消防验收申请表", "工程竣工验收报告", "涉及消防的建设工程竣工图纸"),
        process=("联合验收窗口受理", "现场评定", "窗口统一出件"),
        contact="0734-8812202",
        item_kinds=("fire.acceptance", "fire.acceptance_filing"),
    ),
    GuideEntry(
        code="G13",
        name="人防工程竣工验收备案",
        department="civil_air_defence",
        stage=Stage.COMPLETION_ACCEPTANCE,
        basis="《中华人民共和国人民防空法》；《人民防空工程质量监督管理规定》",
        conditions=("防空地下室已竣工",),
        materials=("人防工程竣工验收备案表", "人防工程竣工图"),
        process=("联合验收窗口受理", "窗口统一出件"),
        contact="0734-8812302",
        item_kinds=("civil_air_defence.acceptance",),
    ),
    GuideEntry(
        code="G14",
        name="不动产首次登记",
        department="real_estate",
        stage=Stage.COMPLETION_ACCEPTANCE,
        basis="《不动产登记暂行条例》第二十条",
        conditions=("已通过竣工联合验收", "已完成房屋测绘"),
        materials=("不动产登记申请书", "建设工程符合规划的材料", "房屋已竣工的材料", "房地产调查或测绘报告"),
        process=("帮代办受理", "审核", "登簿", "缮证", "发证"),
        contact="0734-8812601",
        item_kinds=("real_estate.registration",),
    ),
)

for _entry in HANDBOOK:  # every entry publishes limits: a kind missing from the table fails here
    if not _entry.limits:
        raise ValueError(f"handbook entry {_entry.code} covers no approval kind")

BY_KIND: dict[str, GuideEntry] = {kind: e for e in HANDBOOK for kind in e.item_kinds}
BY_CODE: dict[str, GuideEntry] = {e.code: e for e in HANDBOOK}
