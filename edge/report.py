"""`edge analyze --report FILE.html`: a clip's timeline, for tuning thresholds.

One self-contained page (inline SVG, no script): motion, sharpness and brightness per
analysed frame over media time, every alert marked where it started, and the alerts listed.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from alerts.event import AlertEvent

W, H, PAD = 900, 120, 40


@dataclass(frozen=True, slots=True)
class Row:
    t: float
    motion: float  # share of the view
    sharpness: float | None
    brightness: float | None


def _chart(title: str, rows: Sequence[Row], values: list[float | None], t_end: float,
           starts: Sequence[AlertEvent], colour: str) -> str:
    known = [v for v in values if v is not None]
    top = max(known, default=1.0) or 1.0

    def x(t: float) -> float:
        return PAD + (W - 2 * PAD) * t / (t_end or 1.0)

    def y(v: float) -> float:
        return H - 10 - (H - 30) * v / top

    points = " ".join(f"{x(r.t):.1f},{y(v):.1f}" for r, v in zip(rows, values, strict=True)
                      if v is not None)
    marks = "".join(f'<line x1="{x(e.media_time):.1f}" x2="{x(e.media_time):.1f}" y1="14" '
                    f'y2="{H - 10}" class="alert"><title>{html.escape(e.type)} '
                    f'{html.escape(e.rule or "")} at {e.media_time:.1f} s</title></line>'
                    for e in starts)
    return (f'<figure><figcaption>{html.escape(title)} (max {top:.3g})</figcaption>'
            f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}">{marks}'
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/>'
            f'<text x="{PAD}" y="{H - 1}">0 s</text>'
            f'<text x="{W - PAD - 40}" y="{H - 1}">{t_end:.1f} s</text></svg></figure>')


def write_report(path: Path, source: str, camera: str, rows: Sequence[Row],
                 events: Sequence[AlertEvent]) -> None:
    t_end = rows[-1].t if rows else 0.0
    starts = [e for e in events if e.phase == "start"]
    charts = "".join((
        _chart("motion (share of the view)", rows, [r.motion for r in rows], t_end, starts,
               "#d9480f"),
        _chart("sharpness (mean |Laplacian|)", rows, [r.sharpness for r in rows], t_end,
               starts, "#1c7ed6"),
        _chart("brightness (mean grey level)", rows, [r.brightness for r in rows], t_end,
               starts, "#2b8a3e")))
    table = "".join(
        f"<tr><td>{e.media_time:.1f}</td><td>{html.escape(e.type)}</td>"
        f"<td>{html.escape(e.rule or '')}</td><td>{html.escape(e.severity)}</td>"
        f"<td>{e.score:.2f}</td><td>{html.escape(', '.join(o.label for o in e.objects))}</td>"
        f"</tr>" for e in starts)
    path.write_text(f"""<!doctype html><html><head><meta charset="utf-8">
<title>edge analyze: {html.escape(camera)}</title>
<style>body{{font:14px sans-serif;margin:24px}} svg{{background:#f8f9fa}}
line.alert{{stroke:#c92a2a;stroke-dasharray:3 3}} td,th{{padding:2px 10px;text-align:left}}
figure{{margin:0 0 12px}}</style></head><body>
<h1>{html.escape(camera)}: {html.escape(Path(source).name)}</h1>
<p>{len(rows)} analysed frames over {t_end:.1f} s of media; {len(starts)} alert(s), marked
in red on each chart.</p>{charts}
<table><tr><th>s</th><th>type</th><th>rule</th><th>severity</th><th>score</th>
<th>objects</th></tr>{table}</table></body></html>
""", encoding="utf-8")
