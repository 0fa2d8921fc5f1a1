// The operators' queue: open alerts as incidents (one camera's alerts of one type, close
// in time, are one row), most severe first, then oldest first. The server orders and
// groups; the page holds the pages it fetched and draws only the rows in view, so
// thousands of open alerts stay smooth. Live events refresh the pages in view (at most a
// few times a second), new arrivals are announced (a banner and a tone; critical ones
// distinctly) and escalations turn rows red; supervisors get a banner and a siren.
"use strict";

const Q_ROW_H = 44;     // px, as the style sheet's .queue-row
const Q_PAGE = 100;     // incidents a request
const Q_OVERSCAN = 8;   // rows drawn beyond the view, each way
const Q_REFRESH_MS = 500; // asked again at most this often (arrivals are drawn at once)

const queue = {total: 0, pages: new Map(), asked: new Set(), cursor: 0, focusId: null,
  timer: null, generation: 0, open: null, refreshing: false, again: false,
  lastRefresh: 0, filter: null, after: 0};
window.announced = []; // what was announced, newest last (the tests read it)

i18nAdd({
  "{n} incident": "{n} 起事件", "{n} incidents": "{n} 起事件", "{n} open alert": "{n} 条未结告警",
  "{n} open alerts": "{n} 条未结告警", "(more not shown)": "（更多未显示）",
  "{n} alerts · {first} – {newest}": "{n} 条告警 · {first} – {newest}",
  "New {severity}: {type}": "新{severity}告警：{type}", "(+{n} more)": "（另有 {n} 条）",
  "Escalated: {severity} {type}": "超时升级：{severity} {type}",
  ", not acknowledged in {n} s": "，{n} 秒未确认",
});

function queueStart() {
  queue.pages.clear();
  queue.asked.clear();
  queue.generation++;
  queueDraw();
}

function queueAt(i) {
  return queue.pages.get(Math.floor(i / Q_PAGE))?.[i % Q_PAGE];
}

async function queueFetch(page) {
  const generation = queue.generation;
  queue.asked.add(page);
  try {
    const only = queue.filter ? `&node=${encodeURIComponent(queue.filter.node)}` +
      `&camera=${encodeURIComponent(queue.filter.camera)}` : "";
    // read after the newest event seen: what the refresh is for is in it
    const after = queue.after ? `&after=${queue.after}` : "";
    const r = await api(`/api/queue?offset=${page * Q_PAGE}&limit=${Q_PAGE}${only}${after}`);
    // a refresh began meanwhile: its answer is newer, but this one is better than none
    if (generation !== queue.generation && queue.pages.has(page)) return;
    queue.total = r.total;
    queue.pages.set(page, r.incidents);
    say("#queue-count", () => tr(r.total === 1 ? "{n} incident" : "{n} incidents", {n: r.total}) +
      " · " + tr(r.open === 1 ? "{n} open alert" : "{n} open alerts", {n: r.open}) +
      (r.truncated ? " " + tr("(more not shown)") : ""));
    sayError("#queue-error", null);
    queueFollow();
    queueDraw();
  } catch (err) {
    queue.asked.delete(page);
    if (err.status === 401) return showLogin();
    sayError("#queue-error", err);
  }
}

// One camera's incidents only (a site map's pin asks so: map.js), shown by a chip that
// clears it; null: every camera.
function queueFilter(f) {
  queue.filter = f;
  $("#queue-filter").hidden = !f;
  $("#queue-filter-name").textContent = f ? `${f.node} / ${f.camera}` : "";
  queue.cursor = 0;
  queue.focusId = null;
  $("#queue-view").scrollTop = 0;
  queueStart();
}

$("#queue-filter-clear").addEventListener("click", () => queueFilter(null));

// keeps the focus on the incident it was on when the rows move under it
function queueFollow() {
  if (!queue.focusId) return;
  for (const [page, rows] of queue.pages) {
    const k = rows.findIndex((r) => r.id === queue.focusId);
    if (k >= 0) { queue.cursor = page * Q_PAGE + k; return; }
  }
}

function queueRange() {
  const view = $("#queue-view");
  const first = Math.max(0, Math.floor(view.scrollTop / Q_ROW_H) - Q_OVERSCAN);
  const last = Math.min(Math.max(queue.total, 1),
    Math.ceil((view.scrollTop + view.clientHeight) / Q_ROW_H) + Q_OVERSCAN);
  return [first, last];
}

function queueDraw() {
  if (queue.cursor >= queue.total) queue.cursor = Math.max(0, queue.total - 1);
  $("#queue-spacer").style.height = `${queue.total * Q_ROW_H}px`;
  const [first, last] = queueRange();
  const rows = [];
  for (let i = first; i < last; i++) {
    const page = Math.floor(i / Q_PAGE);
    if (!queue.pages.has(page)) {
      if (!queue.asked.has(page)) queueFetch(page);
      continue;
    }
    const inc = queueAt(i);
    if (inc) rows.push(queueRow(inc, i));
  }
  $("#queue-rows").replaceChildren(...rows);
}

function queueRow(inc, i) {
  const cls = [`queue-row`, `sev-${inc.severity}`, `state-${inc.state}`];
  if (inc.escalated) cls.push("escalated");
  if (i === queue.cursor) cls.push("focused");
  const row = el("div", {class: cls.join(" "), role: "row", "data-id": inc.id,
    "data-index": String(i), "aria-selected": String(i === queue.cursor)});
  row.style.top = `${i * Q_ROW_H}px`;
  const thumb = el("span", {class: "thumb"});
  if (inc.snapshot_id) {
    thumb.append(el("img", {src: `/api/alerts/${encodeURIComponent(inc.snapshot_id)}/snapshot`,
      alt: "", loading: "lazy"}));
  }
  row.append(thumb,
    el("span", {class: "severity", text: trWord("severity", inc.severity)}),
    el("span", {class: "type", text: trWord("type", inc.type)}),
    el("span", {translate: "no", text: `${inc.node} / ${inc.camera}`}),
    el("span", {class: "count", text: inc.count > 1 ? `×${inc.count}` : "1"}),
    el("span", {text: trTime(inc.first_at)}),
    el("span", {class: "state"}, trWord("state", inc.state),
      ...(inc.escalations ? [" ", el("span", {class: "esc", text: tr("escalated")})] : [])));
  row.addEventListener("click", () => { queueFocus(i); queueOpen(); });
  return row;
}

// The pages in view fetched again: at once for the first event, then at most every
// Q_REFRESH_MS and never while a refresh is in flight (a refresh that a newer one
// discarded, under a steady stream of events, would leave the rows never updated).
function queueRefresh() {
  if (queue.timer || queue.refreshing) { queue.again = true; return; }
  const wait = Math.max(0, queue.lastRefresh + Q_REFRESH_MS - Date.now());
  queue.timer = setTimeout(async () => {
    queue.timer = null;
    queue.again = false;
    queue.refreshing = true;
    queue.lastRefresh = Date.now();
    const [first, last] = queueRange();
    const pages = [];
    for (let p = Math.floor(first / Q_PAGE); p <= Math.floor(Math.max(first, last - 1) / Q_PAGE); p++) pages.push(p);
    queue.generation++; // the other pages are fetched again when scrolled to
    queue.asked.clear();
    for (const p of queue.pages.keys()) if (!pages.includes(p)) queue.pages.delete(p);
    try { await Promise.all(pages.map(queueFetch)); } finally {
      queue.refreshing = false;
      if (queue.again) queueRefresh();
    }
  }, wait);
}

function queueFocus(i) {
  if (queue.total === 0) return;
  queue.cursor = Math.max(0, Math.min(queue.total - 1, i));
  queue.focusId = queueAt(queue.cursor)?.id ?? null;
  const view = $("#queue-view");
  const top = queue.cursor * Q_ROW_H;
  if (top < view.scrollTop) view.scrollTop = top;
  else if (top + Q_ROW_H > view.scrollTop + view.clientHeight) view.scrollTop = top + Q_ROW_H - view.clientHeight;
  queueDraw();
}

async function queueOpen() {
  const inc = queueAt(queue.cursor);
  if (!inc) return;
  queue.open = inc;
  showIncident(inc, inc.newest_id);
  await openDetail(inc.newest_id);
}

function showIncident(inc, current) {
  showIncident.shown = [inc, current];
  $("#incident").hidden = inc.count < 2;
  $("#incident-title").textContent = tr("{n} alerts · {first} – {newest}",
    {n: inc.count, first: trTime(inc.first_at), newest: trTime(inc.newest_at)});
  $("#incident-members").replaceChildren(...inc.members.map((m) => {
    const li = el("li", {"data-id": m.id, class: m.id === current ? "current" : "",
      text: `${trTime(m.started_at)} · ${trWord("severity", m.severity)} · ${trWord("state", m.state)}` +
        (m.escalated ? ` · ${tr("escalated")}` : "")});
    li.addEventListener("click", () => { showIncident(inc, m.id); openDetail(m.id); });
    return li;
  }));
}

async function queueAcknowledge() {
  const inc = queueAt(queue.cursor);
  if (!inc) return;
  sayError("#queue-error", null);
  try { // every new alert of the incident: each one's own action, in the audit log
    for (const m of inc.members.filter((x) => x.state === "new")) {
      await api(`/api/alerts/${encodeURIComponent(m.id)}/acknowledge`, {method: "POST"});
    }
  } catch (err) {
    if (err.status === 401) return showLogin();
    sayError("#queue-error", err);
  }
  queueRefresh();
  if (selected && inc.members.some((m) => m.id === selected)) openDetail(selected);
}

document.addEventListener("keydown", (e) => {
  if ($("#app").hidden || $("#tab-queue").hidden) return;
  if (e.target.closest?.("input, textarea, select, [contenteditable]")) return;
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === "j" || e.key === "ArrowDown") queueFocus(queue.cursor + 1);
  else if (e.key === "k" || e.key === "ArrowUp") queueFocus(queue.cursor - 1);
  else if (e.key === "a") queueAcknowledge();
  else if (e.key === "Enter" && !e.target.closest?.("button, a")) queueOpen();
  else return;
  e.preventDefault();
});

$("#queue-view").addEventListener("scroll", () => {
  if (!queueDraw.pending) {
    queueDraw.pending = true;
    requestAnimationFrame(() => { queueDraw.pending = false; queueDraw(); });
  }
});

// -- live: called by app.js for every event ----------------------------------------------
function queueEvent(e) {
  if (e.pushed_at > queue.after) queue.after = e.pushed_at;
  if (e.event === "message") {
    if (e.message.phase === "start" && e.message.seq === 0) {
      arrival(e.message);
      queueInsert(e.message);
    }
    queueRefresh();
  } else if (e.event === "state" || e.event === "snapshot" || e.event === "clip") {
    queueRefresh();
  } else if (e.event === "escalation") {
    escalation(e.escalation);
    queueRefresh();
  }
}

const Q_RANK = {critical: 0, warning: 1, info: 2};

// A new alert drawn at once where the server will put it (most severe first, then
// oldest first), or counted into its camera's incident of that type; the refresh that
// follows confirms it. Only within the pages held from the top: further down, the
// refresh brings it when it is scrolled to.
function queueInsert(m) {
  const f = queue.filter;
  if (f && (f.node !== m.node || f.camera !== m.camera)) return;
  const rows = [];
  let held = 0; // pages held from the top
  for (; queue.pages.has(held); held++) rows.push(...queue.pages.get(held));
  if (!held) return; // nothing fetched yet: the first page brings it
  const member = {id: m.id, started_at: m.started_at, state: "new", severity: m.severity,
    escalated: false};
  const same = rows.find((r) => r.node === m.node && r.camera === m.camera && r.type === m.type);
  if (same) {
    same.count++;
    same.newest_at = m.started_at;
    same.newest_id = m.id;
    same.members = [member, ...same.members];
    if (Q_RANK[m.severity] < Q_RANK[same.severity]) same.severity = m.severity;
    same.state = "new";
  } else {
    const rank = Q_RANK[m.severity] ?? 3;
    const at = Date.parse(m.started_at);
    let k = rows.findIndex((r) => (Q_RANK[r.severity] ?? 3) > rank ||
      ((Q_RANK[r.severity] ?? 3) === rank && Date.parse(r.first_at) > at));
    if (k < 0) {
      if (rows.length < queue.total) return; // its place is in a page not held
      k = rows.length;
    }
    rows.splice(k, 0, {id: m.id, node: m.node, camera: m.camera, type: m.type,
      severity: m.severity, state: "new", count: 1, first_at: m.started_at,
      newest_at: m.started_at, newest_id: m.id, snapshot_id: null, clip_id: null,
      escalated: false, escalations: 0, members: [member]});
    queue.total++;
    // the pages held from the top, one row longer; those further down shift: fetched again
    for (const p of [...queue.pages.keys()]) if (p >= held) queue.pages.delete(p);
    for (let p = 0; p < held; p++) queue.pages.set(p, rows.slice(p * Q_PAGE, (p + 1) * Q_PAGE));
  }
  queueFollow();
  queueDraw();
}

const arrivals = {count: 0, since: 0, toneAt: 0};

function arrival(m) {
  const now = Date.now();
  if (now - arrivals.since > 5000) arrivals.count = 0;
  arrivals.count++;
  arrivals.since = now;
  // a critical arrival stays named for 5 s: a burst of lesser ones only adds to the count
  if (!(arrivals.shown?.severity === "critical" && m.severity !== "critical" &&
        now - arrivals.shownAt < 5000)) {
    arrivals.shown = m;
    arrivals.shownAt = now;
  }
  const s = arrivals.shown;
  const banner = $("#queue-banner");
  const more = arrivals.count - 1;
  say("#queue-banner", () => [tr("New {severity}: {type}", {severity: trWord("severity", s.severity),
    type: trWord("type", s.type)}) + " · ", data(`${s.node} / ${s.camera}`),
  more ? " " + tr("(+{n} more)", {n: more}) : ""]);
  banner.classList.toggle("critical", s.severity === "critical");
  banner.classList.remove("flash");
  void banner.offsetWidth; // restarts the animation
  banner.classList.add("flash");
  // one tone a second at most: a burst is one sound, and a critical one is never lost
  // behind a lesser one
  const critical = m.severity === "critical";
  if (now - arrivals.toneAt > 1000 || (critical && !arrivals.critical)) {
    arrivals.toneAt = now;
    arrivals.critical = critical;
    tone(critical ? "critical" : "arrival");
    window.announced.push({kind: critical ? "critical" : "arrival", id: m.id});
  }
}

function escalation(x) {
  if (me && me.role !== "operator") {
    say("#escalation-text", () => [tr("Escalated: {severity} {type}", {severity: trWord("severity", x.severity),
      type: trWord("type", x.type)}) + " · ", data(`${x.node} / ${x.camera}`),
    tr(", not acknowledged in {n} s", {n: Math.round(x.waited_s)})]);
    $("#escalation-banner").hidden = false;
    $("#escalation-banner").dataset.id = x.id;
    tone("escalation");
    window.announced.push({kind: "escalation", id: x.id});
  }
}

// a switch redraws the rows in view and the open incident's lines
i18nRedraws.push(() => {
  if (me) queueDraw();
  if (showIncident.shown && !$("#incident").hidden) showIncident(...showIncident.shown);
});

$("#escalation-dismiss").addEventListener("click", () => { $("#escalation-banner").hidden = true; });

// Tones made here (no sound file, nothing fetched): an arrival one short beep, a critical
// one two high beeps, an escalation a falling siren of three.
const TONES = {arrival: [[660, 0, 0.12]], critical: [[1320, 0, 0.12], [1320, 0.18, 0.12]],
  escalation: [[988, 0, 0.2], [740, 0.25, 0.2], [988, 0.5, 0.2], [740, 0.75, 0.3]]};

function tone(kind) {
  try {
    const ctx = tone.ctx || (tone.ctx = new AudioContext());
    for (const [hz, at, len] of TONES[kind]) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = kind === "escalation" ? "square" : "sine";
      osc.frequency.value = hz;
      gain.gain.value = 0.2;
      osc.connect(gain).connect(ctx.destination);
      osc.start(ctx.currentTime + at);
      osc.stop(ctx.currentTime + at + len);
    }
  } catch { /* no audio here: the banner shows it */ }
}
