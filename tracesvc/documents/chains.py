"""The one drawing of a return-drug chain: original sale(s) → re-entry → resale(s), left to right.

Used by the evidence report, the case file and the web console, each handing over the chain's
stops as the reconciler's typed values (`ChainSale`, `ChainEntry`) and how to name a party.
Inline SVG: no script, prints as drawn, and its text stays text (searchable, copyable).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from reconciler.rules.model import ChainEntry, ChainSale
from tracesvc.documents.formatting import when, yuan

# Text at 12 px: about 8 pt once a three-column chain is fitted to an A4 page, legible in print.
BOX_W, BOX_GAP, ROW_H, LINE_H = 210, 60, 110, 16
_ORIGINAL, _REENTRY, _RESALE, _NONE = "#fde2e2", "#fff3c4", "#dff0d8", "#eeeeee"


def _box(x: int, y: int, title: str, lines: Sequence[str], fill: str) -> str:
    rows = "".join(
        f'<text x="{x + 8}" y="{y + 38 + LINE_H * i}" font-size="12">{escape(t)}</text>'
        for i, t in enumerate(lines)
        if t
    )
    height = 28 + LINE_H * len(lines)
    return (
        f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{height}" rx="6" fill="{fill}" stroke="#444"/>'
        f'<text x="{x + 8}" y="{y + 18}" font-size="12" font-weight="bold">{escape(title)}</text>{rows}'
    )


def chain_svg(
    originals: Sequence[ChainSale],
    reentry: ChainEntry | None,
    resales: Sequence[ChainSale],
    name: Callable[[str], str],
    *,
    code: str = "",
    marker: str = "arrow",
    font_family: str = "",
) -> str:
    """The chain as an SVG element; `marker` must be unique on a page that holds several."""

    def sale(s: ChainSale, fund: bool) -> list[str]:
        buyer = f"参保人 buyer {s.buyer_token[:12]}…" if s.buyer_token else ""
        return [
            name(s.party_id),
            when(s.occurred_at, zone=False),
            buyer,
            f"基金支付 fund {yuan(s.fund_paid_fen)}" if fund else "",
        ]

    entry = (
        [
            (
                "回流入库 re-entry",
                [
                    name(reentry.party_id),
                    f"来自 from {name(reentry.supplier_id) or '?'}",
                    f"{reentry.kind} {when(reentry.occurred_at, zone=False)}",
                ],
                _REENTRY,
            )
        ]
        if reentry is not None
        else [("回流入库 re-entry", ["未记录 not recorded", "（由再销售推知 shown by a resale）"], _NONE)]
    )
    columns = [
        [("原销售 original sale", sale(s, True), _ORIGINAL) for s in originals],
        entry,
        [("再销售 resale", sale(s, False), _RESALE) for s in resales] or [("再销售 resale", ["暂无 none yet"], _NONE)],
    ]
    parts, centres = [], []
    for col, boxes in enumerate(columns):
        x = 10 + col * (BOX_W + BOX_GAP)
        centres.append((x, [10 + row * ROW_H + 30 for row in range(len(boxes))]))
        parts += [_box(x, 10 + row * ROW_H, *box) for row, box in enumerate(boxes)]
    for (x1, ys1), (x2, ys2) in zip(centres, centres[1:], strict=False):
        parts += [
            f'<line x1="{x1 + BOX_W}" y1="{y1}" x2="{x2 - 4}" y2="{y2}" stroke="#444" stroke-width="1.4" '
            f'marker-end="url(#{marker})"/>'
            for y1 in ys1
            for y2 in ys2
        ]
    width = 20 + 3 * BOX_W + 2 * BOX_GAP
    height = 20 + ROW_H * max(len(b) for b in columns)
    font = f' font-family="{escape(font_family)}"' if font_family else ""
    return (
        f'<svg class="chain" data-code="{escape(code)}" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}"{font}>'
        f'<defs><marker id="{marker}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>' + "".join(parts) + "</svg>"
    )
