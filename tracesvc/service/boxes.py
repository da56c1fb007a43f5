"""One story per box, and who is who in a case (pure, no I/O).

A box with an R flag (its re-entry recorded) and a D flag (its resale seen elsewhere) has two stored
chains: the case file draws one story of the box, with the re-entry the RECEIPT recorded, and cites
every flag of the case on that box. The parties of a case each get a role and the reasons for it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from reconciler.rules.model import ChainSale
from tracesvc.documents.wording import kind_label
from tracesvc.store.dossier import Box, PartyRole
from tracesvc.store.findings import ChainRow, FlagRow

# Most serious first: a party with several roles is listed under the first.
# What the evidence shows wins over "named when the case was opened".
ROLE_ORDER = ("FEEDING_SUPPLIER", "SUSPECTED_RESELLER", "FLAG_SUBJECT", "ORIGINAL_SELLER", "NAMED", "BUYER")


def _sales(groups: Iterable[Sequence[ChainSale]]) -> tuple[ChainSale, ...]:
    seen: dict[str, ChainSale] = {}
    for group in groups:
        for s in group:
            seen.setdefault(s.event_id, s)
    return tuple(sorted(seen.values(), key=lambda s: (s.occurred_at, s.event_id)))


def boxes(chains: Sequence[ChainRow], flags: Sequence[FlagRow]) -> list[Box]:
    """One Box per code among the chains, in code order."""
    by_code: dict[str, list[ChainRow]] = defaultdict(list)
    for c in chains:
        by_code[c.code].append(c)
    flags_on: dict[str, list[str]] = defaultdict(list)
    for f in flags:
        flags_on[f.code].append(f.flag_id)
    out = []
    for code in sorted(by_code):
        group = by_code[code]
        # the recorded re-entry wins over "shown by a resale"; of several, the earliest
        entries = sorted((c.reentry for c in group if c.reentry is not None), key=lambda e: (e.occurred_at, e.event_id))
        out.append(
            Box(
                code=code,
                originals=_sales(c.originals for c in group),
                reentry=entries[0] if entries else None,
                resales=_sales(c.resales for c in group),
                money_fen=max(c.money_fen for c in group),
                flag_ids=tuple(sorted({*flags_on.get(code, ()), *(c.flag_id for c in group)})),
                active=any(c.active for c in group),
            )
        )
    return out


def party_roles(
    subject_parties: Sequence[str], flags: Sequence[FlagRow], stories: Sequence[Box], buyer_tokens: Iterable[str]
) -> list[PartyRole]:
    """Every party of the case with its role and reasons (Chinese first, English beside)."""
    reasons: dict[tuple[str, str], list[str]] = defaultdict(list)

    def note(pid: str, role: str, why: str) -> None:
        if pid and why not in reasons[(pid, role)]:
            reasons[(pid, role)].append(why)

    _box_roles(stories, note)
    for f in flags:
        if f.rule == "B" and f.buyer_token:
            note(f.buyer_token, "BUYER", f"线索 flag {kind_label(f.rule, f.kind)}")
        else:
            note(f.subject_party, "FLAG_SUBJECT", f"线索 flag {kind_label(f.rule, f.kind)}")
    for t in buyer_tokens:
        note(t, "BUYER", "立案时列入 named when the case was opened")
    for p in subject_parties:
        note(p, "NAMED", "立案时列为当事人 named when the case was opened")
    best: dict[str, PartyRole] = {}
    for (pid, role), whys in sorted(reasons.items(), key=lambda kv: ROLE_ORDER.index(kv[0][1])):
        if pid in best:  # a lesser role of the same party: its reasons join the first
            prior = best[pid]
            best[pid] = PartyRole(pid, prior.role, prior.reasons + tuple(w for w in whys if w not in prior.reasons))
        else:
            best[pid] = PartyRole(pid, role, tuple(whys))
    return sorted(best.values(), key=lambda r: (ROLE_ORDER.index(r.role), r.party_id))


def _box_roles(stories: Sequence[Box], note: Callable[[str, str, str], None]) -> None:
    for b in stories:
        if b.reentry is not None:
            src = b.reentry.supplier_id
            note(
                b.reentry.party_id,
                "SUSPECTED_RESELLER",
                f"将已售出的 {b.code} 重新入库（{b.reentry.event_id}，来自 {src or '?'}）"
                f" took the sold box back in from {src or '?'}",
            )
            note(
                src,
                "FEEDING_SUPPLIER",
                f"向 {b.reentry.party_id} 供应已售出的 {b.code}（{b.reentry.event_id}）"
                f" supplied the sold box to {b.reentry.party_id}",
            )
        for s in b.resales:
            note(s.party_id, "SUSPECTED_RESELLER", f"再次销售 {b.code}（{s.event_id}） resold the box")
        for s in b.originals:
            note(
                s.party_id,
                "ORIGINAL_SELLER",
                f"最初售出 {b.code}（{s.event_id}），药品此后回流 first sold the box, which later came back",
            )
            if s.buyer_token:
                note(s.buyer_token, "BUYER", f"购买的 {b.code} 回流 bought the box that came back")
