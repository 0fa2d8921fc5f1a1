// Site maps: a district's plan (an uploaded image, no internet tiles) with a pin for each
// camera placed on it. A pin's colour is its camera's health (the health board's status);
// it lights up with the camera's open alerts (how many, the most severe's colour), kept
// up to date from the live feed; a click on it filters the queue to that camera.
// Administrators add, rename, replace and delete maps and drag cameras onto them (the
// server checks the role on each change as well). Loaded before app.js, so that its
// Chinese is there when app.js first applies the language: it wires itself up when the
// page is ready and uses app.js's $, el and api only then.
"use strict";

const MAP_REFRESH_MS = 250; // live news refreshes the pins at most this often
const MAP_DRAG_PX = 4; // a pointer moved less than this is a click, not a drag
const mapView = {maps: [], current: null, draft: null, cameras: [], timer: null,
  drag: null, maxBytes: 8 * 1024 * 1024, maxSide: 10000, loaded: false,
  wanted: null}; // the map asked for last: an answer for another draws nothing

i18nAdd({
  "Maps": "地图", "Map": "地图", "No map yet: an administrator uploads a plan.": "暂无地图：请管理员上传平面图。",
  "New map": "新建地图", "Name, e.g. East district": "名称，例如：东区", "Choose image…": "选择图片…",
  "Add map": "添加地图", "This map": "当前地图", "Rename": "重命名", "Replace image": "更换图片",
  "Delete map": "删除地图", "Cameras": "摄像机",
  "Drag a camera onto the map; drag a pin off the map to take it off.": "将摄像机拖到地图上；将点位拖出地图即可移除。",
  "Find a camera": "查找摄像机", "Save pins": "保存点位", "Discard changes": "放弃修改",
  "fault": "故障", "offline": "离线", "no health news": "无状态信息",
  "up to {mb} MB, {side} × {side} pixels": "不超过 {mb} 兆字节，{side} × {side} 像素",
  "{n} pins": "{n} 个点位", "{n} cameras not placed": "{n} 台摄像机未放置",
  "Unsaved changes": "有未保存的修改", "Pins saved": "点位已保存", "Map added": "地图已添加",
  "Map renamed": "地图已重命名", "Image replaced": "图片已更换", "Map deleted": "地图已删除",
  "Delete the map {name} and its pins?": "删除地图 {name} 及其全部点位？",
  "Choose an image first.": "请先选择图片。", "Give the map a name.": "请填写地图名称。",
  "The image is too large: at most {mb} MB.": "图片过大：不超过 {mb} 兆字节。",
  "Not an image this console takes.": "不是可用的图片文件。",
  "Refused: {why}": "被拒绝：{why}", "health: {status}": "状态：{status}",
  "{n} open alerts, the most severe {severity}": "{n} 条未处理告警，最高级别：{severity}",
  "Click: its alerts in the queue": "单击：在队列中查看其告警",
  "health:ok": "完好", "health:fault": "故障", "health:login_failed": "登录失败",
  "health:unreachable": "不可达", "health:no_stream": "无视频流", "health:offline": "离线",
  "health:stale": "状态过期", "health:unknown": "无状态信息",
  "Camera": "摄像机", "Show every camera": "显示全部摄像机",
});

function mapKey(p) {
  return `${p.node}/${p.camera}`;
}

// the health board's status as a pin's colour: intact, fault (online), offline, unknown
function mapHealth(status) {
  if (!status) return "unknown";
  return status === "ok" || status === "fault" ? status : "down";
}

function mapSay(text, error = false) {
  document.querySelector("#map-status").textContent = error ? "" : text;
  document.querySelector("#map-error").textContent = error ? text : "";
}

function mapAdmin() {
  return me?.role === "admin";
}

// -- loading --------------------------------------------------------------------------------
// Clicks, live events and the administrator's changes each call this, and their answers
// can come back in any order: only the newest call draws, so an older list never
// replaces a newer one.
async function mapShow() {
  $("#map-admin").hidden = !mapAdmin();
  const newest = ask("maps"); // app.js
  try {
    const r = await api("/api/maps");
    if (!newest()) return;
    mapView.maps = r.maps;
    mapView.maxBytes = r.max_image_bytes;
    mapView.maxSide = r.max_side;
    mapView.loaded = true;
    mapDrawList();
    const keep = mapView.maps.find((m) => m.id === mapView.current?.id);
    const next = keep || mapView.maps[0];
    if (next) await mapLoad(next.id, !keep);
    else mapClear();
    if (mapAdmin()) {
      const cameras = (await api("/api/maps/cameras")).cameras;
      if (!newest()) return;
      mapView.cameras = cameras;
      mapDrawCameras();
    }
  } catch (err) {
    if (err.status === 401) return showLogin();
    mapSay(err.message, true);
  }
}

function mapDrawList() {
  const pick = $("#map-pick");
  pick.replaceChildren(...mapView.maps.map((m) => el("option", {value: m.id, text: m.name})));
  if (mapView.current) pick.value = mapView.current.id;
  $("#map-none").hidden = mapView.maps.length > 0;
  $("#map-this").hidden = mapView.maps.length === 0;
  $("#map-limit").textContent = tr("up to {mb} MB, {side} × {side} pixels",
    {mb: Math.round(mapView.maxBytes / 1048576), side: mapView.maxSide});
}

function mapClear() {
  mapView.current = null;
  mapView.wanted = null;
  mapView.draft = null;
  $("#map-stage").hidden = true;
  $("#map-img").removeAttribute("src");
  $("#map-pins").replaceChildren();
  mapDrawCameras();
}

async function mapLoad(id, fresh = true) {
  mapView.wanted = String(id);
  const m = await api(`/api/maps/${id}`);
  if (mapView.wanted !== String(id)) return; // another map was picked meanwhile
  if (fresh || mapView.current?.id !== id) mapView.draft = null;
  mapView.current = m;
  $("#map-pick").value = id;
  $("#map-stage").hidden = false;
  const src = `/api/maps/${id}/image?v=${m.version}`;
  if ($("#map-img").getAttribute("src") !== src) $("#map-img").src = src;
  if (document.activeElement !== $("#map-rename-name")) $("#map-rename-name").value = m.name;
  mapDrawPins();
  mapDrawCameras();
}

// live news: the pins again, once, however many events came
function mapRefresh() {
  if (mapView.timer || !mapView.current || $("#tab-map").hidden) return;
  mapView.timer = setTimeout(async () => {
    mapView.timer = null;
    if (!mapView.current) return;
    try {
      await mapLoad(mapView.wanted || mapView.current.id, false);
    } catch (err) {
      if (err.status === 401) return showLogin();
      if (err.status === 404) mapShow(); // deleted meanwhile
    }
  }, MAP_REFRESH_MS);
}

// called by app.js for every live event
function mapEvent(e) {
  if (e.event === "maps") {
    if (!$("#tab-map").hidden) mapShow();
  } else if (["message", "state", "board", "escalation"].includes(e.event)) {
    mapRefresh();
  }
}

// -- drawing --------------------------------------------------------------------------------
function mapPlaces() {
  // where the pins are: the administrator's unsaved draft, else the map's
  return mapView.draft || new Map((mapView.current?.pins || []).map((p) => [mapKey(p), p]));
}

function mapDrawPins() {
  const states = new Map((mapView.current?.pins || []).map((p) => [mapKey(p), p]));
  const pins = [];
  for (const [key, place] of mapPlaces()) {
    const s = states.get(key) || {node: place.node, camera: place.camera, open: 0};
    const health = mapHealth(s.status);
    const cls = ["pin", `health-${health}`];
    if (s.open) cls.push("lit", `sev-${s.severity}`);
    const title = [`${place.node} / ${place.camera}`,
      tr("health: {status}", {status: tr(`health:${s.status || "unknown"}`)}),
      ...(s.reason ? [s.reason] : []),
      ...(s.open ? [tr("{n} open alerts, the most severe {severity}", {n: s.open, severity: trWord("severity", s.severity)})] : []),
      tr("Click: its alerts in the queue")].join("\n");
    const pin = el("button", {type: "button", class: cls.join(" "), translate: "no",
      "data-node": place.node, "data-camera": place.camera, "data-health": s.status || "",
      "data-open": String(s.open || 0), title},
    el("span", {class: "pin-label", text: place.camera}));
    if (s.open) pin.append(el("span", {class: "pin-count", text: String(s.open)}));
    pin.style.left = `${place.x * 100}%`;
    pin.style.top = `${place.y * 100}%`;
    pin.addEventListener("pointerdown", (e) => mapDragStart(e, place, pin));
    pin.addEventListener("click", (e) => { if (e.detail === 0) mapFilterQueue(place); }); // the keyboard's
    pins.push(pin);
  }
  $("#map-pins").replaceChildren(...pins);
  $("#map-pin-count").textContent = mapView.current ? tr("{n} pins", {n: pins.length}) : "";
  $("#map-save").disabled = $("#map-cancel").disabled = !mapView.draft;
  if (mapView.draft) mapSay(tr("Unsaved changes"));
}

function mapDrawCameras() {
  if (!mapAdmin()) return;
  const placed = mapPlaces();
  const q = $("#map-camera-q").value.trim().toLowerCase();
  const free = mapView.cameras.filter((c) => !placed.has(mapKey(c)));
  const shown = free.filter((c) => !q || mapKey(c).toLowerCase().includes(q)).slice(0, 300);
  $("#map-cameras").replaceChildren(...shown.map((c) => {
    const li = el("li", {translate: "no", "data-node": c.node, "data-camera": c.camera,
      text: `${c.node} / ${c.camera}`});
    li.addEventListener("pointerdown", (e) => mapDragStart(e, c, null));
    return li;
  }));
  $("#map-free").textContent = mapView.current ? tr("{n} cameras not placed", {n: free.length}) : "";
}

// -- pins: click to filter the queue, drag to place (administrators) ------------------------
function mapDragStart(e, camera, pin) {
  if (e.button !== 0) return;
  e.preventDefault();
  const admin = mapAdmin() && mapView.current;
  mapView.drag = {camera, pin, x0: e.clientX, y0: e.clientY, moved: false, ghost: null, admin};
  document.addEventListener("pointermove", mapDragMove);
  document.addEventListener("pointerup", mapDragEnd, {once: true});
}

function mapDragMove(e) {
  const d = mapView.drag;
  if (!d || !d.admin) return;
  if (!d.moved && Math.hypot(e.clientX - d.x0, e.clientY - d.y0) < MAP_DRAG_PX) return;
  if (!d.moved) {
    d.moved = true;
    d.ghost = el("span", {class: "pin ghost", translate: "no"},
      el("span", {class: "pin-label", text: d.camera.camera}));
    document.body.append(d.ghost);
    if (d.pin) d.pin.classList.add("dragged");
  }
  d.ghost.style.left = `${e.clientX}px`;
  d.ghost.style.top = `${e.clientY}px`;
}

function mapDragEnd(e) {
  document.removeEventListener("pointermove", mapDragMove);
  const d = mapView.drag;
  mapView.drag = null;
  if (!d) return;
  d.ghost?.remove();
  if (!d.moved) {
    if (d.pin) mapFilterQueue(d.camera);
    return;
  }
  const r = $("#map-img").getBoundingClientRect();
  const inside = e.clientX >= r.left && e.clientX <= r.right && e.clientY >= r.top && e.clientY <= r.bottom;
  const draft = new Map(mapPlaces());
  const key = mapKey(d.camera);
  if (inside) {
    const round = (v) => Math.round(Math.min(1, Math.max(0, v)) * 10000) / 10000;
    draft.set(key, {node: d.camera.node, camera: d.camera.camera,
      x: round((e.clientX - r.left) / r.width), y: round((e.clientY - r.top) / r.height)});
  } else if (d.pin) {
    draft.delete(key); // dragged off the map: taken off
  } else {
    return;
  }
  mapView.draft = draft;
  mapDrawPins();
  mapDrawCameras();
}

function mapFilterQueue(c) {
  document.querySelector('nav .tab[data-tab="queue"]').click();
  queueFilter({node: c.node, camera: c.camera}); // queue.js
}

// -- the administrator's changes --------------------------------------------------------------
// The map the picker shows: the one to rename, replace or delete, even while its pins
// are still loading (mapView.current is the map loaded last).
function mapPicked() {
  return mapView.maps.find((m) => String(m.id) === $("#map-pick").value) || null;
}

async function mapImage(input) {
  const file = input.files[0];
  if (!file) throw new Error(tr("Choose an image first."));
  if (file.size > mapView.maxBytes) {
    throw new Error(tr("The image is too large: at most {mb} MB.", {mb: Math.round(mapView.maxBytes / 1048576)}));
  }
  const url = await new Promise((ok, fail) => {
    const reader = new FileReader();
    reader.onload = () => ok(reader.result);
    reader.onerror = () => fail(reader.error);
    reader.readAsDataURL(file);
  });
  return url.slice(url.indexOf(",") + 1); // the base64 after "data:...;base64,"
}

async function mapChange(work, done) {
  mapSay("");
  try {
    await work();
    await mapShow();
    mapSay(tr(done));
  } catch (err) {
    if (err.status === 401) return showLogin();
    const why = err.status === 413 ? tr("The image is too large: at most {mb} MB.",
      {mb: Math.round(mapView.maxBytes / 1048576)}) : err.status ? tr("Refused: {why}", {why: err.message}) : err.message;
    mapSay(why, true);
  }
}

function mapWire() {
  for (const [button, input] of [["#map-new-choose", "#map-new-file"], ["#map-replace-choose", "#map-replace-file"]]) {
    $(button).addEventListener("click", () => $(input).click());
    $(input).addEventListener("change", () => {
      $(`${input}-name`).textContent = $(input).files[0]?.name || "";
    });
  }
  document.querySelector('nav .tab[data-tab="map"]').addEventListener("click", mapShow);
  $("#map-pick").addEventListener("change", () => mapLoad($("#map-pick").value).catch((err) => mapSay(err.message, true)));
  $("#map-camera-q").addEventListener("input", mapDrawCameras);
  $("#map-create").addEventListener("click", () => mapChange(async () => {
    const name = $("#map-new-name").value.trim();
    if (!name) throw new Error(tr("Give the map a name."));
    const image = await mapImage($("#map-new-file"));
    const m = await api("/api/maps", {method: "POST", body: JSON.stringify({name, image})});
    mapView.current = m;
    $("#map-new-name").value = "";
    $("#map-new-file").value = "";
    $("#map-new-file-name").textContent = "";
  }, "Map added"));
  $("#map-rename").addEventListener("click", () => mapChange(async () => {
    const name = $("#map-rename-name").value.trim();
    if (!name) throw new Error(tr("Give the map a name."));
    await api(`/api/maps/${mapPicked().id}`, {method: "PATCH", body: JSON.stringify({name})});
  }, "Map renamed"));
  $("#map-replace").addEventListener("click", () => mapChange(async () => {
    const image = await mapImage($("#map-replace-file"));
    await api(`/api/maps/${mapPicked().id}/image`, {method: "PUT", body: JSON.stringify({image})});
    $("#map-replace-file").value = "";
    $("#map-replace-file-name").textContent = "";
  }, "Image replaced"));
  $("#map-delete").addEventListener("click", () => {
    const m = mapPicked();
    if (!m || !confirm(tr("Delete the map {name} and its pins?", {name: m.name}))) return;
    mapChange(async () => {
      await api(`/api/maps/${m.id}`, {method: "DELETE"});
      if (mapView.current?.id === m.id) mapView.current = null;
    }, "Map deleted");
  });
  $("#map-save").addEventListener("click", () => mapChange(async () => {
    const pins = [...mapPlaces().values()].map(({node, camera, x, y}) => ({node, camera, x, y}));
    await api(`/api/maps/${mapView.current.id}/pins`, {method: "PUT", body: JSON.stringify({pins})});
    mapView.draft = null;
  }, "Pins saved"));
  $("#map-cancel").addEventListener("click", () => {
    mapView.draft = null;
    mapSay("");
    mapDrawPins();
    mapDrawCameras();
  });
  i18nRedraws.push(() => {
    if (!mapView.loaded) return;
    mapDrawList();
    mapDrawPins();
    mapDrawCameras();
  });
}

document.addEventListener("DOMContentLoaded", mapWire);
