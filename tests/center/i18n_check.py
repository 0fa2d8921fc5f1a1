"""Whether what a console page shows is translated: a helper for every page's tests.

``assert_translated(page, where)`` fails when, in the page as it is now, a visible text
outside ``translate="no"`` elements (the data: camera and node names, notes, rules), the
label of a choice in a visible select, a visible element's placeholder, title,
aria-label or alt, or the document's title holds a Latin word of two letters or more
that is not on the short allowlist; or when the console's ``i18nMissing`` (the strings
``tr`` found no Chinese for) is not empty. Call it with the console in zh-CN, on each tab
and state worth seeing."""

from __future__ import annotations

from playwright.async_api import Page

# Words a Chinese console writes in Latin letters too: file formats and protocols by
# their names, units' symbols, the standard's code (GB/T 28181).
ALLOWED = frozenset({"CSV", "MQTT", "RTSP", "GB", "ms", "fps", "kbps", "Mbps"})

_FIND = """allowed => {
  const word = /[A-Za-z]{2,}/g;
  const bad = (text) => (text.match(word) || []).filter((w) => !allowed.includes(w));
  const found = [];
  const where = (node) => {
    const parts = [];
    for (let n = node; n && n !== document.body && parts.length < 4; n = n.parentElement) {
      parts.unshift(n.tagName.toLowerCase() + (n.id ? "#" + n.id : ""));
    }
    return parts.join(" > ");
  };
  const shown = (node) => (node.checkVisibility ? node.checkVisibility()
    : node.getClientRects().length > 0);
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let t = walk.nextNode(); t; t = walk.nextNode()) {
    const parent = t.parentElement;
    if (!parent || parent.translate === false) continue;
    if (["SCRIPT", "STYLE", "OPTION", "TITLE"].includes(parent.tagName)) continue;
    if (!bad(t.data).length) continue;
    const range = document.createRange();
    range.selectNodeContents(t);
    if (range.getClientRects().length && shown(parent)) {
      found.push(`${where(parent)}: ${t.data.trim()}`);
    }
  }
  for (const select of document.querySelectorAll("select")) {
    if (select.translate === false || !shown(select)) continue;
    for (const o of select.options) {
      if (o.translate !== false && bad(o.text).length) {
        found.push(`${where(select)} option: ${o.text}`);
      }
    }
  }
  const labelled = "[placeholder], [title], [aria-label], [alt]";
  for (const node of document.body.querySelectorAll(labelled)) {
    // translate="no" covers an element's attributes too (HTML's translatable attributes)
    if (node.translate === false || !shown(node)) continue;
    for (const attr of ["placeholder", "title", "aria-label", "alt"]) {
      const v = node.getAttribute(attr);
      if (v && bad(v).length) found.push(`${where(node)} @${attr}: ${v}`);
    }
  }
  if (bad(document.title).length) found.push(`title: ${document.title}`);
  return found;
}"""


async def untranslated(page: Page) -> list[str]:
    """What the page shows in Latin words outside the data, each with where it is."""
    return await page.evaluate(_FIND, sorted(ALLOWED))


async def missing(page: Page) -> list[str]:
    """The strings the console asked to translate and found no Chinese for."""
    return await page.evaluate("[...i18nMissing]")


async def assert_translated(page: Page, where: str) -> None:
    """Fails, naming each, on anything the page shows untranslated (the console must be
    in zh-CN)."""
    assert await page.evaluate("i18nLang") == "zh-CN", where
    left, lacking = await untranslated(page), await missing(page)
    assert not left and not lacking, f"{where}: untranslated {left}; no Chinese for {lacking}"
