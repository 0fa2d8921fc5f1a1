// The console's languages. The English text is the key: `tr("Acknowledge")` gives the
// Chinese when the console is in zh-CN and the English otherwise, so a string with no
// entry shows in English and is counted in `i18nMissing`, which the tests read.
// Each console file adds its own entries with `i18nAdd({...})`; the page's static text
// is marked `data-i18n` (text), `data-i18n-placeholder`, `data-i18n-title`, `data-i18n-alt` or
// `data-i18n-aria-label`. Data from edges (camera names, rules, notes) is never
// translated; elements that show it carry `translate="no"`.
"use strict";

const I18N_LANGS = {en: "English", "zh-CN": "中文"};
const i18nZh = new Map();
const i18nMissing = new Set();
let i18nLang = i18nPick();

function i18nPick() {
  const saved = localStorage.getItem("lang");
  if (saved && saved in I18N_LANGS) return saved;
  const wanted = navigator.languages?.length ? navigator.languages : [navigator.language];
  return wanted.some((l) => (l || "").toLowerCase().startsWith("zh")) ? "zh-CN" : "en";
}

function i18nAdd(entries) {
  for (const [en, zh] of Object.entries(entries)) {
    i18nZh.set(en, zh);
    i18nMissing.delete(en); // asked for before this file's entries came (scripts load in turn)
  }
}

// `vars` fill `{name}` places after translation, so word order can differ by language.
function tr(text, vars) {
  let out = text;
  if (i18nLang === "zh-CN") {
    const zh = i18nZh.get(text);
    if (zh === undefined) i18nMissing.add(text);
    else out = zh;
  }
  if (vars) out = out.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  return out;
}

// A value from a fixed vocabulary (alert type, state, severity, outcome): its label.
function trWord(kind, value) {
  if (value === null || value === undefined || value === "") return "";
  const key = `${kind}:${value}`;
  const label = tr(key);
  return label === key ? String(value).replaceAll("_", " ") : label;
}

const I18N_ATTRS = ["placeholder", "title", "aria-label", "alt"];

function i18nApply(root = document) {
  for (const node of root.querySelectorAll("[data-i18n]")) {
    node.dataset.i18n ||= node.textContent.trim().replace(/\s+/g, " ");
    node.textContent = tr(node.dataset.i18n);
  }
  for (const attr of I18N_ATTRS) {
    const data = `i18n${attr.replace(/(^|-)(\w)/g, (m, d, c) => c.toUpperCase())}`;
    for (const node of root.querySelectorAll(`[data-i18n-${attr}]`)) {
      node.dataset[data] ||= node.getAttribute(attr) || "";
      node.setAttribute(attr, tr(node.dataset[data]));
    }
  }
  document.documentElement.lang = i18nLang;
}

// Switching language re-renders what the console files have drawn; each registers how.
const i18nRedraws = [];
function i18nSet(lang) {
  if (!(lang in I18N_LANGS)) return;
  i18nLang = lang;
  localStorage.setItem("lang", lang);
  i18nApply();
  for (const redraw of i18nRedraws) redraw();
}

// Times in the operator's own time zone, written the way the chosen language writes them.
function trTime(when) {
  if (when === null || when === undefined || when === "") return "";
  const date = typeof when === "number" ? new Date(when * 1000) : new Date(when);
  return date.toLocaleString(i18nLang === "zh-CN" ? "zh-CN" : "en-GB", {hour12: false});
}

i18nAdd({
  "severity:critical": "紧急", "severity:warning": "警告", "severity:info": "提示",
  // The names GB/T 28181 and the trade use for the alarm types.
  "type:intrusion": "区域入侵", "type:line_crossing": "绊线", "type:loitering": "徘徊",
  "type:crowd": "人员聚集", "type:object_left": "物品遗留", "type:object_removed": "物品移除",
  "type:motion": "移动侦测", "type:camera_offline": "视频丢失", "type:stream_unstable": "视频流不稳定",
  "type:video_occluded": "视频遮挡", "type:video_frozen": "画面冻结",
  "type:video_blurred": "视频模糊", "type:video_too_dark": "过暗", "type:video_too_bright": "过亮",
  "type:scene_changed": "场景变更", "type:color_cast": "偏色", "type:video_noisy": "噪声/雪花",
  "state:new": "新告警", "state:acknowledged": "已确认", "state:dispatched": "已派遣",
  "state:resolved": "已处置", "state:closed": "已结案", "state:false_alarm": "误报",
  "outcome:confirmed": "属实", "outcome:suspicious": "可疑", "outcome:false_alarm": "误报",
  "role:operator": "值班员", "role:supervisor": "值班长", "role:admin": "管理员",
});

// words several pages use, in one place so that each reads the same everywhere
i18nAdd({
  "severity": "级别", "type": "类型", "where": "位置", "alerts": "告警数", "state": "状态",
  "node": "节点", "camera": "摄像机", "rule": "规则", "{n} s": "{n} 秒", "Not found": "未找到",
  "Failed": "操作失败", "Name": "用户名", "escalated": "已升级", "intact": "完好",
  "open alerts": "未处置告警", "By node": "按节点", "Outcomes": "处置结果", "since": "开始时间",
  "7 days": "近7天", "30 days": "近30天", "Export CSV": "导出 CSV",
});
