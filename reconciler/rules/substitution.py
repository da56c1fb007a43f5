"""Rule S (串换): what was scanned against what was billed, per sale line billed as an insured drug."""

from __future__ import annotations

from dataclasses import replace

from reconciler.rules.model import Finding, Reference, Rule, Severity, bilingual
from tracesvc.domain.events import Event, EventKind
from tracesvc.domain.registry import NON_DRUG_CATEGORIES, Category, Product


def evaluate_sale(sale: Event, ref: Reference) -> list[Finding]:
    """One finding per scanned value per kind it shows, and one UNSCANNED_UNITS per billed item."""
    assert sale.kind is EventKind.SALE
    found: dict[tuple[str, str, str, str], Finding] = {}
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
        where = (f"第 {n} 行按 {line.insurance_code} 结算", f"line {n} billed as {line.insurance_code}")
        for scan in line.scans:
            product = ref.product_of(scan.code) if scan.is_trace else None
            # A value with no known product stands for one pack of the billed item (DESIGN §5 S).
            entry[1] += scan.units or (product.pack_units if product else billed_pack)
            for kind, severity, (zh, en) in _shows(scan.code, scan.is_trace, product, line.insurance_code, ref):
                flag(kind, severity, scan.code, share, bilingual(f"{where[0]}；{zh}", f"{where[1]}; {en}"))
    for item, (billed_units, scanned_units, fund) in billed.items():
        if billed_units > scanned_units:
            missing = billed_units - scanned_units
            flag(
                "UNSCANNED_UNITS",
                Severity.MEDIUM,
                item,
                fund * missing // billed_units,
                bilingual(
                    f"结算 {billed_units} 个单位，扫码 {scanned_units} 个",
                    f"{billed_units} units billed, {scanned_units} scanned",
                ),
            )
    return list(found.values())


def _shows(
    code: str, is_trace: bool, product: Product | None, billed: str, ref: Reference
) -> list[tuple[str, Severity, tuple[str, str]]]:
    """The S kinds one scanned value shows on a line billed as `billed`: (kind, severity, (zh, en))."""
    if not is_trace:
        return [("NON_DRUG", Severity.HIGH, ("扫描的是商品条码（非药品追溯码）", "scanned a commodity barcode"))]
    if product is None:
        return [("UNKNOWN_PRODUCT", Severity.LOW, ("产品前缀未登记", "product prefix not registered"))]
    out: list[tuple[str, Severity, tuple[str, str]]] = []
    if product.category in NON_DRUG_CATEGORIES:
        shown = (
            f"扫码为非药品（{product.category.value}）{product.name!r}",
            f"scanned {product.category.value} {product.name!r}",
        )
        out.append(("NON_DRUG", Severity.HIGH, shown))
    elif product.insurance_code != billed:
        code_shown = product.insurance_code or "no insurance code"
        shown = (
            f"扫码为 {product.name!r}（{product.insurance_code or '无医保编码'}）",
            f"scanned {product.name!r} ({code_shown})",
        )
        out.append(("PRODUCT_MISMATCH", Severity.MEDIUM, shown))
    if product.prefix in ref.listed_products and code not in ref.commissioned:
        maker = product.manufacturer_id or "the maker"
        shown = (
            f"不在 {product.manufacturer_id or '生产企业'} 赋码清单内",
            f"not in {maker}'s list of commissioned codes",
        )
        out.append(("UNKNOWN_CODE", Severity.MEDIUM, shown))
    return out
