// The operators' console: no build step, no framework. Every string from an edge goes
// into the page through textContent (never innerHTML), and the server's CSP forbids
// inline script, so a camera named "<img src=x onerror=...>" is shown, not run.
"use strict";

const MAX_ROWS = 500; // rows kept in the list; older ones are a click away
const BOX_HOLD_S = 1.0; // on the clip, a message's boxes stay this long without a newer one
const TYPES = ["intrusion", "line_crossing", "loitering", "crowd", "object_left",
  "object_removed", "motion", "camera_offline", "stream_unstable", "video_frozen", "video_occluded",
  "video_blurred", "video_too_dark", "video_too_bright", "scene_changed", "color_cast",
  "video_noisy"];
const SEVERITIES = ["critical", "warning", "info"];
const STATES = ["new", "acknowledged", "dispatched", "resolved", "closed", "false_alarm"];

let me = null;          // {name, role, csrf, actions}
let selected = null;    // the alert in the detail pane
const alerts = new Map(); // id -> alert row (as the API gives it)
let pending = [];       // live events waiting for the next frame
let socket = null;

const $ = (sel) => document.querySelector(sel);

i18nAdd({
  // the page (index.html)
  "Command center": "指挥中心", "Password": "密码", "Log in": "登录",
  "Queue": "告警队列", "Alerts": "告警列表", "Health board": "设备健康", "Audit log": "审计日志",
  "live feed": "实时推送", "live": "实时", "language": "语言", "Log out": "退出登录",
  "Dismiss": "关闭提示", "or": "或", "next / previous": "下一条 / 上一条", "acknowledge": "确认",
  "open": "打开", "open alerts, most severe first": "未结告警，最紧急的在前",
  "waiting since": "等待起始",
  "live picture": "实时画面", "Live": "实时画面", "Stop live": "停止实时", "work-flow steps": "处置环节",
  "Action plan": "处置预案", "Acknowledge": "确认", "unit, e.g. patrol 3": "处置单位，如 巡逻三组",
  "Dispatch": "派遣", "note": "备注", "Resolve": "处置完毕", "outcome": "处置结论", "Close": "结案",
  "False alarm": "误报", "Reopen": "重新打开", "History": "处理记录",
  "Filter": "筛选", "time": "时间", "Older alerts": "更早的告警",
  "who": "操作人", "action": "操作", "alert": "告警", "detail": "详情",
  // the list, the detail, the work-flow
  "any type": "全部类型", "any severity": "全部级别", "any state": "全部状态", "outcome…": "处置结论…",
  "{n} shown": "显示 {n} 条", "video clip": "录像片段", "started": "开始", "ended": "结束",
  "unit": "处置单位", "score": "置信度", "clip": "录像",
  "Tick first:": "请先勾选：", "Choose an outcome to close": "请选择处置结论后结案",
  "A false alarm needs a reason (the note)": "误报须填写原因（备注）",
  // the live look
  "asking the camera…": "正在请求摄像机…", "cannot ask for a live look:": "无法请求实时画面：",
  "live · picture {s} s old": "实时 · 画面延迟 {s} 秒",
  "no picture for {s} s: the camera may be offline, its edge unreachable, or it serves too many live views already":
    "已 {s} 秒无画面：摄像机可能离线、边缘节点不可达，或实时查看路数已满",
  // the server's errors (SERVER_ERRORS, STATUS_ERRORS)
  "Log in first": "请先登录", "Wrong name or password": "用户名或密码错误",
  "Too many failed logins: try again in {n} s": "登录失败次数过多，请 {n} 秒后再试",
  "A name (1 to {n} printable characters) and a password": "请输入用户名（1 至 {n} 个字符）和密码",
  "The session's token is missing or wrong: reload the page": "会话令牌缺失或错误，请刷新页面",
  "A request from another site was refused": "已拒绝来自其他站点的请求",
  "The request was malformed": "请求格式错误", "The server failed; try again": "服务器出错，请重试",
  "No such alert": "告警不存在",
  "Cannot {action}: the plan's required steps are not ticked": "无法{action}：预案的必做步骤尚未勾选",
  "{action} needs the {role} role": "{action}需要{role}权限", "Dispatch needs a unit": "派遣须填写处置单位",
  "Choose an outcome: confirmed, suspicious or false alarm": "请选择处置结论：属实、可疑或误报",
  "The outcome's note is {n} characters at most": "处置结论备注最多 {n} 个字",
  "Only closing takes an outcome": "只有结案需要处置结论",
  "Cannot {action} an alert that is {state}": "告警当前为“{state}”，无法{action}",
  "Cannot tick a step of an alert that is {state}": "告警当前为“{state}”，无法勾选步骤",
  "The plan has no such step": "预案中没有该步骤", "No live look on this center": "本中心未启用实时查看",
  "A node and a camera are 1 to 64 letters, digits, _ or -": "节点和摄像机名为 1 至 64 个字母、数字、_ 或 -",
  "No such node": "节点不存在", "No such camera": "摄像机不存在",
  "The message broker is not reachable from the center": "中心无法连接消息服务器",
  "Ask for a live look first": "请先请求实时画面", "No picture": "没有画面", "No clip": "没有录像",
  "The audit log needs the supervisor role": "审计日志需要值班长权限",
  "The export needs the supervisor role": "导出需要值班长权限",
  "The center cannot be reached": "无法连接指挥中心", "The request was refused": "请求被拒绝",
  "Not allowed": "无权操作", "Not possible now": "当前无法执行",
  "Too large": "内容过大", "Not available now": "暂不可用",
  // the work-flow's actions and the audit log's entries
  "action:acknowledge": "确认", "action:dispatch": "派遣", "action:resolve": "处置",
  "action:close": "结案", "action:false_alarm": "标记误报", "action:reopen": "重新打开",
  "action:tick": "勾选步骤", "action:untick": "取消勾选", "action:escalate": "超时升级",
  "action:login": "登录", "action:login_failed": "登录失败", "action:login_locked": "登录锁定",
  "action:logout": "退出登录", "action:look": "实时查看", "action:health_export": "导出设备健康表",
  "action:user_set": "设置用户",
});

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

// Data from edges and the site's config (names, notes, rules, units): shown as is, marked so
// that no translation (the console's or the browser's) touches it.
function data(text) {
  return el("span", {translate: "no", text: text ?? ""});
}

// Lines the console writes (counts, errors, banners) redraw on a language switch: each
// keeps how it was made. `make` gives a string or nodes.
const said = new Map();
function say(sel, make) {
  said.set(sel, make);
  $(sel).replaceChildren(...[make()].flat());
}
i18nRedraws.push(() => { for (const [sel, make] of said) $(sel).replaceChildren(...[make()].flat()); });

// The server's errors are English sentences; the known ones are translated here (the
// patterns follow center/http.py, store.py, queue.py, health_http.py), an unknown one is
// shown as the server wrote it, after a line for its status.
const ACTION_WORDS = "(acknowledge|dispatch|resolve|close|false_alarm|reopen)";
const SERVER_ERRORS = [
  [/^log in first$/, () => tr("Log in first")],
  [/^wrong name or password$/, () => tr("Wrong name or password")],
  [/^too many failed logins: try again in (\d+) s$/, (m) => tr("Too many failed logins: try again in {n} s", {n: m[1]})],
  [/^a name \(1 to (\d+) printable characters\) and a password/, (m) => tr("A name (1 to {n} printable characters) and a password", {n: m[1]})],
  [/^missing or wrong CSRF token$/, () => tr("The session's token is missing or wrong: reload the page")],
  [/^cross-site request refused$/, () => tr("A request from another site was refused")],
  [/^send the body as application\/json$|^the body must be a JSON object$|^unit and note are text$|^the body is /, () => tr("The request was malformed")],
  [/^internal error$/, () => tr("The server failed; try again")],
  [/^no such alert$|^no alert /, () => tr("No such alert")],
  [new RegExp(`^cannot ${ACTION_WORDS}: the plan's required steps are not ticked`), (m) =>
    tr("Cannot {action}: the plan's required steps are not ticked", {action: trWord("action", m[1])})],
  [new RegExp(`^${ACTION_WORDS} needs the (\\w+) role$`), (m) =>
    tr("{action} needs the {role} role", {action: trWord("action", m[1]), role: trWord("role", m[2])})],
  [/^dispatch needs a unit$/, () => tr("Dispatch needs a unit")],
  [/needs an outcome|^outcome: one of/, () => tr("Choose an outcome: confirmed, suspicious or false alarm")],
  [/^a false alarm needs a reason/, () => tr("A false alarm needs a reason (the note)")],
  [/^the outcome's note is (\d+) characters at most$/, (m) => tr("The outcome's note is {n} characters at most", {n: m[1]})],
  [/takes no outcome$/, () => tr("Only closing takes an outcome")],
  [new RegExp(`^cannot ${ACTION_WORDS} an alert that is (\\w+)$`), (m) =>
    tr("Cannot {action} an alert that is {state}", {action: trWord("action", m[1]), state: trWord("state", m[2])})],
  [/^cannot tick a step of an alert that is (\w+)$/, (m) => tr("Cannot tick a step of an alert that is {state}", {state: trWord("state", m[1])})],
  [/^the plan for \w+ has no step/, () => tr("The plan has no such step")],
  [/^no live look here$/, () => tr("No live look on this center")],
  [/^a node and a camera are 1 to 64 of/, () => tr("A node and a camera are 1 to 64 letters, digits, _ or -")],
  [/^no such node$/, () => tr("No such node")],
  [/^no such camera$/, () => tr("No such camera")],
  [/^the broker is not reachable from here$/, () => tr("The message broker is not reachable from the center")],
  [/^ask for a live look first$/, () => tr("Ask for a live look first")],
  [/^no live picture$|^no picture$|^no snapshot$/, () => tr("No picture")],
  [/^no clip$/, () => tr("No clip")],
  [/^the audit log needs the supervisor role$/, () => tr("The audit log needs the supervisor role")],
  [/^the export needs the supervisor role$/, () => tr("The export needs the supervisor role")],
  [/^Failed to fetch$|NetworkError|Load failed/, () => tr("The center cannot be reached")],
];
const STATUS_ERRORS = {400: "The request was refused", 401: "Log in first", 403: "Not allowed",
  404: "Not found", 409: "Not possible now", 413: "Too large", 503: "Not available now"};

function trError(err) {
  const text = String(err?.message ?? err ?? "");
  for (const [pattern, say] of SERVER_ERRORS) {
    const m = text.match(pattern);
    if (m) return say(m);
  }
  const line = tr(STATUS_ERRORS[err?.status] ?? (err?.status >= 500 ? "The server failed; try again" : "Failed"));
  return text ? [`${line}: `, data(text)] : line; // the server's own words, as a fallback
}

// An error under a form: translated now and again on a switch.
function sayError(sel, err) {
  say(sel, () => (err ? trError(err) : ""));
}

async function api(path, options = {}) {
  const headers = {"Content-Type": "application/json"};
  if (me && options.method && options.method !== "GET") headers["X-CSRF-Token"] = me.csrf;
  const response = await fetch(path, {credentials: "same-origin", ...options, headers});
  const body = response.headers.get("Content-Type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw Object.assign(new Error(body?.error || response.statusText), {status: response.status});
  return body;
}

// Answers to the same question can come back out of order (a slow one, a newer click):
// ask(key) marks a new asking and returns a check, true while no newer one has been made,
// so that only the newest answer is drawn. fresh=false: an addition to the newest asking
// (a further page), dropped by a newer asking but never dropping it.
const asking = new Map();
function ask(key, fresh = true) {
  if (fresh) asking.set(key, (asking.get(key) || 0) + 1);
  const n = asking.get(key) || 0;
  return () => (asking.get(key) || 0) === n;
}


// -- log in / out -------------------------------------------------------------------------
async function start() {
  for (const [code, name] of Object.entries(I18N_LANGS)) $("#lang").append(el("option", {value: code, text: name}));
  $("#lang").value = i18nLang;
  $("#lang").addEventListener("change", () => i18nSet($("#lang").value));
  i18nApply();
  drawChrome();
  try {
    me = await api("/api/me");
    showApp();
  } catch {
    showLogin();
  }
}

// What the page itself writes outside the lists: the title, the filters' vocabularies.
function drawChrome() {
  document.title = tr("Command center");
  vocabulary($("#filters select[name=type]"), "type", TYPES, "any type");
  vocabulary($("#filters select[name=severity]"), "severity", SEVERITIES, "any severity");
  vocabulary($("#filters select[name=state]"), "state", STATES, "any state");
  vocabulary($("#outcome"), "outcome", ["confirmed", "suspicious", "false_alarm"], "outcome…");
  if (me) drawWho();
}
i18nRedraws.push(drawChrome);

// A select of a fixed vocabulary: the values stay, the labels follow the language.
function vocabulary(select, kind, values, any) {
  const keep = select.value;
  select.replaceChildren(el("option", {value: "", text: tr(any)}),
    ...values.map((v) => el("option", {value: v, text: trWord(kind, v)})));
  select.value = keep;
}

function drawWho() {
  $("#who").replaceChildren(data(me.name), ` (${trWord("role", me.role)})`);
}

function showLogin() {
  me = null;
  lookClose();
  if (socket) socket.close();
  $("#app").hidden = true;
  $("#login").hidden = false;
  $("#login-name").focus();
}

$("#login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  sayError("#login-error", null);
  try {
    me = await api("/api/login", {method: "POST", body: JSON.stringify({
      name: $("#login-name").value, password: $("#login-password").value})});
    me = await api("/api/me");
    $("#login-password").value = "";
    showApp();
  } catch (err) {
    sayError("#login-error", err);
  }
});

$("#logout").addEventListener("click", async () => {
  try { await api("/api/logout", {method: "POST"}); } finally { showLogin(); }
});

function showApp() {
  $("#login").hidden = true;
  $("#app").hidden = false;
  // the six steps' Chinese names come with the mapping (center/plans.py)
  i18nAdd(Object.fromEntries((me.stages || []).map((st) => [`stage:${st.key}`, st.zh])));
  drawWho();
  $("#audit-tab").hidden = me.role === "operator";
  adminShow(); // admin.js
  loadAlerts();
  queueStart(); // queue.js
  handoverStart(); // handover.js
  connect();
}

// The work-flow's buttons: only those the user's role may use and the alert's state allows.
function showActions(state) {
  for (const b of document.querySelectorAll("#actions button")) {
    const action = b.dataset.action;
    b.hidden = (me.actions[action] === "supervisor" && me.role === "operator") ||
      !(me.from?.[action] || []).includes(state);
  }
}

// -- tabs ---------------------------------------------------------------------------------
for (const b of document.querySelectorAll("nav .tab")) {
  b.addEventListener("click", () => {
    for (const t of document.querySelectorAll("nav .tab")) t.classList.toggle("active", t === b);
    for (const p of document.querySelectorAll(".tab-page")) p.hidden = p.id !== `tab-${b.dataset.tab}`;
    if (b.dataset.tab !== "alerts" && b.dataset.tab !== "queue") lookClose();
    const split = $(`#tab-${b.dataset.tab} .split`);
    if ((b.dataset.tab === "alerts" || b.dataset.tab === "queue") && !split.contains($("#detail"))) {
      lookClose(); // the detail goes with the list it was opened from
      $("#detail").hidden = true;
      selected = null;
      split.append($("#detail"));
    }
    if (b.dataset.tab === "queue") queueDraw();
    if (b.dataset.tab === "board") loadBoard();
    if (b.dataset.tab === "audit") loadAudit();
  });
}

// -- the alert list -------------------------------------------------------------------------
function filters() {
  const q = new URLSearchParams();
  for (const [k, v] of new FormData($("#filters"))) if (v) q.set(k, v);
  return q;
}

function matches(a) {
  for (const [k, v] of filters()) if (a[k] !== v) return false;
  return true;
}

async function loadAlerts(before = null) {
  const q = filters();
  q.set("limit", "100");
  if (before) q.set("before", before);
  const newest = ask("alerts", !before);
  const {alerts: rows} = await api(`/api/alerts?${q}`);
  if (!newest()) return;
  if (!before) {
    alerts.clear();
    $("#alerts tbody").replaceChildren();
  }
  for (const a of rows) {
    alerts.set(a.id, a);
    $("#alerts tbody").append(row(a));
  }
  $("#more").hidden = rows.length < 100;
  count();
}

$("#filters").addEventListener("submit", (e) => { e.preventDefault(); loadAlerts(); });
$("#more").addEventListener("click", () => {
  const last = $("#alerts tbody").lastElementChild;
  if (last) loadAlerts(last.dataset.id);
});

function count() {
  say("#count", () => tr("{n} shown", {n: $("#alerts tbody").children.length}));
}

function row(a) {
  const line = el("tr", {"data-id": a.id, class: `sev-${a.severity} state-${a.state}`});
  const thumb = el("td", {class: "thumb"});
  if (a.snapshot) thumb.append(el("img", {src: `/api/alerts/${encodeURIComponent(a.id)}/snapshot`, alt: "", loading: "lazy"}));
  if (a.clip) thumb.append(el("span", {class: "clip-badge", title: tr("video clip"), text: "▶"}));
  line.append(thumb,
    el("td", {text: trTime(a.started_at)}),
    el("td", {translate: "no", text: `${a.node} / ${a.camera}`}),
    el("td", {}, trWord("type", a.type), ...(a.objects?.length  // labels: the model's words
      ? [" (", data(a.objects.map((o) => o.label).join(", ")), ")"] : [])),
    el("td", {class: "severity", text: trWord("severity", a.severity)}),
    el("td", {translate: "no", text: a.rule || ""}),
    el("td", {class: "state", text: trWord("state", a.state) + (a.phase === "end" ? "" : ` · ${tr("live")}`)}));
  line.addEventListener("click", () => { $("#incident").hidden = true; openDetail(a.id); });
  return line;
}

function upsertRow(a, fresh) {
  alerts.set(a.id, a);
  const tbody = $("#alerts tbody");
  const old = tbody.querySelector(`tr[data-id="${CSS.escape(a.id)}"]`);
  const line = row(a);
  if (old) old.replaceWith(line);
  else if (matches(a)) {
    tbody.prepend(line);
    if (fresh && a.severity === "critical") emphasise(line);
    while (tbody.children.length > MAX_ROWS) tbody.lastElementChild.remove();
  }
  if (selected === a.id) openDetail(a.id, false);
  count();
}

// a switch redraws the rows from what they show
i18nRedraws.push(() => {
  for (const old of [...$("#alerts tbody").children]) {
    const a = alerts.get(old.dataset.id);
    if (a) old.replaceWith(Object.assign(row(a), {className: old.className}));
  }
});

function emphasise(line) {
  line.classList.add("flash"); // heard too: the queue announces every arrival (queue.js)
}

// -- live feed -------------------------------------------------------------------------------
function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${proto}://${location.host}/api/ws`);
  socket.onopen = () => $("#live").classList.replace("off", "on");
  socket.onclose = () => {
    $("#live").classList.replace("on", "off");
    if (me) setTimeout(() => { loadAlerts(); connect(); }, 2000);
  };
  socket.onmessage = (m) => {
    pending.push(JSON.parse(m.data));
    if (pending.length === 1) requestAnimationFrame(flush);
  };
}

function flush() {
  // one DOM pass per frame, however many events arrived: 50 alerts/s stay smooth
  const events = pending;
  pending = [];
  for (const e of events) {
    queueEvent(e); // queue.js
    mapEvent(e); // map.js
    if (e.event === "handover") handoverEvent(e); // handover.js
    if (e.event === "message") {
      const m = e.message;
      const known = alerts.get(m.id);
      const a = {...(known || {state: "new", snapshot: false, clip: null}), ...m, last_seq: m.seq};
      const open = openDetail.last;
      if (open?.id === m.id && !(open.messages || []).some((x) => x.seq === m.seq)) {
        open.messages = [...(open.messages || []), m]; // the clip's boxes at its time
      }
      if (known && known.last_seq > m.seq) continue; // older news
      upsertRow(a, !known);
      window.lastPush = {id: m.id, at: Date.now(), pushed_at: e.pushed_at};
    } else if (e.event === "state") {
      upsertRow(e.alert, false);
    } else if (e.event === "snapshot") {
      const a = alerts.get(e.id);
      if (a) upsertRow({...a, snapshot: true}, false);
    } else if (e.event === "clip") {
      const a = alerts.get(e.id);
      if (a) upsertRow({...a, clip: e.clip}, false);
    } else if (e.event === "board" && !$("#tab-board").hidden) {
      loadBoard(false); // board.js: the edges' table now, the figures throttled
    }
  }
}

// -- detail and work-flow ---------------------------------------------------------------------
async function openDetail(id, reload = true) {
  if (selected !== id) { // a live look and a chosen outcome belong to the alert they were for
    lookClose();
    $("#outcome").value = "";
  }
  selected = id;
  let a;
  if (reload) {
    a = openDetail.last = await api(`/api/alerts/${encodeURIComponent(id)}`);
  } else { // the list's row is the newest news; messages and history come with the detail
    const last = openDetail.last?.id === id ? openDetail.last : {};
    a = {...last, ...alerts.get(id), messages: last.messages, history: last.history};
  }
  if (selected !== id) return; // another was opened meanwhile
  $("#detail").hidden = false;
  drawDetail(a);
  sayError("#action-error", null);
}

function drawDetail(a) {
  $("#detail-title").replaceChildren(trWord("type", a.type), " · ",
    data(`${a.node} / ${a.camera}${a.rule ? " · " + a.rule : ""}`));
  const facts = [["severity", trWord("severity", a.severity)], ["state", trWord("state", a.state)],
    ["started", trTime(a.started_at)], ["ended", trTime(a.ended_at)], ["unit", data(a.unit)],
    ["note", data(a.note)], ["score", String(a.score)]];
  if (a.clip) facts.push(["clip", tr("{n} s", {n: a.clip.duration.toFixed(1)})]);
  if (a.outcome) {
    facts.push(["outcome", [trWord("outcome", a.outcome), ...(a.outcome_note ? [": ", data(a.outcome_note)] : [])]]);
  }
  $("#detail-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {text: tr(k)}), el("dd", {}, ...[v].flat())]));
  showActions(a.state);
  showPlan(a);
  showPicture(a);
  const history = (a.history || []).map((h) => el("li", {}, `${trTime(h.at)} `, data(h.name),
    `: ${trWord("action", h.action)} `, data(h.detail && h.detail !== "{}" ? h.detail : "")));
  $("#detail-history").replaceChildren(...history);
}
i18nRedraws.push(() => { if (selected && openDetail.last?.id === selected) drawDetail(openDetail.last); });

// The six steps (发现 立案 派遣 审核 结案 评估) as the server maps the states onto them,
// the plan's checklist, and whether closing is allowed: the server refuses it too (409).
function showPlan(a) {
  const stages = me.stages || [];
  // from the state, as the server maps it: a live update of the state moves it too
  const key = a.outcome ? "evaluate" : stages.find((st) => st.states.includes(a.state))?.key;
  const at = stages.findIndex((st) => st.key === key);
  $("#stages").replaceChildren(...stages.map((st, i) => el("li", {
    class: i < at ? "done" : i === at ? "current" : "todo", "data-stage": st.key,
    title: st.states.map((s) => trWord("state", s)).join(", ") || tr("outcome")},
  trWord("stage", st.key))));
  const ticked = new Map((a.ticks || []).map((t) => [t.step, t]));
  const open = ["new", "acknowledged", "dispatched"].includes(a.state);
  $("#plan").hidden = !(a.plan || []).length;
  $("#plan-steps").replaceChildren(...(a.plan || []).map((step) => {
    const box = el("input", {type: "checkbox", "data-step": step.id});
    box.checked = ticked.has(step.id);
    box.disabled = !open;
    box.addEventListener("change", () => tick(a.id, step.id, box.checked));
    const t = ticked.get(step.id);
    const who = t ? [" (", data(t.name), `, ${trTime(t.at)})`] : [];
    // the steps are the site's own words (config): data
    return el("li", {}, el("label", {class: step.required ? "required" : ""}, box,
      " ", data(step.text)), el("span", {class: "who"}, ...who));
  }));
  const missing = (a.plan || []).filter((st) => st.required && !ticked.has(st.id)).map((st) => st.text);
  const outcome = $("#outcome").value;
  const why = missing.length ? [tr("Tick first:") + " ", data(missing.join("; "))]
    : !outcome ? tr("Choose an outcome to close")
    : outcome === "false_alarm" && !$("#note").value.trim() ? tr("A false alarm needs a reason (the note)") : "";
  for (const action of ["resolve", "close"]) {
    const b = $(`#actions button[data-action="${action}"]`);
    b.disabled = missing.length > 0 || (action === "close" && why !== "");
  }
  $("#outcome").hidden = $('#actions button[data-action="close"]').hidden;
  $("#action-why").replaceChildren(...[$('#actions button[data-action="close"]').hidden ? "" : why].flat());
}

async function tick(id, step, done) {
  try {
    const a = await api(`/api/alerts/${encodeURIComponent(id)}/steps/${encodeURIComponent(step)}`,
      {method: "POST", body: JSON.stringify({done})});
    openDetail.last = a;
    if (selected === id) await openDetail(id);
  } catch (err) {
    sayError("#action-error", err);
    if (err.status === 401) showLogin();
  }
}

for (const input of ["#outcome", "#note"]) {
  $(input).addEventListener("input", () => { if (openDetail.last) showPlan(openDetail.last); });
}

// The clip when there is one, with the alert's boxes at their times; else the snapshot
// with the boxes of the alert's newest message.
function showPicture(a) {
  const img = $("#detail-img");
  const video = $("#detail-video");
  const url = `/api/alerts/${encodeURIComponent(a.id)}`;
  showPicture.alert = a;
  if (look.camera) return; // the live picture stays until the look is closed
  if (a.clip) {
    img.hidden = true;
    video.hidden = false;
    if (video.dataset.src !== `${url}/clip.mp4`) { // a message's news must not restart it
      video.dataset.src = `${url}/clip.mp4`;
      video.src = video.dataset.src;
      video.muted = true; // muted video may start by itself
      video.play().catch(() => { /* refused: the controls are there */ });
    }
    drawBoxes(boxesAt(a, video.currentTime), video);
    return;
  }
  if (video.dataset.src) {
    video.pause();
    delete video.dataset.src;
    video.removeAttribute("src");
    video.load(); // lets go of the last clip
  }
  video.hidden = true;
  img.hidden = !a.snapshot;
  if (a.snapshot) {
    img.onload = () => drawBoxes(a.objects || [], img);
    img.src = `${url}/snapshot`;
  } else {
    drawBoxes([], img);
  }
}

// The boxes at clip time v: those of the newest message at or before it (the clip starts at
// media time clip.media_start), for BOX_HOLD_S; none before the first or after that.
function boxesAt(a, v) {
  let latest = null;
  for (const m of a.messages || []) {
    const at = m.media_time - a.clip.media_start;
    if (at <= v && (!latest || at > latest.at || (at === latest.at && m.seq > latest.m.seq))) {
      latest = {at, m};
    }
  }
  return latest && v - latest.at <= BOX_HOLD_S ? latest.m.objects || [] : [];
}

function trackVideo() {
  const video = $("#detail-video");
  const a = showPicture.alert;
  if (video.hidden || !a?.clip) return;
  drawBoxes(boxesAt(a, video.currentTime), video);
  if (!video.paused && !video.ended && !trackVideo.pending) { // each frame while it plays
    trackVideo.pending = true;
    requestAnimationFrame(() => { trackVideo.pending = false; trackVideo(); });
  }
}
for (const type of ["loadeddata", "play", "seeked", "timeupdate", "pause"]) {
  $("#detail-video").addEventListener(type, trackVideo);
}

function drawBoxes(objects, over) {
  const canvas = $("#detail-boxes");
  if (canvas.width !== over.clientWidth || canvas.height !== over.clientHeight) {
    canvas.width = over.clientWidth;
    canvas.height = over.clientHeight;
  }
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, canvas.width, canvas.height);
  g.strokeStyle = "#ff3b30";
  g.lineWidth = 2;
  g.font = "12px sans-serif";
  g.fillStyle = "#ff3b30";
  for (const o of objects) {
    const [x1, y1, x2, y2] = o.box;
    g.strokeRect(x1 * canvas.width, y1 * canvas.height, (x2 - x1) * canvas.width, (y2 - y1) * canvas.height);
    g.fillText(`${o.label}${o.track_id != null ? " #" + o.track_id : ""}`, x1 * canvas.width + 2, y1 * canvas.height + 12);
  }
}

for (const b of document.querySelectorAll("#actions button")) {
  b.addEventListener("click", async () => {
    if (!selected) return;
    const body = {};
    if ($("#unit").value) body.unit = $("#unit").value;
    if ($("#note").value) body.note = $("#note").value;
    if (b.dataset.action === "close") body.outcome = $("#outcome").value;
    try {
      const a = await api(`/api/alerts/${encodeURIComponent(selected)}/${b.dataset.action}`,
        {method: "POST", body: JSON.stringify(body)});
      openDetail.last = a;
      upsertRow(Object.fromEntries(Object.entries(a).filter(([k]) => k !== "messages" && k !== "history")), false);
      await openDetail(selected);
    } catch (err) {
      sayError("#action-error", err);
      if (err.status === 401) showLogin();
    }
  });
}

// -- live look ---------------------------------------------------------------------------------
// The camera's picture now. The center asks the edge over MQTT (the box may sit behind NAT)
// and the edge answers about once a second while the view is renewed; closing only stops
// asking: the edge stops by itself. Pictures are fetched a few times a second and shown only
// when new (ETag), so none is shown twice and few are missed.
const LOOK_POLL_MS = 300;
const look = {camera: null, poll: null, renew: null, etag: null, url: null, opened: 0,
  last: 0, age: 0, ageAt: 0, staleS: 5, busy: false, said: ""};

$("#look").addEventListener("click", () => {
  if (look.camera) {
    lookClose();
  } else if (showPicture.alert) {
    lookOpen(showPicture.alert);
  }
});

function lookOpen(a) {
  lookClose();
  look.camera = `${encodeURIComponent(a.node)}/${encodeURIComponent(a.camera)}`;
  Object.assign(look, {etag: null, opened: Date.now(), last: 0, said: ""});
  const video = $("#detail-video");
  video.pause();
  video.hidden = true;
  $("#detail-img").hidden = true;
  $("#detail-live").hidden = false;
  drawBoxes([], $("#detail-live")); // the alert's boxes are not where things are now
  $("#look").classList.add("on");
  lookButton();
  lookStatus(() => tr("asking the camera…"));
  lookAsk();
  look.poll = setInterval(lookPoll, LOOK_POLL_MS);
}

function lookClose() {
  if (!look.camera) return;
  clearInterval(look.poll);
  clearTimeout(look.renew);
  look.camera = null;
  const img = $("#detail-live");
  img.hidden = true;
  img.removeAttribute("src");
  if (look.url) URL.revokeObjectURL(look.url);
  look.url = null;
  $("#look").classList.remove("on");
  lookButton();
  lookStatus(() => "");
  if (showPicture.alert && selected === showPicture.alert.id) showPicture(showPicture.alert);
}

async function lookAsk() {
  const camera = look.camera;
  let next = 5; // the broker link may be back soon
  try {
    const r = await api(`/api/look/${camera}`, {method: "POST"});
    look.staleS = r.stale_s;
    next = r.renew_s;
  } catch (err) {
    if (look.camera !== camera) return;
    if (err.status === 401) return showLogin();
    lookStatus(() => [tr("cannot ask for a live look:") + " ", ...[trError(err)].flat()], true);
  }
  if (look.camera === camera) look.renew = setTimeout(lookAsk, next * 1000);
}

async function lookPoll() {
  const camera = look.camera;
  if (!camera || look.busy) return;
  look.busy = true;
  try {
    const headers = look.etag ? {"If-None-Match": look.etag} : {};
    const r = await fetch(`/api/look/${camera}.jpg`, {credentials: "same-origin", cache: "no-store", headers});
    if (look.camera !== camera) return;
    if (r.status === 401) return showLogin();
    if (r.status === 200 || r.status === 304) {
      look.age = parseFloat(r.headers.get("X-Picture-Age")) || 0;
      look.ageAt = Date.now();
    }
    if (r.status === 200) {
      const blob = await r.blob();
      if (look.camera !== camera) return;
      look.etag = r.headers.get("ETag");
      look.last = Date.now();
      const old = look.url;
      look.url = URL.createObjectURL(blob);
      $("#detail-live").src = look.url;
      if (old) URL.revokeObjectURL(old);
    }
  } catch { /* the next poll tries again */ } finally {
    look.busy = false;
  }
  if (look.camera === camera) lookAge();
}

function lookAge() {
  const age = look.last ? look.age + (Date.now() - look.ageAt) / 1000 : null;
  const waited = (Date.now() - look.opened) / 1000;
  if (age !== null && age <= look.staleS) {
    const s = age.toFixed(1);
    lookStatus(() => tr("live · picture {s} s old", {s}), false, `live ${s}`);
  } else if (age !== null || waited > look.staleS) {
    const s = Math.round(age ?? waited);
    lookStatus(() => tr("no picture for {s} s: the camera may be offline, its edge " +
      "unreachable, or it serves too many live views already", {s}), true, `none ${s}`);
  }
}

function lookButton() {
  $("#look").textContent = look.camera ? tr("Stop live") : tr("Live");
}
i18nRedraws.push(lookButton);

// `make` gives the words (again on a switch); `key` says whether they changed
function lookStatus(make, warn = false, key = null) {
  key ??= [make()].flat().map((x) => x.textContent ?? x).join("");
  if (look.said === key) return;
  look.said = key;
  say("#look-status", make);
  $("#look-status").classList.toggle("warn", warn);
}

// -- audit (the health board is board.js) -------------------------------------------------
async function loadAudit() {
  const {audit} = await api("/api/audit");
  loadAudit.rows = audit;
  drawAudit();
}

// the detail is the record's own text (notes, units, addresses): data
function drawAudit() {
  $("#audit tbody").replaceChildren(...(loadAudit.rows || []).map((r) => el("tr", {},
    el("td", {text: trTime(r.at)}), el("td", {translate: "no", text: r.name}),
    el("td", {text: trWord("action", r.action)}), el("td", {translate: "no", text: r.alert_id || ""}),
    el("td", {translate: "no", text: r.detail || ""}))));
}
i18nRedraws.push(drawAudit);

// after every console file has run (deferred scripts run in order, then this): their
// strings are all added before the page is first drawn
document.addEventListener("DOMContentLoaded", start);
