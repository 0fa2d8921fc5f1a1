"""`edge analyze --report FILE.html`: a clip's timeline, for tuning thresholds.

One self-contained page (inline SVG, no script): per analysed frame over media time, motion
and what each video-quality fault type is decided by, drawn against the thresholds that
decide it (dashed), every alert marked where it started, and the alerts listed.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from alerts.event import AlertEvent
from models.quality import QualitySample, QualityThresholds, moved_score

W, H, PAD = 900, 120, 40


@dataclass(frozen=True, slots=True)
class Row:
    t: float
    motion: float  # share of the view
    quality: QualitySample | None  # None where quality analysis is off


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    colour: str
    values: list[float | None]


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    series: list[Series]
    limits: list[tuple[str, float]]  # (threshold's name, value): a dashed line each


def charts(rows: Sequence[Row], t: QualityThresholds) -> list[Chart]:
    """Motion, then one chart per fault type's measurement, with its thresholds."""

    def each(measure: Callable[[QualitySample], float]) -> list[float | None]:
        return [None if r.quality is None else measure(r.quality) for r in rows]

    def ratio(a: float, b: float) -> float:
        return a / max(b, 1e-6)

    return [
        Chart("motion (share of the view)",
              [Series("motion", "#d9480f", [r.motion for r in rows])], []),
        Chart("brightness (mean grey level): video_too_dark, video_too_bright",
              [Series("brightness", "#2b8a3e", each(lambda s: s.brightness))],
              [("dark_below", t.dark_below), ("bright_above", t.bright_above)]),
        Chart("covered (share of the view): video_occluded",
              [Series("covered", "#5f3dc4", each(lambda s: s.covered))],
              [("occluded_share", t.occluded_share)]),
        Chart("detail kept (sharpness, share of the camera's own): video_blurred; under "
              "smeared_ratio a smear is asked",
              [Series("sharpness", "#1c7ed6",
                      each(lambda s: ratio(s.sharpness, s.sharpness_base)))],
              [("blur_ratio", t.blur_ratio), ("smeared_ratio", t.smeared_ratio)]),
        Chart("since the detail went: veil (coarse contrast kept) and spread (mid-scale "
              "contrast kept, share of the veil): a smear is video_occluded",
              [Series("veil", "#1c7ed6", each(lambda s: s.veil)),
               Series("spread", "#e67700", each(lambda s: ratio(s.mid, s.veil)))],
              [("hazed_below", t.hazed_below), ("smudged_below", t.smudged_below),
               ("spread_below", t.spread_below)]),
        Chart("camera motion (share of the least that counts): scene_changed",
              [Series("moved", "#c2255c", each(lambda s: moved_score(s.move, t)))],
              [("moved", 1.0)]),
        Chart("noise (grey levels): video_noisy over the larger of noise_ratio x the "
              "camera's own and noise_above",
              [Series("noise", "#495057", each(lambda s: s.noise)),
               Series("limit", "#adb5bd", each(lambda s: max(t.noise_ratio * s.noise_base,
                                                              t.noise_above)))], []),
        Chart("still (share of the last 10 analysed frames): video_frozen",
              [Series("still", "#0b7285", each(lambda s: s.still))],
              [("frozen_share", t.frozen_share)]),
        Chart("colour (largest chroma offset from neutral, and shift from the learned "
              "colour): color_cast",
              [Series("offset", "#862e9c", each(lambda s: s.chroma_offset)),
               Series("shift", "#e64980", each(lambda s: s.chroma_shift))],
              [("cast_above", t.cast_above), ("cast_shift", t.cast_shift)]),
    ]


def _svg(chart: Chart, rows: Sequence[Row], t_end: float, starts: Sequence[AlertEvent]
         ) -> str:
    known = [v for s in chart.series for v in s.values if v is not None]
    top = max([*known, *(v for _, v in chart.limits)], default=1.0) or 1.0

    def x(t: float) -> float:
        return PAD + (W - 2 * PAD) * t / (t_end or 1.0)

    def y(v: float) -> float:
        return H - 10 - (H - 30) * max(v, 0.0) / top

    marks = "".join(f'<line x1="{x(e.media_time):.1f}" x2="{x(e.media_time):.1f}" y1="14" '
                    f'y2="{H - 10}" class="alert"><title>{html.escape(e.type)} '
                    f'{html.escape(e.rule or "")} at {e.media_time:.1f} s</title></line>'
                    for e in starts)
    limits = "".join(f'<line x1="{PAD}" x2="{W - PAD}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                     f'class="limit"><title>{html.escape(name)} {v:g}</title></line>'
                     f'<text x="{W - PAD + 2}" y="{y(v) + 4:.1f}" class="limit">'
                     f'{html.escape(name)}</text>' for name, v in chart.limits)
    lines = "".join(
        f'<polyline fill="none" stroke="{s.colour}" stroke-width="1.5" points="'
        + " ".join(f"{x(r.t):.1f},{y(v):.1f}" for r, v in zip(rows, s.values, strict=True)
                   if v is not None) + '"/>' for s in chart.series)
    legend = ", ".join(f'<span style="color:{s.colour}">{html.escape(s.label)}</span>'
                       for s in chart.series)
    return (f'<figure><figcaption>{html.escape(chart.title)} — {legend} (max {top:.3g})'
            f'</figcaption><svg viewBox="0 0 {W + 90} {H}" width="{W + 90}" height="{H}">'
            f'{marks}{limits}{lines}<text x="{PAD}" y="{H - 1}">0 s</text>'
            f'<text x="{W - PAD - 40}" y="{H - 1}">{t_end:.1f} s</text></svg></figure>')


def write_report(path: Path, source: str, camera: str, rows: Sequence[Row],
                 events: Sequence[AlertEvent], thresholds: QualityThresholds) -> None:
    t_end = rows[-1].t if rows else 0.0
    starts = [e for e in events if e.phase == "start"]
    shown = charts(rows, thresholds)
    if not any(r.quality for r in rows):
        shown = shown[:1]  # quality analysis off: motion only
    figures = "".join(_svg(c, rows, t_end, starts) for c in shown)
    table = "".join(
        f"<tr><td>{e.media_time:.1f}</td><td>{html.escape(e.type)}</td>"
        f"<td>{html.escape(e.rule or '')}</td><td>{html.escape(e.severity)}</td>"
        f"<td>{e.score:.2f}</td><td>{html.escape(', '.join(o.label for o in e.objects))}</td>"
        f"</tr>" for e in starts)
    path.write_text(f"""<!doctype html><html><head><meta charset="utf-8">
<title>edge analyze: {html.escape(camera)}</title>
<style>body{{font:14px sans-serif;margin:24px}} svg{{background:#f8f9fa}}
line.alert{{stroke:#c92a2a;stroke-dasharray:3 3}} line.limit{{stroke:#868e96;
stroke-dasharray:6 4}} text.limit{{font-size:11px;fill:#868e96}}
td,th{{padding:2px 10px;text-align:left}} figure{{margin:0 0 12px}}</style></head><body>
<h1>{html.escape(camera)}: {html.escape(Path(source).name)}</h1>
<p>{len(rows)} analysed frames over {t_end:.1f} s of media; {len(starts)} alert(s), marked
in red on each chart; thresholds dashed, by their names in the camera's <code>quality</code>
config where it has them. A quality alert starts once its condition has held for its hold
(tamper 3 s, camera health 10 s by default).</p>{figures}
<table><tr><th>s</th><th>type</th><th>rule</th><th>severity</th><th>score</th>
<th>objects</th></tr>{table}</table></body></html>
""", encoding="utf-8")
