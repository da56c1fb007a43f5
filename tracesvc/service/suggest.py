"""Suggested cases: group the standing flags no case holds by what connects them (pure, no I/O).

- RING: return-drug chains joined, as connected components, by a shared original buyer (药农),
  a shared re-entry supplier (dealer, 过票 wholesaler) or the same box; a ring takes every
  standing flag of its codes (the re-entry, the repeated sale, the resale without a source).
- PHARMACY: one party's repeated pattern: at least `min_flags` flags of one rule and kind.
- BATCH: at least `min_flags` flags on at least two codes of one product batch.

Money at risk counts each decisive event once (its largest flag), so the R and D flags behind
one resale do not count its fund money twice. Suggestions are ranked by money, then size; one
whose flags all sit in a higher-ranked suggestion is left out.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from tracesvc.store.cases import ChainRow, StandingFlag

# On a tie, the group that explains most comes first: a ring over a pharmacy's pattern over a batch.
_BASIS_ORDER = {"RING": 0, "PHARMACY": 1, "BATCH": 2}


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
) -> Suggestion:
    return Suggestion(
        basis=basis,
        key=key,
        title=title,
        flag_ids=tuple(sorted({f.flag_id for f in flags})),
        chain_ids=tuple(sorted(c.flag_id for c in chains)),
        parties=tuple(sorted({p for p in parties if p} | {f.subject_party for f in flags})),
        buyer_tokens=tuple(sorted({b for b in buyers if b})),
        codes=tuple(sorted({f.code for f in flags if f.rule != "S"} | {c.code for c in chains})),
        money_fen=money_at_risk(flags),
        region=_region(flags),
    )


def _rings(flags: Sequence[StandingFlag], chains: Sequence[ChainRow]) -> list[Suggestion]:
    by_code: dict[str, list[StandingFlag]] = defaultdict(list)
    for f in flags:
        if f.rule != "S":
            by_code[f.code].append(f)
    out = []
    for group in ring_components(chains):
        codes = sorted({c.code for c in group})
        if len(codes) < 2:
            continue
        members = [f for code in codes for f in by_code.get(code, ())]
        buyers = {s.buyer_token for c in group for s in c.originals}
        suppliers = sorted({c.reentry_supplier for c in group if c.reentry_supplier})
        parties = (
            {s.party_id for c in group for s in c.originals + c.resales}
            | {c.reentry_party or "" for c in group}
            | set(suppliers)
        )
        via = f" via {', '.join(suppliers[:3])}" if suppliers else ""
        title = f"Return-drug ring: {len(codes)} codes, {len(buyers)} original buyers{via}"
        out.append(
            _make(
                "RING",
                suppliers[0] if suppliers else group[0].flag_id,
                title,
                members,
                chains=group,
                parties=parties,
                buyers=buyers,
            )
        )
    return out


def _pharmacy_patterns(flags: Sequence[StandingFlag], min_flags: int) -> list[Suggestion]:
    groups: dict[tuple[str, str, str], list[StandingFlag]] = defaultdict(list)
    for f in flags:
        groups[(f.subject_party, f.rule, f.kind)].append(f)
    return [
        _make("PHARMACY", party, f"{party}: {len(fs)} × {rule} {kind}", fs)
        for (party, rule, kind), fs in groups.items()
        if len(fs) >= min_flags
    ]


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
        product = product_of(f.code) if f.rule != "S" else None
        for batch in batches_of.get(f.code, ()) if product else ():
            groups[(product or "", batch)].append(f)
    return [
        _make("BATCH", f"{product}/{batch}", f"Batch {batch} of product {product}: {len(fs)} flags", fs)
        for (product, batch), fs in groups.items()
        if len(fs) >= min_flags and len({f.code for f in fs}) >= 2
    ]


def suggest(
    flags: Sequence[StandingFlag],
    chains: Sequence[ChainRow],
    batches: Sequence[tuple[str, str]],
    product_of: Callable[[str], str | None],
    *,
    min_flags: int = 3,
    limit: int = 20,
) -> list[Suggestion]:
    """Candidate cases, most money at risk first. `chains` may include chains of other flags: only
    those whose own flag is among `flags` take part."""
    standing = {f.flag_id for f in flags}
    free_chains = [c for c in chains if c.flag_id in standing]
    candidates = (
        _rings(flags, free_chains)
        + _pharmacy_patterns(flags, min_flags)
        + _batches(flags, batches, product_of, min_flags)
    )
    candidates.sort(key=lambda s: (-s.money_fen, -len(s.flag_ids), _BASIS_ORDER[s.basis], s.key))
    chosen: list[Suggestion] = []
    for s in candidates:
        if any(set(s.flag_ids) <= set(c.flag_ids) for c in chosen):
            continue
        chosen.append(s)
        if len(chosen) >= limit:
            break
    return chosen
