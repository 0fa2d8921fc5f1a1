// The health board: online rate (在线率) and intact rate (完好率) overall, per node, per area
// and per brand, the faults, a daily trend drawn here as SVG, and the camera table a page at
// a time (the server filters and pages: 10,000 cameras cost one page of rows). Uses app.js's
// $, el, api and time. Every string from an edge goes in as text.
"use strict";

const HEALTH_PAGE = 100; // cameras a page
const HEALTH_POLL_MS = 30000; // the figures while the tab is open
const HEALTH_MIN_MS = 10000; // at most this often on the live feed's news
const SVG = "http://www.w3.org/2000/svg";
const health = {offset: 0, total: 0, last: 0, poll: null, selected: null, scopes: ""};

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
  const b = await api("/api/health");
  const o = b.overall;
  $("#rate-online").textContent = pct(o.online_rate);
  $("#rate-online-n").textContent = `${o.online} of ${o.cameras} cameras`;
  $("#rate-intact").textContent = pct(o.intact_rate);
  $("#rate-intact-n").textContent = `${o.intact} of ${o.cameras} cameras`;
  $("#health-at").textContent = `as of ${time(new Date(b.at * 1000).toISOString())}`;
  const rateRow = (key, r) => el("tr", {"data-key": r[key] ?? "", class: "pick"},
    el("td", {text: r[key] ?? "(none)"}), el("td", {text: String(r.cameras)}),
    el("td", {text: String(r.online)}), el("td", {class: "online-rate", text: pct(r.online_rate)}),
    el("td", {text: String(r.intact)}), el("td", {class: "intact-rate", text: pct(r.intact_rate)}));
  fillRows("#health-nodes", b.nodes.map((r) => rateRow("node", r)), "node");
  fillRows("#health-areas", b.areas.map((r) => rateRow("area", r)), "area");
  fillRows("#health-statuses", Object.entries(b.statuses).map(([s, n]) =>
    el("tr", {"data-key": s, class: `pick status-${s}`}, el("td", {text: s}), el("td", {text: String(n)}))), "status");
  fillRows("#health-faults", b.faults.map((f) =>
    el("tr", {"data-key": f.check, class: "pick"}, el("td", {text: f.check}), el("td", {text: String(f.cameras)}))), "check");
  fillRows("#health-brands", b.brands.map((r) => el("tr", {"data-key": r.brand ?? "", class: "pick"},
    el("td", {text: r.brand ?? "(none)"}), el("td", {text: String(r.cameras)}),
    el("td", {class: "online-rate", text: pct(r.online_rate)}), el("td", {class: "intact-rate", text: pct(r.intact_rate)}),
    el("td", {text: String(r.statuses.fault || 0)}),
    el("td", {text: Object.entries(r.faults).map(([k, n]) => `${k} ${n}`).join(", ")}))), "brand");
  options("node", b.nodes.map((r) => r.node));
  options("area", b.areas.map((r) => r.area).filter((a) => a !== null));
  options("brand", b.brands.map((r) => r.brand).filter((a) => a !== null));
  options("status", Object.keys(b.statuses));
  options("check", b.faults.map((f) => f.check));
  const scopes = [...b.nodes.map((r) => `node:${r.node}`), ...b.areas.filter((r) => r.area !== null).map((r) => `area:${r.area}`)];
  if (scopes.join("\n") !== health.scopes) { // rebuilt only when they change: a choice stays
    health.scopes = scopes.join("\n");
    const select = $("#trend-scope");
    const keep = select.value;
    select.replaceChildren(el("option", {value: "", text: "all cameras"}),
      ...scopes.map((s) => el("option", {value: s, text: s.replace(":", ": ")})));
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

// A filter's choices: what the figures know, keeping the one chosen.
function options(name, values) {
  const select = $(`#camera-filters [name=${name}]`);
  const keep = select.value;
  const first = select.options[0];
  const all = [...new Set([...values, ...(keep ? [keep] : [])])];
  select.replaceChildren(first, ...all.map((v) => el("option", {value: v, text: v})));
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
  const page = await api(`/api/health/cameras?${q}`);
  health.total = page.total;
  $("#cameras tbody").replaceChildren(...page.cameras.map(cameraRow));
  const last = Math.min(health.offset + HEALTH_PAGE, page.total);
  $("#camera-count").textContent = `${page.total} cameras`;
  $("#camera-page").textContent = page.total ? `${health.offset + 1}–${last} of ${page.total}` : "none";
  $("#camera-prev").disabled = health.offset === 0;
  $("#camera-next").disabled = last >= page.total;
}

function cameraRow(c) {
  const tr = el("tr", {"data-node": c.node, "data-camera": c.camera, class: `status-${c.status}`},
    el("td", {text: c.node}), el("td", {text: c.camera}), el("td", {text: c.area ?? ""}),
    el("td", {text: c.brand ?? ""}), el("td", {class: "status", text: c.status}),
    el("td", {text: time(c.checked_at)}), el("td", {class: "abnormal", text: c.faults.join(", ")}),
    el("td", {text: c.reason ?? ""}));
  tr.addEventListener("click", () => openCamera(c.node, c.camera));
  return tr;
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
  $("#camera-detail").hidden = false;
  $("#camera-title").textContent = `${c.node} / ${c.camera}`;
  const img = $("#camera-img");
  img.hidden = !c.snapshot;
  $("#camera-noimg").hidden = c.snapshot;
  if (c.snapshot) img.src = `${path}/snapshot?at=${encodeURIComponent(c.checked_at)}`;
  else img.removeAttribute("src");
  const r = c.result;
  const facts = [["status", c.status], ["source", c.source], ["area", c.area ?? ""],
    ["brand", c.brand ?? ""], ["last check", time(c.checked_at)], ["abnormal", c.faults.join(", ")],
    ["reason", c.reason ?? ""]];
  if (r?.stream) facts.push(["stream", `${r.stream.codec ?? "?"} ${r.stream.width ?? "?"}×${r.stream.height ?? "?"}`]);
  $("#camera-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {text: k}), el("dd", {text: v})]));
  $("#camera-checks tbody").replaceChildren(...Object.entries(r?.checks || {}).map(([name, k]) =>
    el("tr", {class: `check-${k.state}`}, el("td", {text: name}), el("td", {text: k.state}),
      el("td", {text: k.value === null ? "" : String(k.value)}), el("td", {text: time(k.since)}),
      el("td", {text: k.rounds === undefined ? "" : String(k.rounds)}))));
  $("#camera-history").replaceChildren(...c.history.map((h) => el("li", {class: `status-${h.outcome}`,
    text: `${time(h.checked_at)} · ${h.outcome}${h.faults.length ? " · " + h.faults.join(", ") : ""}${h.reason ? " · " + h.reason : ""}`})));
}

// -- the trend: daily online and intact rates, an SVG drawn here ---------------------------------
async function loadTrend() {
  const q = new URLSearchParams({scope: $("#trend-scope").value, days: $("#trend-days").value});
  const {days} = await api(`/api/health/trend?${q}`);
  drawTrend(days, Number($("#trend-days").value));
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
      dot.append(svg("title", {}, `${d.day}: ${key} ${pct(d[`${key}_rate`])}`));
      parts.push(dot);
    }
  }
  if (!days.length) parts.push(svg("text", {x: W / 2, y: H / 2, "text-anchor": "middle"}, "no samples yet"));
  chart.replaceChildren(...parts);
}

// -- the edges and their live cameras ---------------------------------------------------------------
async function loadEdges() {
  const {nodes} = await api("/api/board");
  const rows = [];
  for (const n of nodes) {
    const cams = Object.entries(n.health?.cameras || {});
    const status = n.status || "unknown";
    const at = n.health_at ? time(new Date(n.health_at * 1000).toISOString()) : "";
    if (!cams.length) rows.push(el("tr", {class: `node-${status}`}, el("td", {text: n.node}), el("td", {text: status}), el("td"), el("td"), el("td"), el("td", {text: at})));
    for (const [name, c] of cams) {
      const degraded = (c.faults || []).length > 0;
      const state = status === "offline" ? "unknown" : (c.state === "streaming" && degraded ? "degraded" : c.state);
      rows.push(el("tr", {class: `node-${status} cam-${state}`},
        el("td", {text: n.node}), el("td", {text: status}), el("td", {text: name}),
        el("td", {class: "cam-state", text: state}), el("td", {text: (c.faults || []).join(", ")}),
        el("td", {text: at})));
    }
  }
  $("#board tbody").replaceChildren(...rows);
}
