"""Suggested cases: group the standing flags no case holds by what connects them (pure, no I/O).

- RING: return-drug chains joined, as connected components, by a shared original buyer (药农),
  a shared re-entry supplier (dealer, 过票 wholesaler) or the same box. A ring takes every standing
  flag of its boxes, and the rule B flags (over-supply, card travel, many pharmacies) of the buyers
  whose boxes came back. Each member says how it is linked: its own chain (box, original buyer,
  supplier), the box it is on, or the buyer it is about.
- PHARMACY: one party's repeated pattern: at least `min_flags` flags of one rule and kind.
- BATCH: at least `min_flags` flags on at least two codes of one product batch.

Rings come first (most money, then most linked flags), then the other groups by money. Money at risk
counts each decisive event once (its largest flag). A flag sits in one suggestion only: the strongest
keeps it, a weaker one that overlaps keeps what is left (and goes when too little is left).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from tracesvc.documents.wording import kind_label
from tracesvc.store.cases import ChainRow, StandingFlag

# Rings first: they explain most; then a pharmacy's pattern; then a batch.
_BASIS_ORDER = {"RING": 0, "PHARMACY": 1, "BATCH": 2}


@dataclass(frozen=True)
class Link:
    """How one flag belongs to a suggestion."""

    flag_id: str
    rule: str
    kind: str
    code: str = ""  # the box (chain code)
    buyer_token: str = ""  # the original buyer its own chain shows, or the buyer a B flag is about
    supplier_id: str = ""  # the re-entry supplier its own chain shows
    why: str = ""


@dataclass(frozen=True)
class Suggestion:
    basis: str  # RING, PHARMACY, BATCH
    key: str
    title: str
    flag_ids: tuple[str, ...]
    chain_ids: tuple[str, ...]
    parties: tuple[str, ...]
    buyer_tokens: tuple[str, ...]
    codes: tuple[str, ...]
    money_fen: int
    region: str
    links: tuple[Link, ...] = ()
    boxes: int = 0  # boxes (codes) whose chains the suggestion holds: one story per box
    suspects: tuple[str, ...] = ()  # the parties a case would name as subjects (not the innocent sellers)
    rank_reason: str = ""


def money_at_risk(flags: Iterable[StandingFlag]) -> int:
    """Fund money behind the flags, each decisive event counted once (its largest flag)."""
    per_event: dict[str, int] = {}
    for f in flags:
        per_event[f.decisive_event_id] = max(per_event.get(f.decisive_event_id, 0), f.money_fen)
    return sum(per_event.values())


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _links(chain: ChainRow) -> set[str]:
    """What a chain shares with others of the same ring."""
    links = {f"code:{chain.code}"}
    links.update(f"buyer:{s.buyer_token}" for s in chain.originals if s.buyer_token)
    if chain.reentry_supplier:
        links.add(f"supplier:{chain.reentry_supplier}")
    return links


def ring_components(chains: Sequence[ChainRow]) -> list[list[ChainRow]]:
    """Chains grouped into connected components by shared buyers, suppliers and codes."""
    uf = _UnionFind()
    for chain in chains:
        uf.find(f"chain:{chain.flag_id}")
        for link in _links(chain):
            uf.union(f"chain:{chain.flag_id}", link)
    groups: dict[str, list[ChainRow]] = defaultdict(list)
    for chain in chains:
        groups[uf.find(f"chain:{chain.flag_id}")].append(chain)
    return list(groups.values())


def _region(flags: Sequence[StandingFlag]) -> str:
    regions = Counter(f.subject_region for f in flags if f.subject_region)
    return regions.most_common(1)[0][0] if regions else ""


def _make(
    basis: str,
    key: str,
    title: str,
    flags: Sequence[StandingFlag],
    *,
    chains: Sequence[ChainRow] = (),
    parties: Iterable[str] = (),
    buyers: Iterable[str] = (),
    links: Sequence[Link] = (),
    suspects: Iterable[str] = (),
) -> Suggestion:
    ids = {f.flag_id for f in flags}
    money = money_at_risk(flags)
    return Suggestion(
        basis=basis,
        key=key,
        title=title,
        flag_ids=tuple(sorted(ids)),
        chain_ids=tuple(sorted(c.flag_id for c in chains)),
        parties=tuple(sorted({p for p in parties if p} | {f.subject_party for f in flags if f.subject_party})),
        buyer_tokens=tuple(sorted({b for b in buyers if b})),
        codes=tuple(sorted({f.code for f in flags if f.rule not in ("S", "B")} | {c.code for c in chains})),
        money_fen=money,
        region=_region(flags),
        links=tuple(sorted((lk for lk in links if lk.flag_id in ids), key=lambda lk: (lk.code, lk.flag_id))),
        boxes=len({c.code for c in chains}),
        suspects=tuple(sorted({p for p in suspects if p} or {f.subject_party for f in flags if f.subject_party})),
        rank_reason=f"{basis} ¥{money / 100:,.2f}, {len(ids)} flags",
    )


def _ring_links(
    group: Sequence[ChainRow], members: Sequence[StandingFlag], b_flags: Sequence[StandingFlag]
) -> list[Link]:
    own = {c.flag_id: c for c in group}
    box_chain = {c.code: c for c in sorted(group, key=lambda c: (c.reentry is None, c.flag_id))}
    out = []
    for f in members:
        label = kind_label(f.rule, f.kind)
        chain = own.get(f.flag_id)
        if chain is not None:  # the flag's own chain shows the buyer and the supplier
            buyer = next((s.buyer_token for s in chain.originals if s.buyer_token), "")
            supplier = chain.reentry_supplier or ""
            via = f"，供货方 supplier {supplier}" if supplier else ""
            out.append(
                Link(
                    f.flag_id,
                    f.rule,
                    f.kind,
                    chain.code,
                    buyer,
                    supplier,
                    f"{label}：本线索的回流路径 its own chain, box {chain.code}{via}",
                )
            )
        else:  # on a box of the ring: linked by the box alone
            ref = box_chain[f.code].flag_id[:12] if f.code in box_chain else ""
            out.append(
                Link(f.flag_id, f.rule, f.kind, f.code, "", "", f"{label}：同一盒药 same box {f.code}（chain {ref}）")
            )
    for f in b_flags:
        out.append(
            Link(
                f.flag_id,
                f.rule,
                f.kind,
                "",
                f.buyer_token,
                "",
                f"{kind_label(f.rule, f.kind)}：回流药参保人本人的线索 the returning buyer's own flag",
            )
        )
    return out


def _rings(flags: Sequence[StandingFlag], chains: Sequence[ChainRow]) -> list[Suggestion]:
    by_code: dict[str, list[StandingFlag]] = defaultdict(list)
    b_by_buyer: dict[str, list[StandingFlag]] = defaultdict(list)
    for f in flags:
        if f.rule == "B" and f.buyer_token:
            b_by_buyer[f.buyer_token].append(f)
        elif f.rule != "S":
            by_code[f.code].append(f)
    out = []
    for group in ring_components(chains):
        codes = sorted({c.code for c in group})
        if len(codes) < 2:
            continue
        members = [f for code in codes for f in by_code.get(code, ())]
        buyers = sorted({s.buyer_token for c in group for s in c.originals if s.buyer_token})
        b_flags = [f for t in buyers for f in b_by_buyer.get(t, ())]
        suppliers = sorted({c.reentry_supplier for c in group if c.reentry_supplier})
        resellers = {c.reentry_party or "" for c in group} | {s.party_id for c in group for s in c.resales}
        parties = {s.party_id for c in group for s in c.originals} | resellers | set(suppliers)
        via = f"，经 via {', '.join(suppliers[:3])}" if suppliers else ""
        title = f"回流药团伙 Return-drug ring: {len(codes)} 盒 boxes, {len(buyers)} 名参保人 original buyers{via}"
        links = _ring_links(group, members, b_flags)
        ring = _make(
            "RING",
            suppliers[0] if suppliers else group[0].flag_id,
            title,
            members + b_flags,
            chains=group,
            parties=parties,
            buyers=buyers,
            links=links,
            suspects=resellers | set(suppliers),
        )
        out.append(
            replace(
                ring,
                rank_reason=(
                    f"回流团伙 ring: ¥{ring.money_fen / 100:,.2f} at risk, {len(codes)} boxes, "
                    f"{len(ring.flag_ids)} linked flags ({len(b_flags)} of its buyers' own B flags)"
                ),
            )
        )
    return out


def _pharmacy(party: str, rule: str, kind: str, fs: Sequence[StandingFlag]) -> Suggestion:
    return _make("PHARMACY", party, f"{party}: {len(fs)} × {kind_label(rule, kind)}", fs)


def _pharmacy_patterns(flags: Sequence[StandingFlag], min_flags: int) -> list[Suggestion]:
    groups: dict[tuple[str, str, str], list[StandingFlag]] = defaultdict(list)
    for f in flags:
        groups[(f.subject_party, f.rule, f.kind)].append(f)
    return [_pharmacy(party, rule, kind, fs) for (party, rule, kind), fs in groups.items() if len(fs) >= min_flags]


def _batch(product: str, batch: str, fs: Sequence[StandingFlag]) -> Suggestion:
    return _make("BATCH", f"{product}/{batch}", f"批次 Batch {batch} of product {product}: {len(fs)} flags", fs)


def _batches(
    flags: Sequence[StandingFlag],
    batches: Sequence[tuple[str, str]],
    product_of: Callable[[str], str | None],
    min_flags: int,
) -> list[Suggestion]:
    batches_of: dict[str, set[str]] = defaultdict(set)
    for code, batch in batches:
        batches_of[code].add(batch)
    groups: dict[tuple[str, str], list[StandingFlag]] = defaultdict(list)
    for f in flags:
        product = product_of(f.code) if f.rule not in ("S", "B") else None
        for batch in batches_of.get(f.code, ()) if product else ():
            groups[(product or "", batch)].append(f)
    return [
        _batch(product, batch, fs)
        for (product, batch), fs in groups.items()
        if len(fs) >= min_flags and len({f.code for f in fs}) >= 2
    ]


def _fold(s: Suggestion, taken: set[str], by_id: dict[str, StandingFlag], min_flags: int) -> Suggestion | None:
    """What is left of a weaker suggestion once stronger ones took their flags (None: too little)."""
    left = [by_id[i] for i in s.flag_ids if i not in taken]
    if len(left) == len(s.flag_ids):
        return s
    if s.basis == "PHARMACY" and len(left) >= min_flags:
        return _pharmacy(s.key, left[0].rule, left[0].kind, left)
    if s.basis == "BATCH" and len(left) >= min_flags and len({f.code for f in left}) >= 2:
        product, _, batch = s.key.partition("/")
        return _batch(product, batch, left)
    return None


def suggest(
    flags: Sequence[StandingFlag],
    chains: Sequence[ChainRow],
    batches: Sequence[tuple[str, str]],
    product_of: Callable[[str], str | None],
    *,
    min_flags: int = 3,
    limit: int = 20,
) -> list[Suggestion]:
    """Candidate cases, rings first. `chains` may include chains of other flags: only those whose own
    flag is among `flags` take part. No flag is in two suggestions."""
    standing = {f.flag_id for f in flags}
    by_id = {f.flag_id: f for f in flags}
    free_chains = [c for c in chains if c.flag_id in standing]
    candidates = (
        _rings(flags, free_chains)
        + _pharmacy_patterns(flags, min_flags)
        + _batches(flags, batches, product_of, min_flags)
    )
    candidates.sort(key=lambda s: (_BASIS_ORDER[s.basis], -s.money_fen, -len(s.flag_ids), s.key))
    chosen: list[Suggestion] = []
    taken: set[str] = set()
    for candidate in candidates:
        s = _fold(candidate, taken, by_id, min_flags)
        if s is None or not s.flag_ids:
            continue
        chosen.append(s)
        taken.update(s.flag_ids)
    # within each basis the folded groups may have changed places: re-rank, rings still first
    chosen.sort(key=lambda s: (_BASIS_ORDER[s.basis], -s.money_fen, -len(s.flag_ids), s.key))
    return chosen[:limit]
