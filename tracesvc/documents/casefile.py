"""The case file as a person reads it: HTML (and PDF, through WeasyPrint) from a case's dossier.

The PDF holds the case and its log, each flag's finding, the return-drug chains as diagrams, the
custody timeline of every code with each party's licence standing at each event, the licences,
the purchases of the case's buyers (by keyed token), and an appendix listing every cited record
with its SHA-256 (the digests are computed by `tracesvc.service.casefile`, which also builds the
manifest).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from tracesvc.documents import chains, fonts
from tracesvc.documents.formatting import when as _when_zone
from tracesvc.documents.formatting import yuan as _yuan
from tracesvc.domain.registry import Party
from tracesvc.store import cases as store
from tracesvc.store.dossier import Dossier
from tracesvc.store.findings import ChainRow

_STATUS_ZH = {
    "OPEN": "立案 OPEN",
    "INVESTIGATING": "调查中 INVESTIGATING",
    "ESCALATED": "已移送 ESCALATED",
    "CLOSED_CONFIRMED": "结案·属实 CLOSED_CONFIRMED",
    "CLOSED_DISMISSED": "结案·不属实 CLOSED_DISMISSED",
}


@dataclass(frozen=True)
class ManifestEntry:
    kind: str  # event, flag, chain, party, case, case_log
    id: str
    sha256: str


def casefile_pdf(d: Dossier, entries: Sequence[ManifestEntry]) -> bytes:
    """The PDF. Raises fonts.FontMissing when the CJK font is not installed."""
    from weasyprint import HTML

    fonts.font_file()  # refuse early, with the install hint, rather than print empty boxes
    return bytes(HTML(string=render_html(d, entries)).write_pdf())


# -- rendering ---------------------------------------------------------------------------------


def _when(value: datetime | None) -> str:
    return _when_zone(value, zone=False)


def _e(value: object) -> str:
    return escape(str(value if value is not None else ""))


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table class='{cls}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def standing(party: Party | None, when: datetime) -> str:
    """The party's licence status at `when`: ACTIVE, SUSPENDED, REVOKED, or NONE."""
    if party is None:
        return "NONE"
    statuses = [s for s in (lic.status_at(when) for lic in party.licences) if s is not None]
    if not statuses:
        return "NONE"
    return "ACTIVE" if any(s.value == "ACTIVE" for s in statuses) else statuses[0].value


def _who(d: Dossier, party_id: str) -> str:
    party = d.parties.get(party_id)
    name = f"{party.name} " if party is not None and party.name else ""
    return f"{_e(name)}<span class='id'>{_e(party_id)}</span>" if party_id else ""


def _cover(d: Dossier) -> str:
    c = d.view.case
    rows = [
        ("案件编号 Case", _e(c.case_id)),
        ("标题 Title", _e(c.title)),
        ("状态 Status", _e(_STATUS_ZH.get(c.status, c.status))),
        ("当事人 Subjects", ", ".join(_who(d, p) for p in c.subject_parties)),
        ("地区 Region", _e(c.region)),
        ("承办人 Assignee", _e(c.assignee)),
        ("立案 Opened", f"{_when(c.created_at)} by {_e(c.created_by)}"),
        ("线索 Flags", f"{c.flag_count}"),
        ("涉及基金 Fund money at risk", _yuan(c.money_fen)),
        ("生成 Generated", f"{_when(d.generated_at)} (UTC+8) by {_e(d.generated_by)}"),
    ]
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return (
        "<h1>药品追溯码稽查案卷 Case file</h1>"
        f"<table class='cover'>{body}</table>"
        "<p class='meta'>All times are China Standard Time (UTC+8). Insured persons appear as keyed tokens "
        "only. Appendix A lists the SHA-256 of every record this file cites; the digest of the file itself "
        "is in the manifest delivered with it and in the case log (see README, 'Verifying a case file').</p>"
    )


def _log(d: Dossier) -> str:
    rows = []
    for e in d.view.log:
        move = f"<br>{_e(e.from_status or '')} → {_e(e.to_status)}" if e.to_status else ""
        detail = f"<br><span class='id'>{_e(e.detail)}</span>" if e.detail else ""
        rows.append(
            (e.log_seq, _when(e.at), f"{_e(e.actor)}<br>{_e(e.role)}", f"{_e(e.action)}{move}{detail}", _e(e.reason))
        )
    return "<h2>案件日志 Case log</h2>" + _table(["#", "When", "Who", "Action", "Reason"], rows, "log")


def _findings(d: Dossier) -> str:
    rows = [
        (
            f"{_e(f.rule)} {_e(f.kind)}",
            f"<span class='{_e(f.severity)}'>{_e(f.severity)}</span>",
            f"<span class='id'>{_e(f.code)}</span>",
            _who(d, f.subject_party),
            _when(f.decisive_at),
            f"<span class='id'>{_e(f.decisive_event_id)}</span>",
            _yuan(f.money_fen),
            _e(f.status) + (f"<br>{_e(f.review_note)}" if f.review_note else ""),
            _e(f.detail),
        )
        for f in d.view.flags
    ]
    return "<h2>违规线索 Findings</h2>" + _table(
        ["Rule / kind", "Severity", "Code", "Subject", "When", "Decisive event", "Money", "Status", "Finding"], rows
    )


def chain_svg(d: Dossier, chain: ChainRow, n: int = 0) -> str:
    def name(pid: str) -> str:
        party = d.parties.get(pid)
        return f"{party.name} {pid}" if party is not None and party.name else pid

    return chains.chain_svg(
        chain.originals,
        chain.reentry,
        chain.resales,
        name,
        code=chain.code,
        marker=f"arrow{n}",
        font_family=fonts.FAMILY,
    )


def _chains(d: Dossier) -> str:
    if not d.chains:
        return ""
    out = ["<h2>回流路径 Return-drug chains</h2>"]
    for n, c in enumerate(d.chains):
        out.append(
            f"<div class='chain'><p><span class='id'>{_e(c.code)}</span> — flag "
            f"<span class='id'>{_e(c.flag_id)}</span>, fund paid on the original sale {_yuan(c.money_fen)}"
            f"{'' if c.active else ' (resolved)'}</p>{chain_svg(d, c, n)}</div>"
        )
    return "".join(out)


def _timeline_rows(d: Dossier, rows: Sequence[store.TimelineRow], *, buyers: bool) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for t in rows:
        licence = standing(d.parties.get(t.party_id), t.occurred_at)
        cp = t.counterparty_id
        cp_text = f"{_who(d, cp)} [{standing(d.parties.get(cp), t.occurred_at)}]" if cp else ""
        units = "" if buyers else ("pack" if t.units is None else t.units)
        out.append(
            (
                _when(t.occurred_at),
                f"<span class='id'>{_e(t.event_id)}</span>",
                _e(t.kind),
                f"{_who(d, t.party_id)} [{licence}]",
                cp_text,
                units,
                _e(t.document_no or t.sale_id),
                _yuan(t.fund_paid_fen) if t.kind == "SALE" else "",
            )
        )
    return out


def _timelines(d: Dossier) -> str:
    headers = [
        "When",
        "Event",
        "Kind",
        "Party [licence then]",
        "Counterparty [licence then]",
        "Units",
        "Document",
        "Fund paid",
    ]
    out = []
    for code, rows in d.code_timelines.items():
        out.append(
            f"<h3>追溯码 Custody timeline <span class='id'>{_e(code)}</span></h3>"
            + _table(headers, _timeline_rows(d, rows, buyers=False))
        )
    for token, rows in d.buyer_timelines.items():
        out.append(
            f"<h3>参保人购药记录 Buyer timeline <span class='id'>{_e(token)}</span></h3>"
            + _table(headers, _timeline_rows(d, rows, buyers=True))
        )
    return ("<h2>追溯记录 Timelines</h2>" + "".join(out)) if out else ""


def _licences(d: Dossier) -> str:
    rows = []
    for pid in sorted(d.parties):
        p = d.parties[pid]
        lic = (
            "<br>".join(
                f"{_e(lic.number)} {_when(lic.valid_from)} – {_when(lic.valid_to) or 'open'}"
                + "".join(f"; {_e(st.value)} from {_when(since)}" for st, since in lic.status_history)
                for lic in p.licences
            )
            or "none on record"
        )
        rows.append((_who(d, pid), _e(p.kind.value), _e(p.region), lic))
    return "<h2>资质 Licence standing</h2>" + _table(["Party", "Kind", "Region", "Licences"], rows)


def _appendix(entries: Sequence[ManifestEntry]) -> str:
    rows = [
        (_e(e.kind), f"<span class='id'>{_e(e.id)}</span>", f"<span class='digest'>{_e(e.sha256)}</span>")
        for e in entries
    ]
    return "<h2 class='appendix'>附录A 引用记录摘要 Appendix A — SHA-256 of every cited record</h2>" + _table(
        ["Record", "Id", "SHA-256"], rows, "manifest"
    )


_CSS = """
@page{size:A4;margin:16mm 12mm 18mm 12mm;@bottom-center{content:"%(case)s — " counter(page) " / " counter(pages);
font-size:8pt;color:#555}}
html{font-family:%(stack)s;font-size:8.5pt;color:#111}
h1{font-size:16pt}h2{font-size:12pt;border-bottom:1px solid #888;margin-top:14pt}h3{font-size:10pt}
table{border-collapse:collapse;width:100%%;margin:4pt 0}th,td{border:0.5pt solid #999;padding:2pt 3pt;
text-align:left;vertical-align:top}th{background:#eee}table.cover th{width:30%%}
.id,.digest{font-size:7pt;word-break:break-all}.HIGH{color:#b00;font-weight:bold}.MEDIUM{color:#b60}
.meta{color:#444}table.log td:nth-child(4){width:38%%}table.log td:nth-child(5){width:38%%}
div.chain{page-break-inside:avoid}h2.appendix{page-break-before:always}
"""


def render_html(d: Dossier, entries: Sequence[ManifestEntry]) -> str:
    body = "".join([_cover(d), _log(d), _findings(d), _chains(d), _timelines(d), _licences(d), _appendix(entries)])
    css = _CSS % {"case": d.view.case.case_id, "stack": fonts.FONT_STACK}
    text = body + css
    return (
        f"<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>"
        f"<title>Case file {_e(d.view.case.case_id)}</title><style>{fonts.font_face_css(text)}\n{css}</style>"
        f"</head><body>{body}</body></html>"
    )
