"""Evidence report: one self-contained HTML file an inspector can open and print.

Built from what ExportEvidence streams (so producing it is an audited evidence read):
the flags, each code's custody timeline, each return-drug chain drawn as an SVG
diagram (original sale → re-entry → resale, parties and dates on it), and for rule B
flags the buyer's purchase timeline (when, where, what, how much; the buyer by token
only) and, for CARD_TRAVEL, the two places and the time between them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from html import escape

import structlog
from google.protobuf.timestamp_pb2 import Timestamp

from reconciler.rules.model import ChainEntry, ChainSale
from tracesvc.documents import chains, fonts, wording
from tracesvc.documents.formatting import ZONE_NOTE, when
from tracesvc.documents.formatting import yuan as _yuan
from tracesvc.domain.events import EventKind
from tracesvc.v1 import enforcement_pb2 as en

log = structlog.get_logger(__name__)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # a stop with no time on the wire (never sent by the service)

_CSS = """
body{font-family:%(stack)s;margin:2em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #999}
table{border-collapse:collapse;width:100%;font-size:.85em;margin:.6em 0}
th,td{border:1px solid #bbb;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eee}.HIGH{color:#b00;font-weight:bold}.MEDIUM{color:#b60}.LOW{color:#555}
.meta{color:#555;font-size:.85em}tr.decisive td{background:#fde2e2}tr.refunded td{color:#888}
svg.chain{margin:.5em 0;max-width:100%}
@media print{body{margin:0}h2{page-break-after:avoid}svg.chain{page-break-inside:avoid}}
"""


def _at(ts: Timestamp) -> datetime | None:
    return ts.ToDatetime(tzinfo=UTC) if ts.seconds or ts.nanos else None


def _when(ts: Timestamp) -> str:
    return when(_at(ts))


def chain_svg(chain: en.ReturnChain, names: dict[str, str]) -> str:
    """The chain as the case file and the console draw it, from what ExportEvidence streamed."""

    def who(pid: str) -> str:
        return f"{names.get(pid, '')} ({pid})" if names.get(pid) else pid

    def sale(s: en.ChainSale) -> ChainSale:
        return ChainSale(s.event_id, s.party_id, _at(s.occurred_at) or EPOCH, s.buyer_token, s.fund_paid_fen, s.units)

    r = chain.reentry
    entry = (
        ChainEntry(r.event_id, EventKind(r.kind), r.party_id, r.supplier_id, _at(r.occurred_at) or EPOCH)
        if chain.HasField("reentry")
        else None
    )
    originals, resales = [sale(s) for s in chain.originals], [sale(s) for s in chain.resales]
    return chains.chain_svg(originals, entry, resales, who, code=chain.code, marker=f"arrow-{chain.flag_id[:12]}")


def render(
    subject: str,
    items: list[en.ExportEvidenceResponse],
    histories: dict[str, list[en.HistoryEntry]],
    generated_at: datetime | None = None,
) -> str:
    """The report as one HTML string: no external files, scripts or fonts."""
    got: dict[str, list] = defaultdict(list)
    for item in items:
        kind = item.WhichOneof("item")
        got[kind].append(getattr(item, kind))
    names = {p.party_id: p.name for p in got["party"]}
    severity = {1: "LOW", 2: "MEDIUM", 3: "HIGH"}
    status = {1: "OPEN", 2: "CONFIRMED", 3: "DISMISSED", 4: "RESOLVED"}
    out = [
        f"<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'><title>Evidence: {escape(subject)}</title>"
        f"<style>{_CSS.replace('%(stack)s', fonts.FONT_STACK)}</style></head><body>",
        f"<h1>追溯码稽查证据 Evidence report — {escape(subject)}</h1>",
        _opening(got["flag"], got["chain"]),
        f"<p class='meta'>生成 Generated {escape(when(generated_at or datetime.now(UTC)))} "
        "by tracesvc from the stored scan events. 参保人仅以令牌出现 Buyers appear as keyed tokens only. "
        f"{escape(ZONE_NOTE)}</p>",
        "<h2>违规线索 Findings</h2><table><tr><th>规则 Rule</th><th>类型 Kind</th><th>严重性 Severity</th>"
        "<th>追溯码 Code</th><th>当事人 Subject</th><th>时间 When</th><th>涉及基金 Money at risk</th>"
        "<th>状态 Status</th><th>线索 Finding</th></tr>",
    ]
    for f in got["flag"]:
        sev = severity.get(f.severity, "")
        out.append(
            f"<tr><td>{escape(f.rule)}</td><td>{escape(wording.kind_label('', f.kind))}</td>"
            f"<td class='{sev}'>{escape(wording.both(wording.SEVERITIES.get(sev), sev))}</td>"
            f"<td>{escape(f.code)}</td><td>{escape(names.get(f.subject_party, ''))} {escape(f.subject_party)}"
            f"</td><td>{_when(f.decisive_at)}</td><td>{_yuan(f.money_fen)}</td>"
            f"<td>{escape(wording.both(wording.STATUSES.get(status.get(f.status, '')), ''))}</td>"
            f"<td>{escape(wording.summary(f.rule, f.kind, f.detail))}</td></tr>"
        )
    out.append("</table>")
    if got["chain"]:
        out.append("<h2>回流路径 Return-drug chains（每盒一图 one diagram per box）</h2>")
        for chain, cited in _one_per_box(got["chain"], got["flag"]):
            out.append(
                f"<p><b>盒 Box {escape(chain.code)}</b> — 原销售基金支付 fund paid on the original sale "
                f"{_yuan(chain.money_fen)}{'' if chain.active else '（已消解 resolved）'}<br>"
                f"本图支持的线索 Flags this chain supports: {escape('；'.join(cited))}</p>{chain_svg(chain, names)}"
            )
    out += _buyer_sections(got["flag"], got["purchase"], got["travel"], names)
    for code, entries in histories.items():
        out.append(
            f"<h2>Custody timeline {escape(code)}</h2><table><tr><th>When</th><th>Event</th><th>Kind</th>"
            "<th>Party</th><th>Region</th><th>Counterparty</th><th>Units</th><th>Document</th></tr>"
        )
        for e in entries:
            cp = f"{e.counterparty.name} {e.counterparty.party_id}" if e.counterparty.party_id else ""
            out.append(
                f"<tr><td>{_when(e.occurred_at)}</td><td>{escape(e.event_id)}</td><td>{escape(e.kind)}</td>"
                f"<td>{escape(e.party.name)} {escape(e.party.party_id)}</td><td>{escape(e.party.region)}</td>"
                f"<td>{escape(cp)}</td><td>{'pack' if e.whole_pack else e.units}</td>"
                f"<td>{escape(e.document_no or e.sale_id)}</td></tr>"
            )
        out.append("</table>")
    if got["standing"]:
        out.append(
            "<h2>Licence standing at each event</h2><table><tr><th>Event</th><th>Party</th><th>At</th>"
            "<th>Licence</th></tr>"
        )
        for s in got["standing"]:
            out.append(
                f"<tr><td>{escape(s.event_id)}</td><td>{escape(names.get(s.party_id, ''))} "
                f"{escape(s.party_id)}</td><td>{_when(s.at)}</td><td>{escape(s.licence_status)}</td></tr>"
            )
        out.append("</table>")
    out.append("</body></html>")
    return _with_font("\n".join(out))


def _one_per_box(chain_list: list[en.ReturnChain], flags: list[en.Flag]) -> list[tuple[en.ReturnChain, list[str]]]:
    """One chain per box (the one whose re-entry was recorded, if any), with every flag on that box:
    a box's R and D chains are one story, never two diagrams that disagree."""
    by_code: dict[str, en.ReturnChain] = {}
    for c in sorted(chain_list, key=lambda c: (not c.HasField("reentry"), c.flag_id)):
        by_code.setdefault(c.code, c)
    on_box: dict[str, list[str]] = defaultdict(list)
    for f in flags:
        on_box[f.code].append(f"{wording.kind_label(f.rule, f.kind)} {f.flag_id[:12]}")
    return [(c, on_box.get(code, [])) for code, c in sorted(by_code.items())]


def _opening(flags: list[en.Flag], chain_list: list[en.ReturnChain]) -> str:
    """What the report holds, first: counts by kind, money at risk (each decisive sale once), boxes."""
    kinds: dict[str, int] = defaultdict(int)
    money: dict[str, int] = {}
    for f in flags:
        kinds[wording.kind_label(f.rule, f.kind)] += 1
        money[f.decisive_event_id] = max(money.get(f.decisive_event_id, 0), f.money_fen)
    counts = "；".join(f"{k} ×{n}" for k, n in sorted(kinds.items())) or "—"
    return (
        "<table class='opening'>"
        f"<tr><th>线索 Flags</th><td>{len(flags)}（{escape(counts)}）</td></tr>"
        f"<tr><th>涉及基金 Fund money at risk</th><td>{_yuan(sum(money.values()))}</td></tr>"
        f"<tr><th>回流药品 Boxes come back</th><td>{len({c.code for c in chain_list})}</td></tr></table>"
    )


def _place(p: en.PartyRef, names: dict[str, str]) -> str:
    name = p.name or names.get(p.party_id, "")
    return f"{name} {p.party_id}".strip() + (f" (region {p.region})" if p.region else "")


def _what(line: en.PurchaseLine) -> str:
    packs = f"{line.quantity} pack{'s' if line.quantity != 1 else ''}"
    amount = f"{line.quantity} units (拆零)" if line.split else packs
    return f"{line.insurance_code or '(not insured)'} {line.item_name} × {amount}".strip()


def _duration(seconds: int) -> str:
    minutes = seconds // 60
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _buyer_sections(
    flags: list[en.Flag], purchases: list[en.BuyerPurchase], travels: list[en.CardTravel], names: dict[str, str]
) -> list[str]:
    """Per rule B flag: the buyer's purchase timeline and, for CARD_TRAVEL, the two places and the time between."""
    out: list[str] = []
    for f in flags:
        timeline = [p for p in purchases if p.flag_id == f.flag_id]
        moves = [t for t in travels if t.flag_id == f.flag_id]
        if f.rule != "B" or not (timeline or moves):
            continue
        out.append(
            f"<h2>购药记录 Purchase timeline — {escape(f.kind)} {escape(f.code)}</h2>"
            f"<p class='meta'>Buyer token {escape(f.buyer_token)} (keyed hash; never the insured-person number)"
            f" — {escape(f.detail)}</p>"
        )
        if moves:
            out.append(
                "<table class='travel'><tr><th>Earlier: where</th><th>When</th><th>Then: where</th><th>When</th>"
                "<th>Time between</th></tr>"
            )
            for t in moves:
                out.append(
                    f"<tr><td>{escape(_place(t.earlier_party, names))}</td><td>{_when(t.earlier_at)}</td>"
                    f"<td>{escape(_place(t.later_party, names))}</td><td>{_when(t.later_at)}</td>"
                    f"<td>{_duration(t.seconds_between)}</td></tr>"
                )
            out.append("</table>")
        out.append(
            "<table class='purchases'><tr><th>When</th><th>Where</th><th>What</th><th>Amount</th>"
            "<th>Fund paid</th><th>Sale</th><th>Note</th></tr>"
        )
        for p in timeline:
            marks = [
                m for m, on in (("decisive", p.decisive), ("evidence", p.evidence), ("refunded", p.refunded)) if on
            ]
            where = escape(_place(p.party, names))
            what = "<br>".join(escape(_what(ln)) for ln in p.lines)
            out.append(
                f"<tr class='{' '.join(marks)}'><td>{_when(p.occurred_at)}</td><td>{where}</td>"
                f"<td>{what}</td><td>{_yuan(p.amount_fen)}</td><td>{_yuan(p.fund_paid_fen)}</td>"
                f"<td>{escape(p.sale_id)}</td><td>{', '.join(marks)}</td></tr>"
            )
        out.append("</table>")
    return out


def _with_font(html: str) -> str:
    """Embed the CJK font subset the page needs (tracesvc.documents.fonts), so it reads the same everywhere."""
    try:
        face = fonts.font_face_css(html)
    except fonts.FontMissing as exc:  # still a usable report, in whatever font the reader has
        log.warning("report_without_embedded_font", reason=str(exc))
        face = ""
    return html.replace("<style>", f"<style>{face}\n", 1)


async def build(channel, metadata, *, flag_id: str = "", party_id: str = "") -> str:
    """Fetch the evidence over gRPC (audited) and render it."""
    from tracesvc.v1 import enforcement_pb2_grpc

    stub = enforcement_pb2_grpc.EnforcementServiceStub(channel)
    request = en.ExportEvidenceRequest(flag_id=flag_id) if flag_id else en.ExportEvidenceRequest(party_id=party_id)
    items = [i async for i in stub.ExportEvidence(request, metadata=metadata)]
    codes = sorted({i.flag.code for i in items if i.WhichOneof("item") == "flag" and i.flag.rule not in ("S", "B")})
    histories = {}
    for code in codes[:50]:  # a party report shows the first 50 codes' timelines; the flags list them all
        resp = await stub.GetCodeHistory(en.GetCodeHistoryRequest(code=code), metadata=metadata)
        histories[code] = list(resp.entries)
    return render(f"flag {flag_id}" if flag_id else f"party {party_id}", items, histories)
