"""The case file as a person reads it: HTML (and PDF, through WeasyPrint) from a case's dossier.

Read like a case file: the case and a summary (counts, money at risk), each finding in Chinese with
English beside, the parties with their role and reason, one chain diagram per box citing every flag
it supports, the custody timeline of every code with each party's licence standing at each event,
the buyers' purchases (by keyed token, with the drugs), the licences, the attachments, a sign-off
block (承办人/审核人, date, seal); then Appendix A, the case log (one batch of additions folded into
one line), and Appendix B, every cited record with its SHA-256 (computed by
`tracesvc.service.casefile`, which also builds the manifest). Times in Asia/Shanghai, stated once.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from tracesvc.documents import chains, fonts, wording
from tracesvc.documents.formatting import ZONE_NOTE
from tracesvc.documents.formatting import when as _when_zone
from tracesvc.documents.formatting import yuan as _yuan
from tracesvc.domain.registry import Party
from tracesvc.store import cases as store
from tracesvc.store.dossier import Box, Dossier
from tracesvc.store.findings import FlagRow

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


_ROLES = {"INSPECTOR": "稽查员 inspector", "REGULATOR": "监管人员 regulator"}
_ACTIONS = {
    "CREATED": "立案 opened",
    "STATUS": "状态变更 status",
    "ADDED": "加入 added",
    "REMOVED": "移出 removed",
    "EXPORTED": "导出案卷 exported",
    "REVIEWED": "审核线索 flags reviewed",
    "TITLE": "修改标题 retitled",
    "ASSIGNED": "指派 reassigned",
    "DEADLINE": "办理期限 deadline",
    "NOTE": "备注 note",
    "ATTACHED": "附件 attached",
}
_ATTACHMENT_KINDS = {
    "INSPECTION_RECORD": "现场检查笔录 inspection record",
    "PHOTO": "照片 photo",
    "SCAN": "扫描件 scan",
    "OTHER": "其他 other",
}


def _id(value: object) -> str:
    """An identifier, code or token kept whole on one line."""
    return f"<span class='id'>{_e(value)}</span>"


def _token(token: str) -> str:
    """A buyer token in a table: its first 16 hex digits, whole (the timeline heads show it in full)."""
    return _id(f"{token[:16]}…") if len(token) > 16 else _id(token)


_TOKEN = re.compile(r"[\w()./-]*[\d-][\w()./-]*")


def _keep_tokens(text: str) -> str:
    """Escaped text whose codes, ids and tokens (anything with a digit or a hyphen) never wrap inside;
    a digest longer than a cell may still wrap (Appendix B and the manifest hold it whole)."""
    # Quotes stay as they are (this is element text): an escaped one (&#x27;) would read as a token.
    return _TOKEN.sub(
        lambda m: f"<span class='nw'>{m.group(0)}</span>" if len(m.group(0)) <= 40 else m.group(0),
        escape(text, quote=False),
    )


def _region(code: str) -> str:
    name = wording.region_name(code)
    return f"{_e(name)} {_id(code)}" if name else _id(code)


def _who_did(e: store.LogRow) -> str:
    role = _e(_ROLES.get(e.role, e.role))
    if e.actor_name:
        return f"{_e(e.actor_name)}<br>执法证号 {_id(e.actor_cert)}<br>{role}"
    return f"{_id(e.actor)}<br>{role}"


def _cover(d: Dossier) -> str:
    c = d.view.case
    opened_by = next((e for e in d.view.log if e.action == "CREATED"), None)
    rows = [
        ("案件编号 Case", _id(c.case_id)),
        ("标题 Title", _e(c.title)),
        ("状态 Status", _e(_STATUS_ZH.get(c.status, c.status))),
        ("地区 Region", _region(c.region) if c.region else ""),
        ("承办人 Assignee", _e(c.assignee)),
        ("办理期限 Deadline", _when(c.deadline) if c.deadline else "未设 none set"),
        ("立案 Opened", f"{_when(c.created_at)} — {_who_did(opened_by) if opened_by else _e(c.created_by)}"),
        ("生成 Generated", f"{_when(d.generated_at)} — {_e(d.generated_by_name or d.generated_by)}"),
    ]
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return (
        "<h1>药品追溯码稽查案卷 Case file</h1>"
        f"<table class='cover'>{body}</table>"
        f"<p class='meta'>{_e(ZONE_NOTE)} 参保人仅以令牌出现 Insured persons appear as keyed tokens only. "
        "附录B列出本案卷引用的每条记录的 SHA-256；案卷文件本身的摘要见随附清单和案件日志 "
        "Appendix B lists the SHA-256 of every record this file cites; the digest of the file itself is in the "
        "manifest delivered with it and in the case log.</p>"
    )


def _summary(d: Dossier) -> str:
    c = d.view.case
    kinds = Counter(wording.kind_label(f.rule, f.kind) for f in d.view.flags)
    roles = Counter(p.role for p in d.view.parties)
    buyers = roles.get("BUYER", 0)
    rows = [
        (
            "线索 Flags",
            f"{c.flag_count}" + (f"（{'；'.join(f'{k} ×{n}' for k, n in sorted(kinds.items()))}）" if kinds else ""),
        ),
        ("回流药品 Boxes come back", f"{len(d.boxes)}"),
        ("涉及基金 Fund money at risk", _yuan(c.money_fen)),
        (
            "涉案各方 Parties by role",
            "；".join(f"{wording.both(wording.PARTY_ROLES.get(r), r)} {n}" for r, n in roles.items() if r != "BUYER")
            or "—",
        ),
        ("参保人 Buyers (tokens)", f"{buyers}"),
        ("附件 Attachments", f"{len(d.view.attachments)}"),
    ]
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<h2>案情摘要 Summary</h2><table class='cover'>{body}</table>"


def _parties(d: Dossier) -> str:
    if not d.view.parties:
        return ""
    rows = []
    for p in d.view.parties:
        if p.role == "BUYER":
            who = f"参保人 buyer {_token(p.party_id)}"
        else:
            party = d.parties.get(p.party_id)
            region = f"<br>{_region(party.region)}" if party is not None and party.region else ""
            who = _who(d, p.party_id) + region
        role = _e(wording.both(wording.PARTY_ROLES.get(p.role), p.role))
        rows.append((who, role, "<br>".join(_keep_tokens(r) for r in p.reasons)))
    return "<h2>当事人 Parties</h2>" + _table(["当事人 Party", "角色 Role", "理由 Reason"], rows, "parties")


def _national(f: FlagRow, held: set[str]) -> str:
    """A national flag's mark, naming the evidence events this province's database does not hold."""
    elsewhere = [e for e in f.evidence if e not in held]
    out = "<br><b>全国核查 National</b>"
    if elsewhere:
        ids = "、".join(_id(e) for e in elsewhere)
        out += f"<br>证据事件 {ids} 由其他省份持有<br><span class='en'>evidence held by another province</span>"
    return out


def _findings(d: Dossier) -> str:
    rows = []
    held = {e.event_id for e in d.events}
    for n, f in enumerate(d.view.flags, 1):
        zh, en = wording.finding(f.kind)
        status = wording.both(wording.STATUSES.get(f.status), f.status)
        severity = wording.both(wording.SEVERITIES.get(f.severity), f.severity)
        rows.append(
            (
                n,
                f"<b>{_e(wording.kind_label(f.rule, f.kind))}</b><br>{_e(zh)}<br><span class='en'>{_e(en)}</span>"
                + (f"<br><span class='en'>{_e(f.detail)}</span>" if f.detail else ""),
                f"{_id(f.code)}<br>事件 {_id(f.decisive_event_id)}<br>线索 {_id(f.flag_id[:12])}",
                _who(d, f.subject_party) + (f"<br>{_region(f.subject_region)}" if f.subject_region else ""),
                f"{_when(f.decisive_at)}<br>{_yuan(f.money_fen)}",
                f"<span class='{_e(f.severity)}'>{_e(severity)}</span>"
                f"<br>{_e(status)}"
                + (f"<br>{_e(f.review_note)}" if f.review_note else "")
                + (_national(f, held) if f.origin == "NATIONAL" else ""),
            )
        )
    return "<h2>违规线索 Findings</h2>" + _table(
        ["#", "线索 Finding", "追溯码 Code / 事件 Event", "当事人 Subject", "时间 When / 金额 Money", "状态 Status"],
        rows,
        "findings",
    )


def chain_svg(d: Dossier, box: Box, n: int = 0) -> str:
    def name(pid: str) -> str:
        party = d.parties.get(pid)
        return f"{party.name} {pid}" if party is not None and party.name else pid

    return chains.chain_svg(
        box.originals,
        box.reentry,
        box.resales,
        name,
        code=box.code,
        marker=f"arrow{n}",
        font_family=fonts.FAMILY,
    )


def _chains(d: Dossier) -> str:
    if not d.boxes:
        return ""
    flags = {f.flag_id: f for f in d.view.flags}
    out = ["<h2>回流路径 Return-drug chains（每盒一图 one diagram per box）</h2>"]
    for n, box in enumerate(d.boxes):
        cited = "；".join(
            f"{_e(wording.kind_label(flags[i].rule, flags[i].kind))} {_id(i[:12])}" if i in flags else _id(i[:12])
            for i in box.flag_ids
        )
        out.append(
            f"<div class='chain'><p>盒 Box {_id(box.code)} — 原销售基金支付 fund paid on the original sale "
            f"{_yuan(box.money_fen)}{'' if box.active else '（已消解 resolved）'}<br>"
            f"本图支持的线索 Flags this chain supports: {cited}</p>{chain_svg(d, box, n)}</div>"
        )
    return "".join(out)


def _drugs(d: Dossier) -> dict[str, str]:
    """event id → what a sale billed ("XR05AAA001 阿托伐他汀 ×1"), from the stored sale payloads."""
    out: dict[str, str] = {}
    for e in d.events:
        if e.kind != "SALE":
            continue
        try:
            lines = json.loads(e.payload).get("lines") or []
            out[e.event_id] = "；".join(f"{ln[0]} {ln[1]} ×{ln[3]}".strip() for ln in lines if len(ln) > 3)
        except (ValueError, TypeError, AttributeError):
            continue
    return out


def _timeline_rows(
    d: Dossier, rows: Sequence[store.TimelineRow], drugs: dict[str, str], *, buyers: bool
) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for t in rows:
        licence = standing(d.parties.get(t.party_id), t.occurred_at)
        cp = t.counterparty_id
        cp_text = f"{_who(d, cp)} [{standing(d.parties.get(cp), t.occurred_at)}]" if cp else ""
        units = _e(drugs.get(t.event_id, "")) if buyers else ("pack" if t.units is None else t.units)
        out.append(
            (
                _when(t.occurred_at),
                _id(t.event_id),
                _e(wording.both(wording.EVENT_KINDS.get(t.kind), t.kind)),
                f"{_who(d, t.party_id)} [{licence}]",
                cp_text,
                units,
                _id(t.document_no or t.sale_id),
                _yuan(t.fund_paid_fen) if t.kind == "SALE" else "",
            )
        )
    return out


def _timelines(d: Dossier) -> str:
    headers = [
        "时间 When",
        "事件 Event",
        "类型 Kind",
        "机构 Party [licence then]",
        "对方 Counterparty [licence then]",
        "数量 Units",
        "单据 Document",
        "基金支付 Fund paid",
    ]
    drugs = _drugs(d)
    out = []
    for code, rows in d.code_timelines.items():
        out.append(
            f"<h3>追溯码 Custody timeline {_id(code)}</h3>"
            + _table(headers, _timeline_rows(d, rows, drugs, buyers=False))
        )
    buyer_headers = [*headers[:5], "药品 Drugs", *headers[6:]]
    for token, rows in d.buyer_timelines.items():
        out.append(
            f"<h3>参保人购药记录 Buyer timeline</h3><p class='token'>{_id(token)}</p>"
            + _table(buyer_headers, _timeline_rows(d, rows, drugs, buyers=True))
        )
    return ("<h2>追溯记录 Timelines</h2>" + "".join(out)) if out else ""


def _licences(d: Dossier) -> str:
    rows = []
    for pid in sorted(d.parties):
        p = d.parties[pid]
        lic = (
            "<br>".join(
                f"{_id(lic.number)} {_when(lic.valid_from)} – {_when(lic.valid_to) or 'open'}"
                + "".join(f"; {_e(st.value)} from {_when(since)}" for st, since in lic.status_history)
                for lic in p.licences
            )
            or "无记录 none on record"
        )
        rows.append((_who(d, pid), _e(p.kind.value), _region(p.region) if p.region else "", lic))
    return "<h2>资质 Licence standing</h2>" + _table(
        ["机构 Party", "类型 Kind", "地区 Region", "许可证 Licences"], rows
    )


def _attachments(d: Dossier) -> str:
    if not d.view.attachments:
        return ""
    rows = [
        (
            n,
            _e(_ATTACHMENT_KINDS.get(a.kind, a.kind)),
            f"{_e(a.file_name)}<br>{_e(a.description)}",
            f"{a.size:,} B<br>{_when(a.added_at)}",
            f"<span class='digest'>{_e(a.sha256)}</span>",
        )
        for n, a in enumerate(d.view.attachments, 1)
    ]
    return "<h2>附件 Attachments</h2>" + _table(
        ["#", "类型 Kind", "文件 File", "大小 Size / 时间 Added", "SHA-256"], rows, "attachments"
    )


def _signoff() -> str:
    line = "<td class='blank'></td>"
    return (
        "<div class='signoff'><h2>签署 Sign-off</h2><table class='signoff'>"
        f"<tr><th>承办人 Case officer</th>{line}<th>执法证号 Certificate</th>{line}</tr>"
        f"<tr><th>审核人 Reviewer</th>{line}<th>执法证号 Certificate</th>{line}</tr>"
        f"<tr><th>日期 Date</th>{line}<th>印章 Seal</th><td class='seal'></td></tr>"
        "</table></div>"
    )


def _folded_log(log: Sequence[store.LogRow]) -> list[tuple[list[store.LogRow], str]]:
    """Log lines as shown: consecutive ADDED lines of one actor and reason (one batch) fold into one."""
    groups: list[list[store.LogRow]] = []
    for e in log:
        last = groups[-1][-1] if groups else None
        if last is not None and e.action == last.action == "ADDED" and (e.actor, e.reason) == (last.actor, last.reason):
            groups[-1].append(e)
        else:
            groups.append([e])
    out = []
    for g in groups:
        if len(g) == 1:
            e = g[0]
            move = (
                f"<br>{_e(_STATUS_ZH.get(e.from_status or '', e.from_status or ''))} → "
                f"{_e(_STATUS_ZH.get(e.to_status, e.to_status))}"
                if e.to_status
                else ""
            )
            detail = f"<br><span class='small'>{_keep_tokens(e.detail)}</span>" if e.detail else ""
            out.append((g, f"{_e(_ACTIONS.get(e.action, e.action))}{move}{detail}"))
        else:
            kinds = Counter(e.detail.split(" ", 1)[0] for e in g)
            refs = " ".join(_id(e.detail.split(" ", 1)[-1][:12]) for e in g)
            counts = "，".join(f"{k} ×{n}" for k, n in sorted(kinds.items()))
            out.append(
                (g, f"{_e(_ACTIONS['ADDED'])} {len(g)} 项 items（{_e(counts)}）<br><span class='small'>{refs}</span>")
            )
    return out


def _log(d: Dossier) -> str:
    rows = []
    for g, action in _folded_log(d.view.log):
        first, last = g[0], g[-1]
        number = _id(f"{first.case_no}" if len(g) == 1 else f"{first.case_no}–{last.case_no}")
        rows.append((number, _when(first.at), _who_did(first), action, _e(first.reason)))
    return "<h2 class='appendix'>附录A 案件日志 Appendix A — Case log</h2>" + _table(
        ["#", "时间 When", "经办人 Who", "操作 Action", "理由 Reason"], rows, "log"
    )


def _appendix(entries: Sequence[ManifestEntry]) -> str:
    rows = [(_e(e.kind), _id(e.id), f"<span class='digest'>{_e(e.sha256)}</span>") for e in entries]
    return "<h2 class='appendix'>附录B 引用记录摘要 Appendix B — SHA-256 of every cited record</h2>" + _table(
        ["记录 Record", "编号 Id", "SHA-256"], rows, "manifest"
    )


_CSS = """
@page{size:A4;margin:16mm 12mm 18mm 12mm;@bottom-center{content:"%(case)s — " counter(page) " / " counter(pages);
font-size:8pt;color:#555}}
html{font-family:%(stack)s;font-size:8.5pt;color:#111}
h1{font-size:16pt}h2{font-size:12pt;border-bottom:1px solid #888;margin-top:14pt;page-break-after:avoid}
h3{font-size:10pt;page-break-after:avoid}
table{border-collapse:collapse;width:100%%;margin:4pt 0}th,td{border:0.5pt solid #999;padding:2pt 3pt;
text-align:left;vertical-align:top}th{background:#eee}table.cover th{width:30%%}
tr{page-break-inside:avoid;break-inside:avoid}thead{display:table-header-group}
.id{white-space:nowrap;font-size:7pt}.digest{font-size:6.5pt;white-space:nowrap}
.small{font-size:7pt}.nw{white-space:nowrap}.en{color:#333}
.HIGH{color:#b00;font-weight:bold}.MEDIUM{color:#b60}
.meta{color:#444}table.log td:nth-child(4){width:34%%}table.log td:nth-child(5){width:30%%}
table.findings td:nth-child(2){width:40%%}
div.chain{page-break-inside:avoid}svg.chain{max-width:100%%;height:auto}h2.appendix{page-break-before:always}
div.signoff{page-break-inside:avoid;margin-top:16pt}table.signoff td.blank{height:22pt;width:30%%}
table.signoff td.seal{height:70pt}
"""


def render_html(d: Dossier, entries: Sequence[ManifestEntry]) -> str:
    """Summary and findings first; the evidence behind them; the sign-off; then the log and digests."""
    body = "".join(
        [
            _cover(d),
            _summary(d),
            _findings(d),
            _parties(d),
            _chains(d),
            _timelines(d),
            _licences(d),
            _attachments(d),
            _signoff(),
            _log(d),
            _appendix(entries),
        ]
    )
    css = _CSS % {"case": d.view.case.case_id, "stack": fonts.FONT_STACK}
    text = body + css
    return (
        f"<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>"
        f"<title>Case file {_e(d.view.case.case_id)}</title><style>{fonts.font_face_css(text)}\n{css}</style>"
        f"</head><body>{body}</body></html>"
    )
