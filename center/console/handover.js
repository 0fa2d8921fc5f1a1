// The shift handover: the outgoing operator sees the shift's summary (alerts raised, open
// now, escalations, outcomes, actions, the open alerts the next shift inherits), writes a
// note and submits; the server freezes the summary with it. Whoever logs in next sees a
// banner until another user acknowledges it. Supervisors and admins read every past
// handover; operators their own. Names and notes are data: shown as text, never
// translated (translate="no").
"use strict";

i18nAdd({
  "Hide": "收起",
  "Handover": "交接班",
  "Handover waiting for the next shift": "待接班的交班",
  "Handover waiting: {name} handed over at {time}": "交班待接收：{name} 于 {time} 交班",
  "Open": "查看",
  "Handed over by {name} at {time}": "交班人 {name}，交班时间 {time}",
  "Taken over by {name} at {time}": "接班人 {name}，接班时间 {time}",
  "Note": "交班说明",
  "Note on taking over": "接班说明",
  "Note on taking over (optional)": "接班说明（选填）",
  "Acknowledge and take over": "确认接班",
  "You wrote this handover: the next shift acknowledges it.": "这是您提交的交班，需由下一班确认接班。",
  "Hand over your shift": "交班",
  "Shift started": "本班开始时间",
  "Refresh summary": "刷新汇总",
  "Handover note": "交班说明",
  "What the next shift must know: open incidents, units on site, faults":
    "下一班需要了解的情况：未处置事件、在场处置力量、设备故障",
  "Submit handover": "提交交班",
  "A handover waits to be acknowledged: the next one can be written after it.":
    "已有交班待确认接班，确认后才能提交新的交班。",
  "Write a note first.": "请先填写交班说明。",
  "Handovers": "交接班记录",
  "Only your own handovers are listed: supervisors see every shift's.":
    "仅列出您本人的交接班记录，值班长可查看所有班次。",
  "handed over": "交班时间", "by": "交班人", "taken over by": "接班人", "taken over": "接班时间",
  "escalations": "升级",
  "Older handovers": "更早的记录",
  "No handovers yet.": "暂无交接班记录。",
  "Period": "时段", "{from} to {to}": "{from} 至 {to}",
  "Alerts raised": "新发告警", "Open now": "当前未处置", "Escalations": "超时升级",
  "Actions": "处置操作",
  "Open alerts the next shift inherits": "移交下一班的未处置告警",
  "{n} of {total} shown": "显示 {n} / 共 {total}",
  "None.": "无。",
  "handover:pending": "待接班", "handover:accepted": "已接班",
});

const HANDOVER_PAGE = 50;
const ho = {pending: null, draft: null, history: [], more: false, detail: null, chosen: false};

// A translated sentence whose {places} are data: each becomes a translate="no" span.
function trParts(text, vars) {
  const t = tr(text);
  const out = [];
  let last = 0;
  for (const m of t.matchAll(/\{(\w+)\}/g)) {
    out.push(t.slice(last, m.index));
    const v = vars[m[1]];
    out.push(v instanceof Node ? v : el("span", {translate: "no", class: "data", text: String(v ?? "")}));
    last = m.index + m[0].length;
  }
  out.push(t.slice(last));
  return out;
}

function handoverInput(epoch) { // a datetime-local value, in the operator's time zone
  const d = new Date(epoch * 1000);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

// -- start, the banner, live news ---------------------------------------------------------
async function handoverStart() {
  ho.detail = null;
  await handoverPending();
}

async function handoverPending() {
  try {
    ho.pending = (await api("/api/handover/pending")).handover;
  } catch (err) {
    if (err.status === 401) showLogin();
    return;
  }
  handoverBanner();
  if (!$("#tab-handover").hidden) handoverDrawPending();
}

function handoverBanner() {
  const h = ho.pending;
  // the writer waits too, but the banner is for whoever can take it over
  $("#handover-banner").hidden = !h || h.outgoing === me?.name;
  if (h) {
    $("#handover-banner-text").replaceChildren(...trParts(
      "Handover waiting: {name} handed over at {time}", {name: h.outgoing, time: trTime(h.submitted_at)}));
  }
}

function handoverEvent() { // app.js: another console submitted or acknowledged one
  handoverPending();
  if (!$("#tab-handover").hidden) handoverLoad();
}

$("#handover-open").addEventListener("click", () => $('nav button[data-tab="handover"]').click());

// -- the tab ------------------------------------------------------------------------------
async function handoverLoad() {
  $("#handover-error").textContent = "";
  await Promise.all([handoverPending(), handoverDraft(), handoverHistory()]);
}
$('nav button[data-tab="handover"]').addEventListener("click", handoverLoad);

async function handoverDraft() {
  const since = ho.chosen && $("#handover-since").value
    ? `?since=${new Date($("#handover-since").value).getTime() / 1000}` : "";
  const newest = ask("handover-draft");
  try {
    const draft = await api(`/api/handover/summary${since}`);
    if (!newest()) return; // another start was chosen meanwhile
    ho.draft = draft;
  } catch (err) {
    if (err.status === 401) return showLogin();
    $("#handover-error").textContent = err.message;
    return;
  }
  if (!ho.chosen) $("#handover-since").value = handoverInput(ho.draft.from);
  handoverDrawDraft();
}

$("#handover-since").addEventListener("change", () => { ho.chosen = true; handoverDraft(); });
$("#handover-refresh").addEventListener("click", handoverDraft);
$("#handover-note").addEventListener("input", handoverCount);

function handoverCount() {
  const note = $("#handover-note");
  $("#handover-note-count").textContent = `${note.value.length} / ${note.maxLength}`;
}

$("#handover-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const note = $("#handover-note").value;
  if (!note.trim()) {
    $("#handover-error").textContent = tr("Write a note first.");
    return;
  }
  const body = {note};
  if (ho.chosen && $("#handover-since").value) body.since = new Date($("#handover-since").value).getTime() / 1000;
  try {
    ho.pending = await api("/api/handover", {method: "POST", body: JSON.stringify(body)});
  } catch (err) {
    if (err.status === 401) return showLogin();
    $("#handover-error").textContent = err.message;
    return;
  }
  $("#handover-note").value = "";
  ho.chosen = false;
  handoverCount();
  await handoverLoad();
});

$("#handover-ack").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!ho.pending) return;
  const note = $("#handover-ack-note").value.trim();
  $("#handover-ack-error").textContent = "";
  try {
    await api(`/api/handover/${encodeURIComponent(ho.pending.id)}/acknowledge`,
      {method: "POST", body: JSON.stringify(note ? {note} : {})});
  } catch (err) {
    if (err.status === 401) return showLogin();
    $("#handover-ack-error").textContent = err.message;
    return;
  }
  $("#handover-ack-note").value = "";
  await handoverLoad();
});

async function handoverHistory(before = null) {
  const q = new URLSearchParams({limit: String(HANDOVER_PAGE)});
  if (before) q.set("before", before);
  const newest = ask("handovers", !before);
  let rows;
  try {
    rows = (await api(`/api/handovers?${q}`)).handovers;
  } catch (err) {
    if (err.status === 401) showLogin();
    return;
  }
  if (!newest()) return;
  ho.history = before ? [...ho.history, ...rows] : rows;
  ho.more = rows.length === HANDOVER_PAGE;
  handoverDrawHistory();
}

$("#handover-more").addEventListener("click", () => handoverHistory(ho.history.at(-1)?.id));
$("#handover-detail-close").addEventListener("click", () => { ho.detail = null; handoverDrawDetail(); });

async function handoverOpen(id) {
  const newest = ask("handover-detail");
  try {
    const detail = await api(`/api/handovers/${encodeURIComponent(id)}`);
    if (!newest()) return; // another was opened meanwhile
    ho.detail = detail;
  } catch (err) {
    if (err.status === 401) return showLogin();
    $("#handover-error").textContent = err.message;
    return;
  }
  handoverDrawDetail();
}

// -- drawing ------------------------------------------------------------------------------
function handoverCounts(kind, counts, prefix) {
  return Object.entries(counts).flatMap(([k, n], i) => [i ? " · " : "",
    el("span", {"data-count": `${prefix}.${k}`}, `${trWord(kind, k)} `, el("strong", {text: String(n)}))]);
}

function handoverSummary(s) {
  // a total (if any) and its counts: "6 (critical 2 · warning 3 · info 1)"
  const figure = (label, key, total, parts) => {
    const dd = el("dd", {"data-figure": key});
    if (total === null) dd.append(...parts);
    else dd.append(el("strong", {"data-count": key, text: String(total)}), " (", ...parts, ")");
    return [el("dt", {text: tr(label)}), dd];
  };
  const dl = el("dl", {class: "handover-figures"},
    el("dt", {text: tr("Period")}), el("dd", {"data-figure": "period"},
      ...trParts("{from} to {to}", {from: trTime(s.from), to: trTime(s.to)})),
    ...figure("Alerts raised", "raised", s.raised.total, handoverCounts("severity", s.raised.by_severity, "raised")),
    ...figure("Open now", "open", s.open.total, handoverCounts("severity", s.open.by_severity, "open")),
    ...figure("Escalations", "escalations", s.escalations.total,
      handoverCounts("severity", s.escalations.by_severity, "escalations")),
    ...figure("Outcomes", "outcomes", null, handoverCounts("outcome", s.outcomes, "outcomes")),
    ...figure("Actions", "actions", null, handoverCounts("action", s.actions, "actions")));
  const box = el("div", {class: "handover-summary"}, dl);
  if (!s.open_list) return box; // a history row's summary carries the figures only
  box.append(el("h3", {}, tr("Open alerts the next shift inherits"), " ",
    el("span", {class: "muted", text: tr("{n} of {total} shown", {n: s.open_list.length, total: s.open.total})})));
  if (!s.open_list.length) {
    box.append(el("p", {class: "muted", text: tr("None.")}));
    return box;
  }
  const head = el("tr", {}, ...["severity", "type", "where", "since", "state", ""].map((h) => el("th", {text: h && tr(h)})));
  const rows = s.open_list.map((a) => el("tr", {class: `sev-${a.severity}`, "data-id": a.id},
    el("td", {class: "severity", text: trWord("severity", a.severity)}),
    el("td", {text: trWord("type", a.type)}),
    el("td", {translate: "no", text: `${a.node} / ${a.camera}`}),
    el("td", {text: trTime(a.started_at)}),
    el("td", {text: trWord("state", a.state)}),
    el("td", {class: "esc", text: a.escalated ? tr("escalated") : ""})));
  box.append(el("table", {class: "handover-open"}, el("thead", {}, head), el("tbody", {}, ...rows)));
  return box;
}

function handoverDrawPending() {
  const h = ho.pending;
  $("#handover-pending").hidden = !h;
  $("#handover-submit").disabled = Boolean(h);
  $("#handover-blocked").hidden = !h;
  if (!h) return;
  $("#handover-pending-who").replaceChildren(...trParts("Handed over by {name} at {time}",
    {name: h.outgoing, time: trTime(h.submitted_at)}));
  $("#handover-pending-note").textContent = h.note;
  $("#handover-pending-summary").replaceChildren(handoverSummary(h.summary));
  const own = h.outgoing === me?.name;
  $("#handover-ack").hidden = own;
  $("#handover-ack-own").hidden = !own;
}

function handoverDrawDraft() {
  if (ho.draft) $("#handover-draft").replaceChildren(handoverSummary(ho.draft));
  handoverCount();
}

function handoverDrawHistory() {
  $("#handover-mine").hidden = me?.role !== "operator";
  $("#handover-none").hidden = ho.history.length > 0;
  $("#handover-more").hidden = !ho.more;
  $("#handover-history tbody").replaceChildren(...ho.history.map((h) => {
    const tr_ = el("tr", {"data-id": h.id, class: `handover-${h.state}`},
      el("td", {text: trTime(h.submitted_at)}),
      el("td", {translate: "no", text: h.outgoing}),
      el("td", {translate: "no", text: h.incoming || ""}),
      el("td", {text: trTime(h.acknowledged_at)}),
      el("td", {text: trWord("handover", h.state)}),
      el("td", {text: String(h.summary.open.total)}),
      el("td", {text: String(h.summary.escalations.total)}));
    tr_.addEventListener("click", () => handoverOpen(h.id));
    return tr_;
  }));
}

function handoverDrawDetail() {
  const h = ho.detail;
  $("#handover-detail").hidden = !h;
  if (!h) return;
  const parts = [el("p", {}, ...trParts("Handed over by {name} at {time}", {name: h.outgoing, time: trTime(h.submitted_at)}))];
  if (h.incoming) {
    parts.push(el("p", {}, ...trParts("Taken over by {name} at {time}", {name: h.incoming, time: trTime(h.acknowledged_at)})));
  }
  parts.push(el("h3", {text: tr("Note")}), el("p", {class: "note", translate: "no", text: h.note}));
  if (h.ack_note) parts.push(el("h3", {text: tr("Note on taking over")}), el("p", {class: "note", translate: "no", text: h.ack_note}));
  parts.push(handoverSummary(h.summary));
  $("#handover-detail-body").replaceChildren(...parts);
}

i18nRedraws.push(() => {
  handoverBanner();
  if ($("#tab-handover").hidden) return;
  handoverDrawPending();
  handoverDrawDraft();
  handoverDrawHistory();
  handoverDrawDetail();
});
