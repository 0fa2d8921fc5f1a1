// The health board: online rate (在线率) and intact rate (完好率) overall, per node, per area
// and per brand, the faults, a daily trend drawn here as SVG, and the camera table a page at
// a time (the server filters and pages: 10,000 cameras cost one page of rows). Uses app.js's
// $, el, api and time. Every string from an edge goes in as text.
"use strict";

const HEALTH_PAGE = 100; // cameras a page
const HEALTH_POLL_MS = 30000; // the figures while the tab is open
const HEALTH_MIN_MS = 10000; // at most this often on the live feed's news
const SVG = "http://www.w3.org/2000/svg";

i18nAdd({
  "Patrol outcomes": "巡检结果",
  // the tab (index.html)
  "online rate": "在线率", "intact rate": "完好率", "Refresh": "刷新",
  "cameras": "摄像机数", "online": "在线", "By area": "按区域", "area": "区域",
  "status": "状态", "Faults by check": "按检测项统计故障", "check": "检测项",
  "By brand": "按品牌", "brand": "品牌", "faulty": "故障数", "faults": "故障", "Daily rates": "每日指标",
  "all cameras": "全部摄像机", "90 days": "90 天",
  "daily rates": "每日指标", "any node": "全部节点", "any area": "全部区域", "any brand": "全部品牌",
  "any status": "全部状态", "any fault": "全部故障", "camera name": "摄像机名称",
  "Previous": "上一页", "Next": "下一页", "the camera's newest patrol picture": "该摄像机最近的巡检画面",
  "no picture": "无画面", "Last checks": "最近巡检", "last check": "最近巡检", "abnormal": "异常项",
  "reason": "原因", "value": "数值", "rounds": "轮次",
  "Edges and live cameras": "边缘节点与实时摄像机", "last health": "最近上报",
  // what board.js writes
  "{n} of {all} cameras": "{all} 路中 {n} 路", "as of {time}": "截至 {time}", "(none)": "（无）",
  "{n} cameras": "{n} 路摄像机", "{first}–{last} of {all}": "第 {first}–{last} 路，共 {all} 路",
  "none": "无", "source": "来源", "stream": "码流", "stream {state}": "视频流{state}",
  "no samples yet": "暂无数据",
  "status:ok": "正常", "status:fault": "故障", "status:login_failed": "登录失败",
  "status:unreachable": "无法连接", "status:no_stream": "无视频流", "status:offline": "离线",
  "status:stale": "数据过期",
  "check_state:normal": "正常", "check_state:abnormal": "异常", "check_state:not_checked": "未检测",
  "source:patrol": "巡检", "source:live": "实时",
  "node:online": "在线", "node:offline": "离线", "node:unknown": "未知",
  "camera:connecting": "连接中", "camera:streaming": "取流正常", "camera:stalled": "取流停滞",
  "camera:backing_off": "等待重连", "camera:stopped": "已停止", "camera:degraded": "画面异常",
  "camera:unknown": "未知",
});
const health = {offset: 0, total: 0, last: 0, poll: null, selected: null, scopes: "",
  b: null, page: null, camera: null, trend: null, nodes: null}; // the last answers, redrawn on a switch
// patrol's checks are the alert types its faults raise: one vocabulary
const checkWord = (name) => trWord("type", name);

// A camera's reason: the center's "stream <state>" in words, an edge's own text as data.
function reasonNode(reason) {
  const m = /^stream (\w+)$/.exec(reason ?? "");
  return m ? tr("stream {state}", {state: trWord("camera", m[1])}) : data(reason);
}

async function loadBoard(force = true) {
  loadEdges();
  if (!force && Date.now() - health.last < HEALTH_MIN_MS) return;
  health.last = Date.now();
  await Promise.all([loadHealth(), loadCameras(), loadTrend()]);
  if (!health.poll) {
    health.poll = setInterval(() => {
      if ($("#tab-board").hidden || !me) return;
      loadBoard(false);
    }, HEALTH_POLL_MS);
  }
}

function pct(rate) {
  return rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(1)} %`;
}

// -- the figures ---------------------------------------------------------------------------
async function loadHealth() {
  health.b = await api("/api/health");
  drawHealth();
}

function drawHealth() {
  const b = health.b;
  const o = b.overall;
  $("#rate-online").textContent = pct(o.online_rate);
  $("#rate-online-n").textContent = tr("{n} of {all} cameras", {n: o.online, all: o.cameras});
  $("#rate-intact").textContent = pct(o.intact_rate);
  $("#rate-intact-n").textContent = tr("{n} of {all} cameras", {n: o.intact, all: o.cameras});
  $("#health-at").textContent = tr("as of {time}", {time: trTime(b.at)});
  const name = (v) => (v === null || v === undefined ? el("td", {text: tr("(none)")}) : el("td", {translate: "no", text: v}));
  const rateRow = (key, r) => el("tr", {"data-key": r[key] ?? "", class: "pick"},
    name(r[key]), el("td", {text: String(r.cameras)}),
    el("td", {text: String(r.online)}), el("td", {class: "online-rate", text: pct(r.online_rate)}),
    el("td", {text: String(r.intact)}), el("td", {class: "intact-rate", text: pct(r.intact_rate)}));
  fillRows("#health-nodes", b.nodes.map((r) => rateRow("node", r)), "node");
  fillRows("#health-areas", b.areas.map((r) => rateRow("area", r)), "area");
  fillRows("#health-statuses", Object.entries(b.statuses).map(([s, n]) =>
    el("tr", {"data-key": s, class: `pick status-${s}`}, el("td", {text: trWord("status", s)}), el("td", {text: String(n)}))), "status");
  fillRows("#health-faults", b.faults.map((f) =>
    el("tr", {"data-key": f.check, class: "pick"}, el("td", {text: checkWord(f.check)}), el("td", {text: String(f.cameras)}))), "check");
  fillRows("#health-brands", b.brands.map((r) => el("tr", {"data-key": r.brand ?? "", class: "pick"},
    name(r.brand), el("td", {text: String(r.cameras)}),
    el("td", {class: "online-rate", text: pct(r.online_rate)}), el("td", {class: "intact-rate", text: pct(r.intact_rate)}),
    el("td", {text: String(r.statuses.fault || 0)}),
    el("td", {text: Object.entries(r.faults).map(([k, n]) => `${checkWord(k)} ${n}`).join(", ")}))), "brand");
  options("node", b.nodes.map((r) => r.node));
  options("area", b.areas.map((r) => r.area).filter((a) => a !== null));
  options("brand", b.brands.map((r) => r.brand).filter((a) => a !== null));
  options("status", Object.keys(b.statuses), (v) => trWord("status", v));
  options("check", b.faults.map((f) => f.check), checkWord);
  const scopes = [...b.nodes.map((r) => `node:${r.node}`), ...b.areas.filter((r) => r.area !== null).map((r) => `area:${r.area}`)];
  // rebuilt only when they change (a choice stays) or the language does
  if (`${i18nLang}\n${scopes.join("\n")}` !== health.scopes) {
    health.scopes = `${i18nLang}\n${scopes.join("\n")}`;
    const select = $("#trend-scope");
    const keep = select.value;
    // a node's or an area's name is data: its option is not translated, its word is
    select.replaceChildren(el("option", {value: "", text: tr("all cameras")}),
      ...scopes.map((s) => el("option", {value: s, translate: "no",
        text: `${tr(s.split(":")[0])}: ${s.slice(s.indexOf(":") + 1)}`})));
    select.value = scopes.includes(keep) ? keep : "";
  }
}

// Rows that set the camera table's filter when clicked (a second click clears it).
function fillRows(table, rows, filter) {
  for (const tr of rows) {
    tr.addEventListener("click", () => {
      const field = $(`#camera-filters [name=${filter}]`);
      const value = tr.dataset.key;
      if (!value) return;
      field.value = field.value === value ? "" : value;
      health.offset = 0;
      loadCameras();
    });
  }
  $(`${table} tbody`).replaceChildren(...rows);
}

// A filter's choices: what the figures know, keeping the one chosen; `label`: a vocabulary's
// words, else the values are data (names).
function options(name, values, label = null) {
  const select = $(`#camera-filters [name=${name}]`);
  const keep = select.value;
  const first = select.options[0];
  const all = [...new Set([...values, ...(keep ? [keep] : [])])];
  select.replaceChildren(first, ...all.map((v) => el("option", label ? {value: v, text: label(v)}
    : {value: v, text: v, translate: "no"})));
  select.value = keep;
}

// -- the camera table -------------------------------------------------------------------------
function cameraQuery() {
  const q = new URLSearchParams();
  for (const [k, v] of new FormData($("#camera-filters"))) if (v) q.set(k, v);
  return q;
}

async function loadCameras() {
  const q = cameraQuery();
  $("#camera-csv").href = `/api/health/cameras.csv?${q}`;
  $("#camera-csv").hidden = me?.role === "operator"; // the export is for supervisors
  q.set("offset", String(health.offset));
  q.set("limit", String(HEALTH_PAGE));
  const newest = ask("cameras");
  const page = await api(`/api/health/cameras?${q}`);
  if (!newest()) return;
  health.page = page;
  drawCameras();
}

function drawCameras() {
  const page = health.page;
  health.total = page.total;
  $("#cameras tbody").replaceChildren(...page.cameras.map(cameraRow));
  const last = Math.min(health.offset + HEALTH_PAGE, page.total);
  $("#camera-count").textContent = tr("{n} cameras", {n: page.total});
  $("#camera-page").textContent = page.total ? tr("{first}–{last} of {all}",
    {first: health.offset + 1, last, all: page.total}) : tr("none");
  $("#camera-prev").disabled = health.offset === 0;
  $("#camera-next").disabled = last >= page.total;
}

function cameraRow(c) {
  const line = el("tr", {"data-node": c.node, "data-camera": c.camera, class: `status-${c.status}`},
    el("td", {translate: "no", text: c.node}), el("td", {translate: "no", text: c.camera}),
    el("td", {translate: "no", text: c.area ?? ""}), el("td", {translate: "no", text: c.brand ?? ""}),
    el("td", {class: "status", text: trWord("status", c.status)}),
    el("td", {text: trTime(c.checked_at)}), el("td", {class: "abnormal", text: c.faults.map(checkWord).join(", ")}),
    el("td", {}, reasonNode(c.reason)));
  line.addEventListener("click", () => openCamera(c.node, c.camera));
  return line;
}

$("#camera-filters").addEventListener("submit", (e) => {
  e.preventDefault();
  health.offset = 0;
  loadCameras();
});
for (const s of document.querySelectorAll("#camera-filters select")) {
  s.addEventListener("change", () => { health.offset = 0; loadCameras(); });
}
$("#camera-prev").addEventListener("click", () => {
  health.offset = Math.max(0, health.offset - HEALTH_PAGE);
  loadCameras();
});
$("#camera-next").addEventListener("click", () => {
  if (health.offset + HEALTH_PAGE < health.total) health.offset += HEALTH_PAGE;
  loadCameras();
});
$("#health-refresh").addEventListener("click", () => loadBoard());

// -- one camera: its picture, its last result's checks, its last checks -------------------------
async function openCamera(node, camera) {
  const path = `/api/health/cameras/${encodeURIComponent(node)}/${encodeURIComponent(camera)}`;
  health.selected = path;
  const c = await api(path);
  if (health.selected !== path) return; // another was opened meanwhile
  health.camera = c;
  drawCamera();
}

function drawCamera() {
  const c = health.camera;
  const path = health.selected;
  $("#camera-detail").hidden = false;
  $("#camera-title").replaceChildren(data(`${c.node} / ${c.camera}`));
  const img = $("#camera-img");
  img.hidden = !c.snapshot;
  $("#camera-noimg").hidden = c.snapshot;
  if (c.snapshot) img.src = `${path}/snapshot?at=${encodeURIComponent(c.checked_at)}`;
  else img.removeAttribute("src");
  const r = c.result;
  const facts = [["status", trWord("status", c.status)], ["source", trWord("source", c.source)],
    ["area", data(c.area)], ["brand", data(c.brand)], ["last check", trTime(c.checked_at)],
    ["abnormal", c.faults.map(checkWord).join(", ")], ["reason", reasonNode(c.reason)]];
  if (r?.stream) facts.push(["stream", data(`${r.stream.codec ?? "?"} ${r.stream.width ?? "?"}×${r.stream.height ?? "?"}`)]);
  $("#camera-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {text: tr(k)}), el("dd", {}, v)]));
  $("#camera-checks tbody").replaceChildren(...Object.entries(r?.checks || {}).map(([name, k]) =>
    el("tr", {class: `check-${k.state}`}, el("td", {text: checkWord(name)}), el("td", {text: trWord("check_state", k.state)}),
      el("td", {text: k.value === null ? "" : String(k.value)}), el("td", {text: trTime(k.since)}),
      el("td", {text: k.rounds === undefined ? "" : String(k.rounds)}))));
  $("#camera-history").replaceChildren(...c.history.map((h) => el("li", {class: `status-${h.outcome}`},
    `${trTime(h.checked_at)} · ${trWord("status", h.outcome)}${h.faults.length ? " · " + h.faults.map(checkWord).join(", ") : ""}`,
    ...(h.reason ? [" · ", reasonNode(h.reason)] : []))));
}

// -- the trend: daily online and intact rates, an SVG drawn here ---------------------------------
async function loadTrend() {
  const q = new URLSearchParams({scope: $("#trend-scope").value, days: $("#trend-days").value});
  const {days} = await api(`/api/health/trend?${q}`);
  health.trend = [days, Number($("#trend-days").value)];
  drawTrend(...health.trend);
}
$("#trend-scope").addEventListener("change", loadTrend);
$("#trend-days").addEventListener("change", loadTrend);

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== null) node.textContent = text;
  return node;
}

function drawTrend(days, span) {
  const W = 640, H = 200, L = 44, R = 12, T = 10, B = 26;
  const chart = $("#trend");
  const parts = [];
  const y = (rate) => T + (1 - rate) * (H - T - B);
  for (const r of [0, 0.5, 1]) {
    parts.push(svg("line", {x1: L, x2: W - R, y1: y(r), y2: y(r), class: "grid"}));
    parts.push(svg("text", {x: L - 6, y: y(r) + 4, "text-anchor": "end"}, `${r * 100} %`));
  }
  // the last `span` days end today (the newest day the store has, or today's date)
  const dayMs = 86400000;
  const end = days.length ? Date.parse(days[days.length - 1].day) : Date.parse(new Date().toISOString().slice(0, 10));
  const start = end - (span - 1) * dayMs;
  const x = (day) => L + (span > 1 ? (Date.parse(day) - start) / ((span - 1) * dayMs) : 0.5) * (W - L - R);
  parts.push(svg("text", {x: L, y: H - 6}, new Date(start).toISOString().slice(0, 10)));
  parts.push(svg("text", {x: W - R, y: H - 6, "text-anchor": "end"}, new Date(end).toISOString().slice(0, 10)));
  for (const key of ["online", "intact"]) {
    const points = days.filter((d) => d[`${key}_rate`] !== null);
    parts.push(svg("polyline", {class: `line ${key}`, points: points.map((d) => `${x(d.day).toFixed(1)},${y(d[`${key}_rate`]).toFixed(1)}`).join(" ")}));
    for (const d of points) {
      const dot = svg("circle", {class: `dot ${key}`, cx: x(d.day).toFixed(1), cy: y(d[`${key}_rate`]).toFixed(1), r: 3, "data-day": d.day});
      dot.append(svg("title", {}, `${d.day}: ${tr(key)} ${pct(d[`${key}_rate`])}`));
      parts.push(dot);
    }
  }
  if (!days.length) parts.push(svg("text", {x: W / 2, y: H / 2, "text-anchor": "middle"}, tr("no samples yet")));
  chart.replaceChildren(...parts);
}

// -- the edges and their live cameras ---------------------------------------------------------------
async function loadEdges() {
  health.nodes = (await api("/api/board")).nodes;
  drawEdges();
}

// a live camera's faults are its open fault alerts' types; an unknown one is the edge's word
const faultWord = (f) => (i18nZh.has(`type:${f}`) ? checkWord(f) : null);

function drawEdges() {
  const rows = [];
  for (const n of health.nodes) {
    const cams = Object.entries(n.health?.cameras || {});
    const status = n.status || "unknown";
    const at = trTime(n.health_at);
    if (!cams.length) rows.push(el("tr", {class: `node-${status}`}, el("td", {translate: "no", text: n.node}), el("td", {text: trWord("node", status)}), el("td"), el("td"), el("td"), el("td", {text: at})));
    for (const [name, c] of cams) {
      const degraded = (c.faults || []).length > 0;
      const state = status === "offline" ? "unknown" : (c.state === "streaming" && degraded ? "degraded" : c.state);
      const faults = (c.faults || []).map((f) => faultWord(f) ?? data(f));
      rows.push(el("tr", {class: `node-${status} cam-${state}`},
        el("td", {translate: "no", text: n.node}), el("td", {text: trWord("node", status)}),
        el("td", {translate: "no", text: name}), el("td", {class: "cam-state", text: trWord("camera", state)}),
        el("td", {}, ...faults.flatMap((f, i) => (i ? [", ", f] : [f]))), el("td", {text: at})));
    }
  }
  $("#board tbody").replaceChildren(...rows);
}

// a switch redraws what the board shows from its last answers
i18nRedraws.push(() => {
  if (health.b) drawHealth();
  if (health.page) drawCameras();
  if (health.camera && !$("#camera-detail").hidden) drawCamera();
  if (health.trend) drawTrend(...health.trend);
  if (health.nodes) drawEdges();
});
