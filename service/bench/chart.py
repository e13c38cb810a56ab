"""A hand-made SVG bar chart: p50 latency by page depth (the depth sweep)."""
from __future__ import annotations

from collections.abc import Sequence
from html import escape

from service.bench.scenarios import SweepPoint

WIDTH, HEIGHT = 720, 360
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 40, 70


def _nice_ceiling(value: float) -> float:
    """1, 2 or 5 times a power of ten, at least value: round numbers on the axis."""
    if value <= 0:
        return 1.0
    scale = 10 ** (len(str(int(value))) - 1) if value >= 1 else 0.1
    while scale > value:
        scale /= 10
    for step in (1, 2, 5, 10):
        if step * scale >= value:
            return step * scale
    return 10 * scale


def depth_chart(points: Sequence[SweepPoint], title: str) -> str:
    top = _nice_ceiling(max((p.result.p50_ms for p in points), default=1.0) * 1.1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(points), 1)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
           f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="14">{escape(title)}</text>']
    for i in range(5):
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>')
    out.append(f'<text x="16" y="{TOP + plot_h / 2}" transform="rotate(-90 16 {TOP + plot_h / 2})" '
               'text-anchor="middle">p50 ms</text>')
    for i, point in enumerate(points):
        height = plot_h * point.result.p50_ms / top
        x = LEFT + i * slot + slot * 0.15
        y = TOP + plot_h - height
        colour = "#4c78a8" if point.strategy == "offset" else "#f58518"
        out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{height:.1f}" fill="{colour}">'
                   f'<title>{escape(point.label)}: {point.result.p50_ms:.2f} ms ({point.strategy})</title></rect>')
        out.append(f'<text x="{x + slot * 0.35:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="11">'
                   f'{point.result.p50_ms:.2f}</text>')
        label = point.label + (" *" if point.rows == 0 else "")
        out.append(f'<text x="{x + slot * 0.35:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{escape(label)}</text>')
    legend_y = HEIGHT - 22
    out.append(f'<rect x="{LEFT}" y="{legend_y - 10}" width="12" height="12" fill="#4c78a8"/>'
               f'<text x="{LEFT + 16}" y="{legend_y}">offset strategy</text>'
               f'<rect x="{LEFT + 130}" y="{legend_y - 10}" width="12" height="12" fill="#f58518"/>'
               f'<text x="{LEFT + 146}" y="{legend_y}">cursor (keyset) strategy</text>'
               f'<text x="{LEFT + 340}" y="{legend_y}">* past the end of the list (empty page)</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
