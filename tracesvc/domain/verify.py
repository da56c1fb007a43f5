"""Verification at the counter (DESIGN.md §7 VerifyService): one verdict per code, from the
code's current state. Pure: the state comes from the store, the product from the registry."""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from tracesvc.domain import codes
from tracesvc.domain.codes import CommodityBarcode
from tracesvc.domain.events import Event, EventKind
from tracesvc.domain.registry import Category, Product


class Verdict(StrEnum):
    SELLABLE = "SELLABLE"
    ALREADY_SOLD = "ALREADY_SOLD"
    NOT_IN_STOCK_HERE = "NOT_IN_STOCK_HERE"
    PRODUCT_MISMATCH = "PRODUCT_MISMATCH"
    NOT_A_TRACE_CODE = "NOT_A_TRACE_CODE"
    UNKNOWN_PRODUCT = "UNKNOWN_PRODUCT"
    INVALID = "INVALID"


@dataclass(frozen=True, slots=True)
class CodeState:
    """Counters of one code's sales, refunds and custody-ins: the same whatever the arrival order."""

    sold_whole: int = 0
    sold_units: int = 0
    returned_whole: int = 0
    returned_units: int = 0
    last_sale_at: datetime | None = None
    last_sale_party: str | None = None
    holders: frozenset[str] = field(default_factory=frozenset)

    def units_out(self, pack: int) -> int:
        """Units with consumers now (a refund without units gives back a whole pack)."""
        whole = self.sold_whole - self.returned_whole
        return max(0, whole * pack + self.sold_units - self.returned_units)

    def after(
        self, kind: EventKind, party_id: str, counterparty_id: str, units: int | None, occurred_at: datetime
    ) -> CodeState:
        """The state once one more event of this code is counted."""
        sw, su, rw, ru = self.sold_whole, self.sold_units, self.returned_whole, self.returned_units
        last_at, last_party, holders = self.last_sale_at, self.last_sale_party, self.holders
        if kind is EventKind.SALE:
            sw, su = sw + (units is None), su + (units or 0)
            if last_at is None or occurred_at > last_at:
                last_at, last_party = occurred_at, party_id
        elif kind is EventKind.SALE_RETURN:
            rw, ru = rw + (units is None), ru + (units or 0)
        else:
            holder = custody_holder(kind, party_id, counterparty_id)
            if holder and holder not in holders:
                holders = holders | {holder}
        # Built directly: dataclasses.replace is too slow for the ingest hot path.
        return CodeState(sw, su, rw, ru, last_at, last_party, holders)


_NO_STATE = CodeState()


def custody_holder(kind: EventKind, party_id: str, counterparty_id: str) -> str | None:
    """Who takes custody in a custody event (None for a shipment, which only reports)."""
    if kind in (EventKind.RECEIPT, EventKind.OPENING_STOCK):
        return party_id
    if kind in (EventKind.TRANSFER, EventKind.PURCHASE_RETURN):
        return counterparty_id
    return None


def fold_into(states: dict[str, CodeState], event: Event, wanted: Container[str]) -> None:
    """Count every trace row of `event` whose code is `wanted` into `states`, in one pass."""
    for row in event.code_rows():
        if row.is_trace and row.code in wanted:
            state = states.get(row.code, _NO_STATE)
            states[row.code] = state.after(
                event.kind, event.party_id, event.counterparty_id, row.units, event.occurred_at
            )


@dataclass(frozen=True, slots=True)
class CodeCheck:
    given: str
    verdict: Verdict
    message: str
    canonical: str = ""
    product_name: str = ""
    sold_at: datetime | None = None
    sold_by: str | None = None  # the selling party: callers show its region, never the buyer
    units_left: int = 0


def check(
    raw: str,
    *,
    party_id: str,
    state: CodeState | None,
    product_of,  # product key -> Product | None
    manufacturer_prefixes: frozenset[str],
    billed_insurance_code: str = "",
    units: int | None = None,
) -> CodeCheck:
    """The verdict for selling `units` (None: the whole pack) of `raw` at `party_id`, first that holds:
    INVALID, NOT_A_TRACE_CODE, UNKNOWN_PRODUCT, PRODUCT_MISMATCH, ALREADY_SOLD, NOT_IN_STOCK_HERE, SELLABLE."""
    try:
        parsed = codes.parse(raw, manufacturer_prefixes)
    except codes.CodeError as exc:
        return CodeCheck(raw, Verdict.INVALID, exc.reason)
    if isinstance(parsed, CommodityBarcode):
        return CodeCheck(
            raw,
            Verdict.NOT_A_TRACE_CODE,
            f"{parsed.kind} commodity barcode: scan the trace code",
            canonical=parsed.canonical,
        )
    product: Product | None = product_of(parsed.product_key)
    if product is None:
        return CodeCheck(
            raw,
            Verdict.UNKNOWN_PRODUCT,
            f"product {parsed.product_key} is not in the registry",
            canonical=parsed.canonical,
        )
    canonical, name = parsed.canonical, product.name
    if billed_insurance_code and (
        product.category is not Category.DRUG or product.insurance_code != billed_insurance_code
    ):
        return CodeCheck(
            raw,
            Verdict.PRODUCT_MISMATCH,
            f"the code is {product.name!r} ({product.insurance_code or product.category.value}), "
            f"billed as {billed_insurance_code}",
            canonical=canonical,
            product_name=name,
        )
    state = state or CodeState()
    left = product.pack_units - state.units_out(product.pack_units)
    wanted = product.pack_units if units is None else units
    if wanted > left:
        return CodeCheck(
            raw,
            Verdict.ALREADY_SOLD,
            f"{left} of {product.pack_units} units left; {wanted} asked" if left else "already sold",
            sold_at=state.last_sale_at,
            sold_by=state.last_sale_party,
            units_left=left,
            canonical=canonical,
            product_name=name,
        )
    if party_id not in state.holders:
        return CodeCheck(
            raw,
            Verdict.NOT_IN_STOCK_HERE,
            f"no receipt of this code at {party_id}",
            units_left=left,
            canonical=canonical,
            product_name=name,
        )
    return CodeCheck(raw, Verdict.SELLABLE, "", units_left=left, canonical=canonical, product_name=name)
