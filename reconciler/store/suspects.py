"""Suspects ranked from the findings: buyers whose purchases come back, suppliers that feed them
in, pharmacies that resell them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import NamedTuple

import asyncpg


class SuspectRow(NamedTuple):
    """One suspect and why it ranks where it does: its return chains and, for a buyer, its standing rule B
    flags. `score` orders the ranking (see SCORE_WEIGHTS); `reason` says it in words."""

    id: str  # a buyer token or a party id
    chains: int
    codes: int
    money_fen: int  # fund paid on the original sales of those chains
    b_flags: Mapping[str, int] = {}  # standing (OPEN or CONFIRMED) rule B flags by kind: buyers only
    b_money_fen: int = 0  # fund paid at risk on those flags, each decisive sale counted once
    score: int = 0

    @property
    def reason(self) -> str:
        """Chinese first, the English beside, e.g. "2 条回流链（1 个码，¥40.00）× 3 = 6 / 2 return chains (1 codes,
        ¥40.00) × 3 = 6"."""
        return f"{self.reason_zh} / {self.reason_en}"

    @property
    def reason_en(self) -> str:
        """E.g. "2 return chains (2 codes, ¥40.00) × 3 + B: 1 OVER_SUPPLY × 2, 2 MULTI_PHARMACY × 1 (¥12.60) = 10"."""
        plural = "s" if self.chains != 1 else ""
        chains = f"{self.chains} return chain{plural} ({self.codes} codes, ¥{self.money_fen / 100:.2f})"
        return self._scored(
            chains, ", ".join(f"{n} {kind} × {_b_weight(kind)}" for kind, n in sorted(self.b_flags.items()))
        )

    @property
    def reason_zh(self) -> str:
        chains = f"{self.chains} 条回流链（{self.codes} 个码，¥{self.money_fen / 100:.2f}）"
        kinds = "，".join(
            f"{n} 条 {_B_ZH.get(kind, kind)} × {_b_weight(kind)}" for kind, n in sorted(self.b_flags.items())
        )
        return self._scored(chains, kinds)

    def _scored(self, chains: str, kinds: str) -> str:
        if not self.b_flags and self.score == self.chains:
            return chains
        parts = [f"{chains} × {SCORE_WEIGHTS['CHAIN']}"] if self.chains else []
        if self.b_flags:
            parts.append(f"B: {kinds} (¥{self.b_money_fen / 100:.2f})")
        return " + ".join(parts) + f" = {self.score}"


class SuspectRole(StrEnum):
    BUYER = "BUYER"  # buyers whose purchases come back (药农), and buyers with rule B findings
    SUPPLIER = "SUPPLIER"  # who feeds return drugs back in (dealers, 过票 wholesalers)
    PHARMACY = "PHARMACY"  # who resells them


# A buyer's score: a return chain (a box of theirs came back: proven re-entry) weighs most, then a HIGH
# rule B flag (OVER_SUPPLY, CARD_TRAVEL), then a MEDIUM one (MULTI_PHARMACY). Suppliers and pharmacies
# are ranked by their chains alone (score = chains).
SCORE_WEIGHTS = {"CHAIN": 3, "HIGH": 2, "MEDIUM": 1}
_B_SEVERITY = {"OVER_SUPPLY": "HIGH", "CARD_TRAVEL": "HIGH", "MULTI_PHARMACY": "MEDIUM"}
_B_ZH = {
    "OVER_SUPPLY": "超量购药 OVER_SUPPLY",
    "CARD_TRAVEL": "异地同时刷卡 CARD_TRAVEL",
    "MULTI_PHARMACY": "多店购药 MULTI_PHARMACY",
}


def _b_weight(kind: str) -> int:
    return SCORE_WEIGHTS.get(_B_SEVERITY.get(kind, "MEDIUM"), 1)


_SUSPECTS = {
    SuspectRole.BUYER: "unnest(buyer_tokens)",
    SuspectRole.SUPPLIER: "reentry_supplier",
    SuspectRole.PHARMACY: "unnest(resale_parties)",
}

_CHAIN_SUSPECTS = """
SELECT id, count(*) AS chains, count(DISTINCT code) AS codes, coalesce(sum(money_fen), 0)::bigint AS money_fen
FROM (SELECT {expr} AS id, code, money_fen FROM return_chains WHERE active) s
WHERE id IS NOT NULL AND id <> ''
GROUP BY id
"""
# Buyers: chains and standing B flags side by side. A decisive sale's money is counted once: the larger of
# its CARD_TRAVEL (all of the sale) and the sum over its drugs of the drug's largest flag.
_BUYER_SUSPECTS = f"""
WITH chains AS ({_CHAIN_SUSPECTS.format(expr="unnest(buyer_tokens)")}),
b AS (
    SELECT buyer_token AS id, kind, code, decisive_event_id, money_fen FROM flags
    WHERE rule = 'B' AND status IN ('OPEN', 'CONFIRMED') AND buyer_token IS NOT NULL AND buyer_token <> ''
),
kinds AS (
    SELECT id, jsonb_object_agg(kind, n)::text AS kinds, sum(n * w)::bigint AS points
    FROM (SELECT b.id, b.kind, count(*) AS n, max(w.weight) AS w
          FROM b JOIN unnest($2::text[], $3::int[]) AS w(kind, weight) ON w.kind = b.kind
          GROUP BY b.id, b.kind) k
    GROUP BY id
),
per_drug AS (SELECT id, decisive_event_id, code, max(money_fen) AS m FROM b GROUP BY 1, 2, 3),
money AS (
    SELECT id, sum(m)::bigint AS b_money_fen FROM (
        SELECT id, decisive_event_id,
               greatest(coalesce(max(m) FILTER (WHERE code = ''), 0),
                        coalesce(sum(m) FILTER (WHERE code <> ''), 0)) AS m
        FROM per_drug GROUP BY 1, 2) s
    GROUP BY id
)
SELECT coalesce(c.id, k.id) AS id, coalesce(c.chains, 0) AS chains, coalesce(c.codes, 0) AS codes,
       coalesce(c.money_fen, 0) AS money_fen, coalesce(k.kinds, '{{}}') AS kinds,
       coalesce(m.b_money_fen, 0) AS b_money_fen,
       coalesce(c.chains, 0) * $4 + coalesce(k.points, 0) AS score
FROM chains c FULL JOIN kinds k ON k.id = c.id LEFT JOIN money m ON m.id = coalesce(c.id, k.id)
ORDER BY score DESC, coalesce(c.money_fen, 0) + coalesce(m.b_money_fen, 0) DESC, id
LIMIT $1
"""


async def rank_suspects(conn: asyncpg.Connection, role: SuspectRole, limit: int) -> list[SuspectRow]:
    """Who recurs across active chains in one role, highest score first (then most money, then id).
    Buyers: return chains and standing rule B flags (SCORE_WEIGHTS); suppliers and pharmacies: chains."""
    if role is SuspectRole.BUYER:
        weights = {kind: _b_weight(kind) for kind in _B_SEVERITY}
        rows = await conn.fetch(_BUYER_SUSPECTS, limit, list(weights), list(weights.values()), SCORE_WEIGHTS["CHAIN"])
        return [
            SuspectRow(
                r["id"], r["chains"], r["codes"], r["money_fen"], json.loads(r["kinds"]), r["b_money_fen"], r["score"]
            )
            for r in rows
        ]
    rows = await conn.fetch(
        f"""SELECT * FROM ({_CHAIN_SUSPECTS.format(expr=_SUSPECTS[role])}) s
            ORDER BY chains DESC, money_fen DESC, id LIMIT $1""",
        limit,
    )
    return [SuspectRow(r["id"], r["chains"], r["codes"], r["money_fen"], score=r["chains"]) for r in rows]
