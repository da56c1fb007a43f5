"""Rule B — buyer anomalies (药农, card misuse): one buyer token's sales, per DESIGN §5 B.

Pure: given one token's SALE events, the SALE_RETURN events that name them and the
reference data, return the findings. Sales are taken in (occurred_at, event_id) order, so
the findings never depend on the order events arrived in; the windows are half-open
(t − W, t] and, among sales at the same instant, "earlier" means earlier in that order.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

from reconciler.rules.model import Finding, Reference, Rule, Severity, bilingual
from tracesvc.domain.events import Event, EventKind
from tracesvc.domain.registry import Category, Product

OVER_SUPPLY, MULTI_PHARMACY, CARD_TRAVEL = "OVER_SUPPLY", "MULTI_PHARMACY", "CARD_TRAVEL"
_PROVINCE_DIGITS = 2  # an administrative code's province: its first two digits


# The largest value a rule B parameter may take, in its wire unit: ten years of days, a year of minutes.
_CEILING = {
    "supply_window_days": 3650,
    "supply_allowance_days": 3650,
    "multi_window_days": 3650,
    "multi_pharmacies": 10_000,
    "travel_minutes": 525_600,
}


@dataclass(frozen=True, slots=True)
class BuyerParams:
    """Rule B's parameters (DESIGN §5 B defaults); each run records the ones it applied."""

    supply_window: timedelta = timedelta(days=90)  # W_supply
    supply_allowance: timedelta = timedelta(days=30)  # on top of W_supply before supply is "over"
    multi_window: timedelta = timedelta(days=7)  # W_multi
    multi_pharmacies: int = 3  # K
    travel: timedelta = timedelta(hours=2)  # T_travel (the clock skew is taken off it)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if (value <= timedelta(0)) if isinstance(value, timedelta) else value < 1:
                raise ValueError(f"rule B parameter {f.name} must be positive, got {value}")

    # Names on the wire, in the environment and in a run's record, with their unit.
    _UNITS = {
        "supply_window": ("days", 86400),
        "supply_allowance": ("days", 86400),
        "multi_window": ("days", 86400),
        "travel": ("minutes", 60),
    }

    def to_json(self) -> dict[str, int]:
        """{"supply_window_days": 90, ..., "multi_pharmacies": 3, "travel_minutes": 120}."""
        out: dict[str, int] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, timedelta):
                unit, seconds = self._UNITS[f.name]
                out[f"{f.name}_{unit}"] = int(value.total_seconds() // seconds)
            else:
                out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, object], base: BuyerParams | None = None) -> BuyerParams:
        """Parameters from a run's record or a request; absent (or 0) entries keep `base` (default: DESIGN's)."""
        changes: dict[str, Any] = {}
        for f in fields(cls):
            unit_seconds = cls._UNITS.get(f.name)
            key = f"{f.name}_{unit_seconds[0]}" if unit_seconds else f.name
            raw = data.get(key)
            if raw in (None, "", 0):
                continue
            number = int(str(raw))
            ceiling = _CEILING.get(key, 10_000)
            if not 1 <= number <= ceiling:  # a window of ±2**31 days is no window, and overflows timedelta
                raise ValueError(f"rule B parameter {key} must be 1 to {ceiling}, got {number}")
            changes[f.name] = timedelta(seconds=number * unit_seconds[1]) if unit_seconds else number
        return replace(base or cls(), **changes)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BuyerParams:
        """TRACESVC_B_SUPPLY_WINDOW_DAYS, _SUPPLY_ALLOWANCE_DAYS, _MULTI_WINDOW_DAYS, _MULTI_PHARMACIES,
        _TRAVEL_MINUTES (the caller passes the environment: rules read none)."""
        prefix = "TRACESVC_B_"
        return cls.from_json({k.removeprefix(prefix).lower(): v for k, v in env.items() if k.startswith(prefix)})


@dataclass(frozen=True, slots=True)
class _Purchase:
    """A counted sale's billed units of one insured drug, and the fund paid on those lines."""

    sale: Event
    units: int
    fund_fen: int

    @property
    def at(self) -> datetime:
        return self.sale.occurred_at


def evaluate_buyer(
    sales: Iterable[Event], refunds: Iterable[Event], ref: Reference, params: BuyerParams, skew: timedelta
) -> list[Finding]:
    """Every B finding of one buyer token: OVER_SUPPLY and MULTI_PHARMACY per (sale, insured drug),
    CARD_TRAVEL per sale."""
    ordered = sorted((s for s in sales if s.kind is EventKind.SALE), key=lambda e: (e.occurred_at, e.event_id))
    refunded = {(r.party_id, r.sale_id) for r in refunds if r.kind is EventKind.SALE_RETURN}
    by_drug: dict[str, list[_Purchase]] = {}
    for sale in ordered:
        if (sale.party_id, sale.sale_id) in refunded:
            continue  # not counted: a refund names it
        for drug, (units, fund) in billed_drugs(sale, ref).items():
            by_drug.setdefault(drug, []).append(_Purchase(sale, units, fund))
    findings: list[Finding] = []
    for drug, purchases in by_drug.items():
        findings += _over_supply(drug, purchases, ref, params)
        findings += _multi_pharmacy(drug, purchases, params)
    findings += _card_travel(ordered, ref, params, skew)
    return findings


def billed_drugs(sale: Event, ref: Reference) -> dict[str, tuple[int, int]]:
    """Insured drug (insurance code) -> (billed units, fund paid) over the sale's lines, as rule S bills them:
    a split line's quantity is units, a whole-pack line's is packs of the billed product (the smallest pack
    when several DRUG products share the code). Lines not billed as an insured drug are left out."""
    out: dict[str, tuple[int, int]] = {}
    for line in sale.lines:
        drugs = _drugs(ref, line.insurance_code)
        if not drugs:
            continue
        units = line.quantity if line.split else line.quantity * min(p.pack_units for p in drugs)
        prev_units, prev_fund = out.get(line.insurance_code, (0, 0))
        out[line.insurance_code] = (prev_units + units, prev_fund + line.fund_paid_fen)
    return out


def _drugs(ref: Reference, insurance_code: str) -> list[Product]:
    return [p for p in ref.products_billed_as(insurance_code) if p.category is Category.DRUG] if insurance_code else []


def _finding(kind: str, severity: Severity, code: str, sale: Event, **rest: Any) -> Finding:
    """A B finding decided by `sale`; `rest` holds the Finding's evidence, money, detail and related parties."""
    return Finding(Rule.B, kind, severity, code, sale.event_id, sale.occurred_at, sale.party_id, **rest)


def _evidence(window: Sequence[_Purchase] | Sequence[Event]) -> tuple[str, ...]:
    return tuple(w.sale.event_id if isinstance(w, _Purchase) else w.event_id for w in window)


# -- OVER_SUPPLY ----------------------------------------------------------------------------------


def _over_supply(drug: str, purchases: Sequence[_Purchase], ref: Reference, params: BuyerParams) -> list[Finding]:
    daily = max((p.daily_units for p in _drugs(ref, drug)), default=0)
    if daily <= 0:
        return []  # no supply limit known for this drug
    limit_days = (params.supply_window + params.supply_allowance).total_seconds() / 86400
    out = []
    total, lo = 0, 0
    for i, p in enumerate(purchases):
        total += p.units
        while purchases[lo].at <= p.at - params.supply_window:
            total -= purchases[lo].units
            lo += 1
        # "Exceed" is strict: units / d > days, compared in integers to stay exact.
        if total * 86400 > daily * (params.supply_window + params.supply_allowance).total_seconds():
            days = total / daily
            out.append(
                _finding(
                    OVER_SUPPLY,
                    Severity.HIGH,
                    drug,
                    p.sale,
                    evidence=_evidence(purchases[lo : i + 1]),
                    money_fen=p.fund_fen,
                    detail=bilingual(
                        f"{params.supply_window.days} 天内购入 {drug} {total} 个单位，按每日 {daily} 计可用 "
                        f"{days:.1f} 天，超过 {limit_days:g} 天",
                        f"{total} units of {drug} in {params.supply_window.days} days at {daily} a day: "
                        f"{days:.1f} days' supply, over {limit_days:g}",
                    ),
                )
            )
    return out


# -- MULTI_PHARMACY -------------------------------------------------------------------------------


def _multi_pharmacy(drug: str, purchases: Sequence[_Purchase], params: BuyerParams) -> list[Finding]:
    out = []
    times = [p.at for p in purchases]
    for i, p in enumerate(purchases):
        # the purchases in (t − W_multi, t] up to and including this one
        window = purchases[bisect.bisect_right(times, p.at - params.multi_window, 0, i) : i + 1]
        earlier_parties = {w.sale.party_id for w in window[:-1]}
        if p.sale.party_id in earlier_parties:
            continue  # a repeat at a pharmacy already in the window adds no place
        parties = earlier_parties | {p.sale.party_id}
        if len(parties) >= params.multi_pharmacies:
            out.append(
                _finding(
                    MULTI_PHARMACY,
                    Severity.MEDIUM,
                    drug,
                    p.sale,
                    evidence=_evidence(window),
                    money_fen=p.fund_fen,
                    related_parties=tuple(sorted(earlier_parties)),
                    detail=bilingual(
                        f"{params.multi_window.days} 天内在 {len(parties)} 家机构购买 {drug}："
                        + "、".join(sorted(parties)),
                        f"{drug} bought at {len(parties)} places in {params.multi_window.days} days: "
                        + ", ".join(sorted(parties)),
                    ),
                )
            )
    return out


# -- CARD_TRAVEL ----------------------------------------------------------------------------------


def _province(ref: Reference, party_id: str) -> str:
    """The first two digits of the party's region; "" when unknown (then no travel can be judged)."""
    party = ref.parties.get(party_id)
    region = party.region if party else ""
    return region[:_PROVINCE_DIGITS] if len(region) >= _PROVINCE_DIGITS else ""


def _card_travel(ordered: Sequence[Event], ref: Reference, params: BuyerParams, skew: timedelta) -> list[Finding]:
    gap = params.travel - skew  # an earlier sale less than this before S, in another province
    if gap <= timedelta(0):
        return []
    times = [s.occurred_at for s in ordered]
    out = []
    for i, sale in enumerate(ordered):
        here = _province(ref, sale.party_id)
        if not here:
            continue
        # t_S − t_E < gap  ⇔  t_E > t_S − gap; and E is earlier in (occurred_at, event_id) order.
        lo = bisect.bisect_right(times, sale.occurred_at - gap, 0, i)
        away = [e for e in ordered[lo:i] if _province(ref, e.party_id) not in ("", here)]
        if not away:
            continue
        last = away[-1]
        minutes = (sale.occurred_at - last.occurred_at).total_seconds() / 60
        out.append(
            _finding(
                CARD_TRAVEL,
                Severity.HIGH,
                "",
                sale,
                evidence=(*_evidence(away), sale.event_id),
                money_fen=sum(ln.fund_paid_fen for ln in sale.lines),
                related_parties=tuple(sorted({e.party_id for e in away})),
                detail=bilingual(
                    f"本次在 {sale.party_id}（地区 {_region(ref, sale.party_id)}）刷卡前 {minutes:.0f} 分钟，同一卡在 "
                    f"{last.party_id}（地区 {_region(ref, last.party_id)}）使用，间隔不足 {gap}",
                    f"card used at {last.party_id} (region {_region(ref, last.party_id)}) {minutes:.0f} min before "
                    f"this sale at {sale.party_id} (region {_region(ref, sale.party_id)}); less than {gap} apart",
                ),
            )
        )
    return out


def _region(ref: Reference, party_id: str) -> str:
    party = ref.parties.get(party_id)
    return party.region if party else ""
