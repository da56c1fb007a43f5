"""Small builders of registry items and events for the tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tracesvc.client.wire import to_timestamp
from tracesvc.domain.codes import gs1_check_digit
from tracesvc.v1 import events_pb2 as ev
from tracesvc.v1 import registry_pb2 as reg

T0 = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
STATIN = "8600001"  # 28 tablets a pack
SYRUP = "8600002"  # 1 unit a pack
GTIN = "0690000000001" + str(gs1_check_digit("0690000000001"))


def at(minutes: float):
    return to_timestamp(T0 + timedelta(minutes=minutes))


def code(prefix: str, serial: int) -> str:
    return f"{prefix}{serial:013d}"


def licence(days_before: int = 400, valid_days: int | None = None) -> reg.Licence:
    lic = reg.Licence(number=f"L-{days_before}", valid_from=to_timestamp(T0 - timedelta(days=days_before)))
    if valid_days is not None:
        lic.valid_to.CopyFrom(to_timestamp(T0 - timedelta(days=days_before) + timedelta(days=valid_days)))
    return lic


def parties() -> list[reg.Party]:
    return [
        reg.Party(
            party_id="MFR1",
            kind=reg.PARTY_KIND_MANUFACTURER,
            name="Maker",
            region="110000",
            licences=[licence()],
            reports_events=True,
        ),
        reg.Party(
            party_id="WHS1",
            kind=reg.PARTY_KIND_WHOLESALER,
            name="Wholesaler",
            region="110000",
            licences=[licence()],
            reports_events=True,
        ),
        reg.Party(party_id="DC1", kind=reg.PARTY_KIND_CHAIN_HQ, chain_id="CH1", region="110105", licences=[licence()]),
        reg.Party(party_id="P1", kind=reg.PARTY_KIND_PHARMACY, chain_id="CH1", region="110105", licences=[licence()]),
        reg.Party(party_id="P2", kind=reg.PARTY_KIND_PHARMACY, region="110108", licences=[licence()]),
    ]


def products() -> list[reg.Product]:
    return [
        reg.Product(
            prefix=STATIN,
            scheme=reg.CODE_SCHEME_MSFX,
            manufacturer_id="MFR1",
            name="Atorvastatin",
            pack_units=28,
            category=reg.PRODUCT_CATEGORY_DRUG,
            insurance_code="XC10AAA001",
        ),
        reg.Product(
            prefix=SYRUP,
            scheme=reg.CODE_SCHEME_MSFX,
            manufacturer_id="MFR1",
            name="Cough syrup",
            pack_units=1,
            category=reg.PRODUCT_CATEGORY_DRUG,
            insurance_code="XR05AAA001",
        ),
        reg.Product(
            prefix=GTIN,
            scheme=reg.CODE_SCHEME_GS1,
            manufacturer_id="MFR1",
            name="Insulin",
            pack_units=5,
            category=reg.PRODUCT_CATEGORY_DRUG,
            insurance_code="XA10ABA001",
        ),
        reg.Product(
            prefix="HZMF",
            scheme=reg.CODE_SCHEME_MANUFACTURER,
            manufacturer_id="MFR1",
            name="Own-coded",
            pack_units=1,
            category=reg.PRODUCT_CATEGORY_DRUG,
        ),
    ]


async def seed_registry(stub) -> None:
    await seed_registry_as(stub, ())


async def seed_registry_as(stub, metadata) -> None:
    r1 = await stub.UpsertParties(reg.UpsertPartiesRequest(parties=parties()), metadata=metadata)
    r2 = await stub.UpsertProducts(reg.UpsertProductsRequest(products=products()), metadata=metadata)
    assert all(r.status == 1 for r in list(r1.results) + list(r2.results)), (r1, r2)


def header(event_id: str, party: str = "P1", minutes: float = 0, doc: str = "") -> ev.EventHeader:
    return ev.EventHeader(event_id=event_id, party_id=party, occurred_at=at(minutes), document_no=doc)


def items(*codes: str) -> list[ev.TraceItem]:
    return [ev.TraceItem(code=c) for c in codes]


def receipt(event_id: str, codes: list[str], party: str = "P1", supplier: str = "WHS1", minutes: float = 0):
    return ev.Receipt(header=header(event_id, party, minutes), supplier_id=supplier, items=items(*codes))


def sale(
    event_id: str,
    scanned: list[tuple[str, int | None]],
    party: str = "P1",
    minutes: float = 60,
    sale_id: str | None = None,
    buyer: str = "110101199001011234",
    insurance_code: str = "XC10AAA001",
    split: bool = False,
    quantity: int = 1,
):
    return ev.Sale(
        header=header(event_id, party, minutes),
        sale_id=sale_id or f"S-{event_id}",
        buyer_id=buyer,
        lines=[
            ev.SaleLine(
                insurance_code=insurance_code,
                split=split,
                quantity=quantity,
                amount_fen=3000,
                fund_paid_fen=2000,
                scanned=[
                    ev.ScannedCode(code=c, units=u) if u is not None else ev.ScannedCode(code=c) for c, u in scanned
                ],
            )
        ],
    )
