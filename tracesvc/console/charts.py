"""Small SVG charts drawn by the server: no script, every label escaped, printable as they are.

Colours and sizes are attributes, not `style`: the Content-Security-Policy allows no inline style.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

from tracesvc.documents import chains
from tracesvc.domain.registry import Party
from tracesvc.store.findings import ChainRow

BAR = "#b3261e"
INK = "#222"


def bars(items: Sequence[tuple[str, int]], width: int = 420) -> Markup:
    """Horizontal bars, one row per label, the count at the bar's end."""
    if not items:
        return Markup("")
    top = max(n for _, n in items) or 1
    row, label_w = 22, 150
    parts = [
        f'<svg class="chart" role="img" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{row * len(items) + 4}" viewBox="0 0 {width} {row * len(items) + 4}">'
    ]
    for i, (label, n) in enumerate(items):
        y = i * row + 2
        w = max(2, int((width - label_w - 50) * n / top))
        parts.append(
            f'<text x="0" y="{y + 15}" font-size="12" fill="{INK}">{escape(label[:24])}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w}" height="15" fill="{BAR}"/>'
            f'<text x="{label_w + w + 4}" y="{y + 15}" font-size="12" fill="{INK}">{n}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def columns(items: Sequence[tuple[str, int]], width: int = 420, height: int = 140) -> Markup:
    """Vertical columns (one per week), the week's Monday under each."""
    if not items:
        return Markup("")
    top = max(n for _, n in items) or 1
    step = min(60, width // max(1, len(items)))
    parts = [
        f'<svg class="chart" role="img" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 30}" '
        f'viewBox="0 0 {width} {height + 30}">'
    ]
    for i, (label, n) in enumerate(items):
        h = max(2, int((height - 16) * n / top))
        x = i * step + 4
        parts.append(
            f'<rect x="{x}" y="{height - h}" width="{max(4, step - 8)}" height="{h}" fill="{BAR}"/>'
            f'<text x="{x}" y="{height - h - 3}" font-size="11" fill="{INK}">{n}</text>'
            f'<text x="{x}" y="{height + 14}" font-size="10" fill="{INK}">{escape(label[5:])}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _box(x: int, y: int, title: str, lines: Sequence[str], fill: str) -> str:
    h = 22 + 15 * len(lines)
    out = [
        f'<rect x="{x}" y="{y}" width="250" height="{h}" rx="6" fill="{fill}" stroke="#555"/>',
        f'<text x="{x + 8}" y="{y + 16}" font-size="13" font-weight="bold" fill="{INK}">{escape(title)}</text>',
    ]
    out += [
        f'<text x="{x + 8}" y="{y + 32 + 15 * n}" font-size="11" fill="{INK}">{escape(line[:40])}</text>'
        for n, line in enumerate(lines)
    ]
    return "".join(out)


def chain(c: ChainRow, parties: Mapping[str, Party]) -> Markup:
    """The return-drug chain, drawn as the case file and the evidence report draw it."""

    def name(pid: str) -> str:
        p = parties.get(pid)
        return f"{p.name} ({pid})" if p and p.name else pid

    svg = chains.chain_svg(c.originals, c.reentry, c.resales, name, code=c.code, marker=f"arrow-{c.flag_id[:12]}")
    return Markup(svg)  # noqa: S704 -- every text in it went through html.escape
