// The statistics: a period (from/to days in the operator's time zone, or a preset), its
// figures, alerts per day (stacked by severity) and per type drawn here as SVG (no library:
// the center runs on closed networks), the noisiest cameras, the rules with most false
// alarms, the nodes; and the CSV export (supervisors and admins). Uses app.js's $, el, api
// and me, board.js's svg, i18n.js's tr, trWord and i18nRedraws. Names from edges go in as
// text, marked translate="no".
"use strict";

i18nAdd({
  "Statistics": "统计", "Today": "今天",
  "From": "从", "To": "到", "Show": "查询",
  "table to export": "导出的表", "Noisiest cameras": "告警最多的摄像机",
  "Rules with most false alarms": "误报最多的规则",
  "Alerts per day": "每日告警", "Alerts per type": "按类型告警",
  "closed": "已结案", "false alarms": "误报数", "false-alarm rate": "误报率",
  "day": "日期", "times": "处置时长",
  "Alerts in the period": "时段内告警", "Closed alerts": "已结案告警",
  "False-alarm rate": "误报率", "still open {n}": "未结案 {n}", "Time to pick up": "接警时长", "Time to close": "结案时长",
  "median {m} · p90 {p}": "中位数 {m} · 90分位 {p}", "{n} alerts timed": "{n} 条计时",
  "{n} min": "{n} 分钟", "{n} h": "{n} 小时",
  "{a} of {b}": "{a} / {b}", "{n} alerts": "{n} 条告警",
  "{day}: {n} alerts": "{day}：{n} 条告警", "no alerts in this period": "本时段无告警",
  "the first {n} of {total}": "共 {total} 个，显示前 {n} 个",
  "the period is {n} days at most": "时段最长 {n} 天", "choose both days": "请选择起止日期",
  "the last day is before the first": "结束日期早于开始日期", "(no rule)": "（无规则）",
});

const STATS_MAX_DAYS = 366;
const STATS_TOP = 20;
const stats = {last: null};

function statsZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

// a day in the operator's zone, as YYYY-MM-DD
function statsDay(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function statsPreset(days) {
  const today = new Date();
  const first = new Date(today.getFullYear(), today.getMonth(), today.getDate() - (days - 1));
  $("#stats-period [name=from]").value = statsDay(first);
  $("#stats-period [name=to]").value = statsDay(today);
}

function statsQuery() {
  return new URLSearchParams({from: $("#stats-period [name=from]").value,
    to: $("#stats-period [name=to]").value, tz: statsZone()});
}

async function loadStats() {
  if (!$("#stats-period [name=from]").value) statsPreset(7);
  const q = statsQuery();
  const from = q.get("from"), to = q.get("to");
  $("#stats-error").textContent = "";
  if (!from || !to) { $("#stats-error").textContent = tr("choose both days"); return; }
  const span = (Date.parse(to) - Date.parse(from)) / 86400000 + 1;
  if (span < 1) { $("#stats-error").textContent = tr("the last day is before the first"); return; }
  if (span > STATS_MAX_DAYS) {
    $("#stats-error").textContent = tr("the period is {n} days at most", {n: STATS_MAX_DAYS});
    return;
  }
  const newest = ask("stats");
  const found = await api(`/api/stats?${q}`);
  if (!newest()) return; // a newer period was asked meanwhile
  stats.last = found;
  $("#stats-zone").textContent = found.tz;
  const csv = $("#stats-csv");
  csv.hidden = me?.role === "operator"; // the export is for supervisors and admins
  $("#stats-table").hidden = csv.hidden;
  statsLink();
  drawStats(found);
}

function statsLink() {
  const q = statsQuery();
  q.set("table", $("#stats-table").value);
  $("#stats-csv").href = `/api/stats.csv?${q}`;
}

function statsPct(rate) {
  return rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(1)} %`;
}

function statsDuration(s) {
  if (s === null || s === undefined) return "—";
  if (s < 60) return tr("{n} s", {n: s.toFixed(1)});
  if (s < 3600) return tr("{n} min", {n: (s / 60).toFixed(1)});
  return tr("{n} h", {n: (s / 3600).toFixed(1)});
}

function drawStats(s) {
  const t = s.total;
  const figure = (id, label, value, sub) => el("div", {class: "figure", id},
    el("span", {class: "label", text: label}), el("strong", {text: value}),
    el("span", {class: "muted", text: sub}));
  const times = (x) => tr("median {m} · p90 {p}", {m: statsDuration(x.median_s), p: statsDuration(x.p90_s)});
  $("#stats-figures").replaceChildren(
    figure("stats-alerts", tr("Alerts in the period"), String(t.alerts), ""),
    figure("stats-closed", tr("Closed alerts"), String(t.closed), tr("still open {n}", {n: t.open})),
    figure("stats-rate", tr("False-alarm rate"), statsPct(t.false_alarm_rate),
      tr("{a} of {b}", {a: t.false_alarms, b: t.closed})),
    figure("stats-pickup", tr("Time to pick up"), times(s.times.pickup),
      tr("{n} alerts timed", {n: s.times.pickup.alerts})),
    figure("stats-close", tr("Time to close"), times(s.times.close),
      tr("{n} alerts timed", {n: s.times.close.alerts})),
    figure("stats-outcomes", tr("Outcomes"), "", Object.entries(s.outcomes).map(
      ([k, n]) => `${trWord("outcome", k)} ${n}`).join(" · ")));
  drawDays(s.days);
  drawTypes(s.types);
  const num = (n) => el("td", {class: "num", text: String(n)});
  const rates = (r) => [num(r.alerts), num(r.closed), num(r.false_alarms),
    el("td", {class: "num rate", text: statsPct(r.false_alarm_rate)})];
  const name = (text) => el("td", {translate: "no", text});
  $("#stats-cameras tbody").replaceChildren(...s.cameras.slice(0, STATS_TOP).map((c) =>
    el("tr", {"data-node": c.node, "data-camera": c.camera}, name(c.node), name(c.camera), ...rates(c))));
  $("#stats-cameras-n").textContent = s.cameras_total > STATS_TOP ?
    tr("the first {n} of {total}", {n: STATS_TOP, total: s.cameras_total}) : "";
  $("#stats-rules tbody").replaceChildren(...s.rules.slice(0, STATS_TOP).map((r) =>
    el("tr", {}, name(r.node), name(r.camera), el("td", {text: trWord("type", r.type)}),
      r.rule === null ? el("td", {class: "muted", text: tr("(no rule)")}) : name(r.rule),
      ...rates(r))));
  $("#stats-nodes tbody").replaceChildren(...s.nodes.map((n) =>
    el("tr", {"data-node": n.node}, name(n.node), ...rates(n))));
}

// -- the charts -----------------------------------------------------------------------------
const STATS_SEVERITIES = ["critical", "warning", "info"]; // bottom to top

// a round top for the y axis: 1, 2 or 5 times a power of ten
function statsCeil(n) {
  if (n <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(n));
  return [1, 2, 5, 10].map((m) => m * p).find((v) => v >= n);
}

function drawDays(days) {
  const W = 640, H = 220, L = 44, R = 12, T = 10, B = 26;
  const top = statsCeil(Math.max(0, ...days.map((d) => d.alerts)));
  const y = (n) => T + (1 - n / top) * (H - T - B);
  const parts = [];
  for (const v of [0, top / 2, top]) {
    parts.push(svg("line", {x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid"}));
    parts.push(svg("text", {x: L - 6, y: y(v) + 4, "text-anchor": "end"}, String(v)));
  }
  const slot = (W - L - R) / Math.max(1, days.length);
  const width = Math.max(1, slot * 0.8);
  days.forEach((d, i) => {
    const x = L + i * slot + (slot - width) / 2;
    let base = 0;
    const bar = svg("g", {class: "day", "data-day": d.day, "data-alerts": d.alerts});
    for (const sev of STATS_SEVERITIES) {
      if (!d[sev]) continue;
      bar.append(svg("rect", {class: `sev ${sev}`, x: x.toFixed(1), width: width.toFixed(1),
        y: y(base + d[sev]).toFixed(1), height: (y(base) - y(base + d[sev])).toFixed(1)}));
      base += d[sev];
    }
    bar.append(svg("title", {}, tr("{day}: {n} alerts", {day: d.day, n: d.alerts})));
    parts.push(bar);
  });
  if (days.length) {
    parts.push(svg("text", {x: L, y: H - 6}, days[0].day));
    parts.push(svg("text", {x: W - R, y: H - 6, "text-anchor": "end"}, days[days.length - 1].day));
  }
  if (!days.some((d) => d.alerts)) {
    parts.push(svg("text", {x: W / 2, y: H / 2, "text-anchor": "middle"}, tr("no alerts in this period")));
  }
  $("#stats-days").replaceChildren(...parts);
  $("#stats-days-key").replaceChildren(...STATS_SEVERITIES.map((s) =>
    el("span", {class: `key sev ${s}`, text: trWord("severity", s)})));
}

function drawTypes(types) {
  const W = 640, L = 130, R = 60, ROW = 22, T = 6;
  const H = Math.max(1, types.length) * ROW + 2 * T;
  const top = Math.max(1, ...types.map((t) => t.alerts));
  const chart = $("#stats-types");
  chart.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const parts = [];
  types.forEach((t, i) => {
    const y = T + i * ROW;
    const w = (t.alerts / top) * (W - L - R);
    const bar = svg("g", {class: "type", "data-type": t.type, "data-alerts": t.alerts});
    bar.append(svg("text", {x: L - 6, y: y + 15, "text-anchor": "end"}, trWord("type", t.type)),
      svg("rect", {x: L, y: y + 3, height: ROW - 6, width: Math.max(1, w).toFixed(1)}),
      svg("text", {x: L + w + 6, y: y + 15}, String(t.alerts)),
      svg("title", {}, `${trWord("type", t.type)}: ${tr("{n} alerts", {n: t.alerts})}`));
    parts.push(bar);
  });
  if (!types.length) parts.push(svg("text", {x: W / 2, y: H / 2 + 4, "text-anchor": "middle"}, tr("no alerts in this period")));
  chart.replaceChildren(...parts);
}

// -- the period picker ------------------------------------------------------------------------
for (const b of document.querySelectorAll("#stats-period [data-preset]")) {
  b.addEventListener("click", () => {
    statsPreset(b.dataset.preset === "today" ? 1 : Number(b.dataset.preset));
    loadStats();
  });
}
$("#stats-period").addEventListener("submit", (e) => { e.preventDefault(); loadStats(); });
$("#stats-table").addEventListener("change", statsLink);
$('nav button[data-tab="stats"]').addEventListener("click", () => loadStats());
i18nRedraws.push(() => { if (stats.last) drawStats(stats.last); });
