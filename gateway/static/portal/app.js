// The reference portal: project search, the matter page (live), the auditors' coverage page.
import { Api } from "./api.js";
import { barChart } from "./chart.js";
import { clear, h } from "./dom.js";

// The four stages in order; their Chinese names, like every label, come from the hub.
const STAGE_ORDER = ["LAND_AND_PLANNING", "ENGINEERING_PERMIT", "CONSTRUCTION_PERMIT", "COMPLETION_ACCEPTANCE"];

const config = JSON.parse(document.getElementById("portal-config").textContent || "{}");
const api = new Api(config);
const main = document.getElementById("main");

const day = (value) => value || "—";
let stageNames = {}; // stage code -> its label (approvalGuide answers them, for anyone)

function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString("zh-CN", { hour12: false });
}

function errorsBox(errors) {
  if (!errors || !errors.length) return null;
  return h("div", { class: "notice", role: "alert" },
    h("strong", {}, "部分信息未能取得："),
    h("ul", {}, errors.map((e) => h("li", {}, messageOf(e)))));
}

function messageOf(error) {
  const code = error.extensions && error.extensions.code;
  if (code === "FORBIDDEN" || code === "UNAUTHENTICATED") return `无权查看（${error.message}）：请用有权限的令牌登录`;
  return error.message;
}

// -- sign-in --------------------------------------------------------------------------

function renderSignIn() {
  const box = document.getElementById("signin");
  const stored = sessionStorage.getItem("onematter.portal.token");
  if (stored) {
    clear(box, h("span", {}, "已用令牌登录 "), h("button", { type: "button", onclick: () => { api.token = null; location.reload(); } }, "退出"));
    return;
  }
  if (config.demoToken) {
    clear(box, h("span", { class: "demo" }, `演示身份：${config.demoRole}`));
    return;
  }
  const input = h("input", { type: "password", placeholder: "粘贴访问令牌（Bearer）", "aria-label": "访问令牌" });
  clear(box, input, h("button", { type: "button", onclick: () => { api.token = input.value.trim(); location.reload(); } }, "登录"));
}

// -- search -----------------------------------------------------------------------------

async function searchPage() {
  const input = h("input", { id: "search", type: "search", placeholder: "项目名称、企业名称或项目代码", autofocus: true });
  const results = h("ol", { id: "results", class: "results" });
  const notice = h("div", {});
  clear(main, h("h1", {}, "项目查询"), h("form", { class: "search", onsubmit: (e) => e.preventDefault() }, input), notice, results);
  let asked = 0;
  const show = async () => {
    const words = input.value.trim();
    const mine = ++asked;
    // The hub searches names and code prefixes (matters' filter.search) over what the reader may see.
    const answer = await api.query("PortalSearch", { filter: words ? { search: words } : null });
    if (mine !== asked) return; // a later search has been asked for
    const matters = answer.data && answer.data.matters;
    clear(notice, errorsBox(answer.errors));
    if (!matters) return;
    clear(results, matters.nodes.map((m) => h("li", {},
      h("a", { href: `/portal/matters/${encodeURIComponent(m.projectCode)}` }, m.name || m.projectCode),
      h("span", { class: "meta" }, ` ${m.projectCode} · ${(m.enterprise && m.enterprise.name) || ""} · ${m.stageLabel || ""}`))));
    if (!matters.nodes.length) results.append(h("li", { class: "empty" }, "没有找到匹配的项目"));
    else if (matters.totalCount > matters.nodes.length) results.append(h("li", { class: "more" }, `共 ${matters.totalCount} 个，显示前 ${matters.nodes.length} 个`));
    main.dataset.ready = "true";
  };
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(show, 250);
  });
  const initial = new URLSearchParams(location.search).get("q");
  if (initial) input.value = initial;
  await show();
}

// -- the matter page --------------------------------------------------------------------

function stageLine(stage, stageLabel) {
  const at = STAGE_ORDER.indexOf(stage);
  return h("ol", { class: "stages", "aria-label": "审批阶段" }, STAGE_ORDER.map((code, i) =>
    h("li", { class: i < at ? "done" : i === at ? "current" : "todo", "data-stage": code },
      (code === stage && stageLabel) || stageNames[code] || code)));
}

function freshness(sources) {
  return h("ul", { class: "sources", id: "sources" }, (sources || []).map((src) => {
    let text = src.statusLabel;
    if (src.status === "STALE") text = `${src.statusLabel}（自 ${when(src.fetchedAt)} 起）`;
    if (src.status === "UNAVAILABLE" && src.errorCode) text = `${src.statusLabel}（${src.errorCode}）`;
    if (src.status === "OK" && src.known === false) text = `${src.statusLabel}（尚无该项目）`;
    return h("li", { class: `source ${src.status.toLowerCase()}`, "data-department": src.department, "data-status": src.status },
      h("b", {}, src.departmentLabel), " ", text);
  }));
}

function phases(permit) {
  if (!permit) return h("p", { class: "muted" }, "分阶段施工许可暂无法判断（相关部门未应答）");
  return h("div", { id: "phases" },
    h("p", {}, permit.modeLabel),
    h("ul", { class: "phases" }, permit.phases.map((p) => h("li", { "data-phase": p.phase, "data-eligible": String(p.eligible), class: p.eligible ? "ok" : "wait" },
      h("b", {}, p.name), "：", p.eligible ? "可办理" : `尚缺 ${p.missing.join("、")}`))));
}

function itemsTable(items) {
  const byDept = new Map();
  for (const item of items || []) {
    if (!byDept.has(item.department)) byDept.set(item.department, []);
    byDept.get(item.department).push(item);
  }
  return h("div", { id: "items" }, [...byDept].map(([department, list]) => h("section", { class: "dept", "data-department": department },
    h("h3", {}, list[0].departmentLabel),
    h("table", {},
      h("thead", {}, h("tr", {}, ["事项", "状态", "法定时限", "承诺时限", "已用工作日", "到期日", "办结日", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, list.map((i) => h("tr", { "data-kind": i.kind, "data-status": i.status, class: i.overdue ? "overdue" : "" },
        h("td", {}, i.name, i.fileNumber ? h("small", {}, ` ${i.fileNumber}`) : null),
        h("td", { class: "status" }, i.statusLabel),
        h("td", {}, i.statutoryLimitDays ?? "—"),
        h("td", {}, i.promisedLimitDays ?? "—"),
        h("td", {}, i.workingDaysUsed ?? "—"),
        h("td", {}, day(i.dueOn)),
        h("td", {}, day(i.decidedOn)),
        h("td", {}, [i.overdue ? "已超时限" : null, i.onCommitment ? "告知承诺" : null,
          i.missingMaterials.length ? `容缺：${i.missingMaterials.join("、")}` : null].filter(Boolean).join("；")))))))));
}

function timeline(t) {
  if (!t) return h("p", { class: "muted" }, "暂无");
  return h("div", {},
    h("ol", { class: "timeline", id: "timeline" }, t.events.map((e) =>
      h("li", { "data-kind": e.kind }, h("time", {}, e.date), ` ${e.departmentLabel} · ${e.itemName} · ${e.label}`,
        e.reference ? h("small", {}, ` ${e.reference}`) : null))),
    t.pauses.length ? h("p", { class: "muted" }, "不计时段：", t.pauses.map((p) =>
      `${p.itemName} ${p.reasonLabel} ${p.start} 至 ${p.end || "今"}（${p.workingDays} 个工作日）`).join("；")) : null);
}

function parts(m) {
  const rows = [];
  if (m.civilAirDefence) {
    const c = m.civilAirDefence;
    rows.push(h("li", {}, h("b", {}, "人防："), `${c.requirementLabel}${c.shelterAreaM2 ? ` ${c.shelterAreaM2} m²` : ""}${c.feeYuan ? ` ${c.feeYuan} 元` : ""}（${c.statusLabel}）`));
  }
  if (m.firePath) rows.push(h("li", {}, h("b", {}, "消防："), `${m.firePath.pathLabel}${m.firePath.spotCheckDrawn ? "（已抽中检查）" : ""}`));
  for (const t of m.utilities || []) rows.push(h("li", {}, h("b", {}, `${t.utilityLabel}：`), `${t.ticketNumber} ${t.statusLabel}`));
  for (const r of m.realEstate || []) rows.push(h("li", {}, h("b", {}, `${r.typeLabel}：`), `${r.businessNumber} ${r.statusLabel}`));
  return rows.length ? h("ul", { class: "parts" }, rows) : h("p", { class: "muted" }, "暂无");
}

function renderMatter(target, m, errors) {
  if (!m) {
    clear(target, errorsBox(errors) || h("p", {}, "没有这个项目。"));
    return;
  }
  clear(target,
    h("h1", { id: "matter-name" }, m.name || m.projectCode),
    h("p", { class: "meta" }, `${m.projectCode} · ${(m.enterprise && m.enterprise.name) || ""} · ${m.site || ""}`,
      m.agent ? ` · 专职管家 ${m.agent.name} ${m.agent.phone}` : ""),
    errorsBox(errors),
    stageLine(m.stage, m.stageLabel),
    h("h2", {}, "各部门数据状态"), freshness(m.sources),
    h("h2", {}, "分阶段施工许可"), phases(m.phasedPermit),
    h("h2", {}, "阻碍事项"),
    h("ul", { id: "blockers", class: "blockers" }, (m.blockers || []).map((b) => h("li", { "data-reason": b.reason }, h("b", {}, b.departmentLabel), "：", b.message))),
    (m.blockers || []).length ? null : h("p", { class: "muted" }, "暂无阻碍"),
    h("h2", {}, "下一步需准备"),
    h("ul", { id: "next-steps", class: "steps" }, (m.nextSteps || []).map((step) => h("li", {},
      h("b", {}, step.title), step.materials.length ? `：${step.materials.join("、")}` : "",
      step.guideEntry ? h("small", {}, ` 咨询电话 ${step.guideEntry.contact}，承诺 ${step.guideEntry.promisedDays} 个工作日`) : null))),
    h("h2", {}, "各部门办理事项（工作日时限）"), itemsTable(m.items),
    h("h2", {}, "部门专项"), parts(m),
    h("h2", {}, "办理时间线"), timeline(m.timeline),
  );
}

async function loadStageNames() {
  const answer = await api.query("PortalStages");
  for (const entry of (answer.data && answer.data.approvalGuide) || []) stageNames[entry.stage] = entry.stageLabel;
}

async function matterPage(code) {
  await loadStageNames();
  const view = h("div", { id: "matter" });
  const live = h("div", { id: "live", class: "live", "data-state": "connecting" }, "实时更新：连接中…");
  const log = h("ol", { id: "updates", class: "updates" });
  clear(main, live, view, h("h2", {}, "实时动态"), log);
  const answer = await api.query("PortalMatter", { code });
  renderMatter(view, answer.data && answer.data.matter, answer.errors);
  main.dataset.ready = "true";
  api.subscribe("PortalMatterUpdates", { code }, {
    onState: (state) => {
      live.dataset.state = state;
      live.textContent = {
        live: "实时更新：已连接",
        reconnecting: "实时更新：重新连接中…",
        ended: "实时更新：已结束",
        expired: "实时更新：令牌已失效，请刷新页面或重新登录",
      }[state] || state;
    },
    onUpdate: (payload) => {
      const update = payload.data && payload.data.matterUpdates;
      if (!update) {
        log.prepend(h("li", { class: "error" }, (payload.errors || []).map(messageOf).join("；")));
        return;
      }
      log.prepend(h("li", { "data-update": update.id },
        h("time", {}, when(update.detectedAt)),
        ` ${update.departmentLabel} · ${update.item}：${update.oldStatusLabel || "新建"} → ${update.newStatusLabel}`));
      if (update.matter) renderMatter(view, update.matter, payload.errors);
    },
  });
}

// -- coverage ---------------------------------------------------------------------------

async function coveragePage() {
  clear(main, h("h1", {}, "市级赋权事项承接情况"), h("p", { class: "loading" }, "正在加载…"));
  const answer = await api.query("PortalCoverage");
  const c = answer.data && answer.data.delegationCoverage;
  if (!c) {
    clear(main, h("h1", {}, "市级赋权事项承接情况"), errorsBox(answer.errors || [{ message: "查询失败" }]));
    return;
  }
  const figure = (id, name, value) => h("div", { class: "figure", id }, h("span", { class: "value" }, String(value)), h("span", {}, name));
  const rows = c.byDepartment.map((d) => ({ label: d.name, inForce: d.inForce, takenOver: d.takenOver, accounts: d.activeAccounts }));
  clear(main,
    h("h1", {}, "市级赋权事项承接情况"),
    h("div", { class: "figures" },
      figure("in-force", "在册赋权事项", c.inForce),
      figure("taken-over", "已承接到位", c.takenOver),
      figure("departments", "承接部门", c.departments),
      figure("accounts", "业务系统账号", c.activeAccounts),
      figure("cancelled", "动态调整取消", c.cancelled),
      figure("added", "新增赋权", c.added)),
    h("h2", {}, "各部门承接与账号"),
    barChart(rows, [
      { key: "inForce", label: "在册", className: "in-force" },
      { key: "takenOver", label: "已承接", className: "taken-over" },
      { key: "accounts", label: "账号", className: "accounts" },
    ], { title: "各部门承接与账号" }),
    h("h2", {}, "缺口"),
    c.gaps.length
      ? h("table", { id: "gaps" }, h("tbody", {}, c.gaps.map((g) => h("tr", { "data-kind": g.kind }, h("td", {}, g.detail)))))
      : h("p", { id: "gaps", class: "muted" }, "未发现缺口"),
  );
  const indicators = await api.query("PortalIndicators");
  const rows2 = indicators.data && indicators.data.reformIndicators;
  main.append(h("h2", {}, "改革指标（按当前数据计算）"), rows2
    ? h("table", { id: "indicators" },
      h("thead", {}, h("tr", {}, ["指标", "计算值", "报告值", "计算依据"].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows2.map((i) => h("tr", { "data-key": i.key },
        h("td", {}, i.label), h("td", {}, i.value === null ? "—" : `${i.value}${i.unit}`),
        h("td", {}, `${i.reported}${i.unit}`), h("td", {}, i.basis)))))
    : errorsBox(indicators.errors || [{ message: "改革指标暂不可得" }]));
  main.dataset.ready = "true";
}

// -- routing ----------------------------------------------------------------------------

renderSignIn();
for (const link of document.querySelectorAll("[data-nav]")) {
  if (link.dataset.nav === config.page || (config.page === "matter" && link.dataset.nav === "search")) link.classList.add("active");
}
const pages = { search: searchPage, matter: () => matterPage(config.projectCode), coverage: coveragePage };
(pages[config.page] || searchPage)().catch((e) => {
  clear(main, h("div", { class: "notice", role: "alert" }, `页面出错：${e.message}`));
});
