"""Rule S (串换): what was scanned against what was billed, per sale line billed as an insured drug."""

from __future__ import annotations

from dataclasses import replace

from reconciler.rules.model import Finding, Reference, Rule, Severity
from tracesvc.domain.events import Event, EventKind
from tracesvc.domain.registry import NON_DRUG_CATEGORIES, Category


def evaluate_sale(sale: Event, ref: Reference) -> list[Finding]:
    """One finding per scanned value per kind it shows, and one UNSCANNED_UNITS per billed item."""
    assert sale.kind is EventKind.SALE
    found: dict[tuple, Finding] = {}
    billed: dict[str, list[int]] = {}  # insurance code -> [billed units, scanned units, fund paid]

    def flag(kind: str, severity: Severity, code: str, money: int, detail: str) -> None:
        f = Finding(
            Rule.S,
            kind,
            severity,
            code,
            sale.event_id,
            sale.occurred_at,
            sale.party_id,
            evidence=(sale.event_id,),
            money_fen=money,
            detail=detail,
        )
        if f.identity in found:  # the same value on two lines: one flag, the money of both
            prev = found[f.identity]
            f = replace(prev, money_fen=prev.money_fen + money)
        found[f.identity] = f

    for n, line in enumerate(sale.lines):
        drugs = [p for p in ref.products_billed_as(line.insurance_code) if p.category is Category.DRUG]
        if not drugs:
            continue  # not billed as an insured drug: nothing to compare with
        billed_pack = min(p.pack_units for p in drugs)
        entry = billed.setdefault(line.insurance_code, [0, 0, 0])
        entry[0] += line.quantity if line.split else line.quantity * billed_pack
        entry[2] += line.fund_paid_fen
        share = line.fund_paid_fen // max(1, len(line.scans))
        where = f"line {n} billed as {line.insurance_code}"
        for scan in line.scans:
            if not scan.is_trace:
                entry[1] += scan.units or billed_pack
                flag("NON_DRUG", Severity.HIGH, scan.code, share, f"{where}; scanned a commodity barcode")
                continue
            product = ref.product_of(scan.code)
            if product is None:
                entry[1] += scan.units or billed_pack
                flag("UNKNOWN_PRODUCT", Severity.LOW, scan.code, share, f"{where}; product prefix not registered")
                continue
            entry[1] += scan.units or product.pack_units
            if product.category in NON_DRUG_CATEGORIES:
                flag(
                    "NON_DRUG",
                    Severity.HIGH,
                    scan.code,
                    share,
                    f"{where}; scanned {product.category.value} {product.name!r}",
                )
            elif product.insurance_code != line.insurance_code:
                flag(
                    "PRODUCT_MISMATCH",
                    Severity.MEDIUM,
                    scan.code,
                    share,
                    f"{where}; scanned {product.name!r} ({product.insurance_code or 'no insurance code'})",
                )
            if product.prefix in ref.listed_products and scan.code not in ref.commissioned:
                flag(
                    "UNKNOWN_CODE",
                    Severity.MEDIUM,
                    scan.code,
                    share,
                    f"{where}; not in {product.manufacturer_id or 'the maker'}'s list of commissioned codes",
                )
    for item, (billed_units, scanned_units, fund) in billed.items():
        if billed_units > scanned_units:
            missing = billed_units - scanned_units
            flag(
                "UNSCANNED_UNITS",
                Severity.MEDIUM,
                item,
                fund * missing // billed_units,
                f"{billed_units} units billed, {scanned_units} scanned",
            )
    return list(found.values())
