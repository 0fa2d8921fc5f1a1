// The operators' console: no build step, no framework. Every string from an edge goes
// into the page through textContent (never innerHTML), and the server's CSP forbids
// inline script, so a camera named "<img src=x onerror=...>" is shown, not run.
"use strict";

const MAX_ROWS = 500; // rows kept in the list; older ones are a click away
const BOX_HOLD_S = 1.0; // on the clip, a message's boxes stay this long without a newer one
const TYPES = ["intrusion", "line_crossing", "loitering", "crowd", "object_left",
  "object_removed", "motion", "camera_offline", "video_frozen", "video_occluded",
  "video_blurred", "video_too_dark", "video_too_bright", "scene_changed", "color_cast",
  "video_noisy"];

let me = null;          // {name, role, csrf, actions}
let selected = null;    // the alert in the detail pane
const alerts = new Map(); // id -> alert row (as the API gives it)
let pending = [];       // live events waiting for the next frame
let socket = null;

const $ = (sel) => document.querySelector(sel);

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

async function api(path, options = {}) {
  const headers = {"Content-Type": "application/json"};
  if (me && options.method && options.method !== "GET") headers["X-CSRF-Token"] = me.csrf;
  const response = await fetch(path, {credentials: "same-origin", ...options, headers});
  const body = response.headers.get("Content-Type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw Object.assign(new Error(body?.error || response.statusText), {status: response.status});
  return body;
}

function time(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

// -- log in / out -------------------------------------------------------------------------
async function start() {
  for (const [code, name] of Object.entries(I18N_LANGS)) $("#lang").append(el("option", {value: code, text: name}));
  $("#lang").value = i18nLang;
  $("#lang").addEventListener("change", () => i18nSet($("#lang").value));
  i18nApply();
  for (const t of TYPES) $("#filters select[name=type]").append(el("option", {text: t}));
  try {
    me = await api("/api/me");
    showApp();
  } catch {
    showLogin();
  }
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
  $("#login-error").textContent = "";
  try {
    me = await api("/api/login", {method: "POST", body: JSON.stringify({
      name: $("#login-name").value, password: $("#login-password").value})});
    me = await api("/api/me");
    $("#login-password").value = "";
    showApp();
  } catch (err) {
    $("#login-error").textContent = err.message;
  }
});

$("#logout").addEventListener("click", async () => {
  try { await api("/api/logout", {method: "POST"}); } finally { showLogin(); }
});

function showApp() {
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#who").textContent = `${me.name} (${me.role})`;
  $("#audit-tab").hidden = me.role === "operator";
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
  const {alerts: rows} = await api(`/api/alerts?${q}`);
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
  $("#count").textContent = `${$("#alerts tbody").children.length} shown`;
}

function row(a) {
  const tr = el("tr", {"data-id": a.id, class: `sev-${a.severity} state-${a.state}`});
  const thumb = el("td", {class: "thumb"});
  if (a.snapshot) thumb.append(el("img", {src: `/api/alerts/${encodeURIComponent(a.id)}/snapshot`, alt: "", loading: "lazy"}));
  if (a.clip) thumb.append(el("span", {class: "clip-badge", title: "video clip", text: "▶"}));
  tr.append(thumb,
    el("td", {text: time(a.started_at)}),
    el("td", {text: `${a.node} / ${a.camera}`}),
    el("td", {text: a.type + (a.objects?.length ? ` (${a.objects.map((o) => o.label).join(", ")})` : "")}),
    el("td", {class: "severity", text: a.severity}),
    el("td", {text: a.rule || ""}),
    el("td", {class: "state", text: a.state.replace("_", " ") + (a.phase === "end" ? "" : " · live")}));
  tr.addEventListener("click", () => { $("#incident").hidden = true; openDetail(a.id); });
  return tr;
}

function upsertRow(a, fresh) {
  alerts.set(a.id, a);
  const tbody = $("#alerts tbody");
  const old = tbody.querySelector(`tr[data-id="${CSS.escape(a.id)}"]`);
  const tr = row(a);
  if (old) old.replaceWith(tr);
  else if (matches(a)) {
    tbody.prepend(tr);
    if (fresh && a.severity === "critical") emphasise(tr);
    while (tbody.children.length > MAX_ROWS) tbody.lastElementChild.remove();
  }
  if (selected === a.id) openDetail(a.id, false);
  count();
}

function emphasise(tr) {
  tr.classList.add("flash"); // heard too: the queue announces every arrival (queue.js)
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
  $("#detail-title").textContent = `${a.type} · ${a.node} / ${a.camera}${a.rule ? " · " + a.rule : ""}`;
  const facts = [["severity", a.severity], ["state", a.state.replace("_", " ")],
    ["started", time(a.started_at)], ["ended", time(a.ended_at)], ["unit", a.unit || ""],
    ["note", a.note || ""], ["score", String(a.score)]];
  if (a.clip) facts.push(["clip", `${a.clip.duration.toFixed(1)} s`]);
  if (a.outcome) facts.push(["outcome", `${a.outcome.replace("_", " ")}${a.outcome_note ? ": " + a.outcome_note : ""}`]);
  $("#detail-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {text: k}), el("dd", {text: v})]));
  showActions(a.state);
  showPlan(a);
  showPicture(a);
  const history = (a.history || []).map((h) => el("li", {text: `${time(new Date(h.at * 1000).toISOString())} ${h.name}: ${h.action} ${h.detail && h.detail !== "{}" ? h.detail : ""}`}));
  $("#detail-history").replaceChildren(...history);
  $("#action-error").textContent = "";
}

// The six steps (发现 立案 派遣 审核 结案 评估) as the server maps the states onto them,
// the plan's checklist, and whether closing is allowed: the server refuses it too (409).
function showPlan(a) {
  const stages = me.stages || [];
  // from the state, as the server maps it: a live update of the state moves it too
  const key = a.outcome ? "evaluate" : stages.find((st) => st.states.includes(a.state))?.key;
  const at = stages.findIndex((st) => st.key === key);
  $("#stages").replaceChildren(...stages.map((st, i) => el("li", {
    class: i < at ? "done" : i === at ? "current" : "todo", "data-stage": st.key,
    title: st.states.join(", ") || "outcome"}, `${st.zh} ${st.en}`)));
  const ticked = new Map((a.ticks || []).map((t) => [t.step, t]));
  const open = ["new", "acknowledged", "dispatched"].includes(a.state);
  $("#plan").hidden = !(a.plan || []).length;
  $("#plan-steps").replaceChildren(...(a.plan || []).map((step) => {
    const box = el("input", {type: "checkbox", "data-step": step.id});
    box.checked = ticked.has(step.id);
    box.disabled = !open;
    box.addEventListener("change", () => tick(a.id, step.id, box.checked));
    const t = ticked.get(step.id);
    const who = t ? ` (${t.name}, ${time(new Date(t.at * 1000).toISOString())})` : "";
    return el("li", {}, el("label", {class: step.required ? "required" : ""}, box,
      ` ${step.text}`), el("span", {class: "who", text: who}));
  }));
  const missing = (a.plan || []).filter((st) => st.required && !ticked.has(st.id)).map((st) => st.text);
  const outcome = $("#outcome").value;
  const why = missing.length ? `Tick first: ${missing.join("; ")}`
    : !outcome ? "Choose an outcome to close"
    : outcome === "false_alarm" && !$("#note").value.trim() ? "A false alarm needs a reason (the note)" : "";
  for (const action of ["resolve", "close"]) {
    const b = $(`#actions button[data-action="${action}"]`);
    b.disabled = missing.length > 0 || (action === "close" && why !== "");
  }
  $("#outcome").hidden = $('#actions button[data-action="close"]').hidden;
  $("#action-why").textContent = $('#actions button[data-action="close"]').hidden ? "" : why;
}

async function tick(id, step, done) {
  try {
    const a = await api(`/api/alerts/${encodeURIComponent(id)}/steps/${encodeURIComponent(step)}`,
      {method: "POST", body: JSON.stringify({done})});
    openDetail.last = a;
    if (selected === id) await openDetail(id);
  } catch (err) {
    $("#action-error").textContent = err.message;
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
      $("#action-error").textContent = err.message;
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
  $("#look").textContent = "Stop live";
  $("#look").classList.add("on");
  lookStatus("asking the camera…");
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
  $("#look").textContent = "Live";
  $("#look").classList.remove("on");
  lookStatus("");
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
    lookStatus(`cannot ask for a live look: ${err.message}`, true);
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
    lookStatus(`live · picture ${age.toFixed(1)} s old`);
  } else if (age !== null || waited > look.staleS) {
    lookStatus(`no picture for ${Math.round(age ?? waited)} s: the camera may be offline, ` +
      "its edge unreachable, or it serves too many live views already", true);
  }
}

function lookStatus(text, warn = false) {
  if (look.said === text) return;
  look.said = text;
  $("#look-status").textContent = text;
  $("#look-status").classList.toggle("warn", warn);
}

// -- audit (the health board is board.js) -------------------------------------------------
async function loadAudit() {
  const {audit} = await api("/api/audit");
  $("#audit tbody").replaceChildren(...audit.map((r) => el("tr", {},
    el("td", {text: time(new Date(r.at * 1000).toISOString())}), el("td", {text: r.name}),
    el("td", {text: r.action}), el("td", {text: r.alert_id || ""}), el("td", {text: r.detail || ""}))));
}

start();
