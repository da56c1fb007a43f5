"""The README's main job: a service on the embedded PostgreSQL, driven through one pharmacy day.

It registers a small supply chain, streams a day of scans through the gRPC API (with the
things real POS systems send: split sales, a refund, late offline uploads, a retried
batch, a double scan, a mistyped code), and prints what the service made of them.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

from tracesvc import client
from tracesvc.api.convert import to_timestamp
from tracesvc.domain.codes import gs1_check_digit
from tracesvc.v1 import (
    ack_pb2,
    enforcement_pb2,
    enforcement_pb2_grpc,
    events_pb2,
    reconcile_pb2,
    reconcile_pb2_grpc,
)
from tracesvc.v1 import registry_pb2 as reg

DAY = datetime(2026, 11, 20, tzinfo=UTC)


def _ts(hours: float):
    return to_timestamp(DAY + timedelta(hours=hours))


def registry_records() -> list[reg.RegistryRecord]:
    lic = reg.Licence(number="LIC-OK", valid_from=to_timestamp(DAY - timedelta(days=900)))
    revoked_at = to_timestamp(DAY - timedelta(days=30))
    revoked = reg.Licence(number="LIC-REV", valid_from=to_timestamp(DAY - timedelta(days=900)), status_history=[
        reg.LicenceStatusChange(status=reg.LICENCE_STATUS_REVOKED, effective_from=revoked_at)])
    parties = [
        reg.Party(party_id="MFR-HUAYAO", kind=reg.PARTY_KIND_MANUFACTURER, name="华药制药", region="130100",
                  licences=[lic], reports_events=True),
        reg.Party(party_id="WHS-KANGDA", kind=reg.PARTY_KIND_WHOLESALER, name="康达医药批发", region="110100",
                  licences=[lic], reports_events=True),
        reg.Party(party_id="WHS-SHADOW", kind=reg.PARTY_KIND_WHOLESALER, name="影子医药", region="110100",
                  licences=[revoked]),
        reg.Party(party_id="CHAIN-DC", kind=reg.PARTY_KIND_CHAIN_HQ, name="仁心大药房配送中心", region="110105",
                  chain_id="RENXIN", licences=[lic]),
        reg.Party(party_id="STORE-A", kind=reg.PARTY_KIND_PHARMACY, name="仁心大药房 朝阳店", region="110105",
                  chain_id="RENXIN", licences=[lic]),
        reg.Party(party_id="STORE-B", kind=reg.PARTY_KIND_PHARMACY, name="仁心大药房 海淀店", region="110108",
                  chain_id="RENXIN", licences=[lic]),
        reg.Party(party_id="PHARM-X", kind=reg.PARTY_KIND_PHARMACY, name="百姓药店", region="110106", licences=[lic]),
    ]
    gtin = "0690000000001"
    gtin += str(gs1_check_digit(gtin))
    products = [
        reg.Product(prefix="8600001", scheme=reg.CODE_SCHEME_MSFX, manufacturer_id="MFR-HUAYAO", name="阿托伐他汀钙片",
                    spec="20mg×28片", pack_units=28, category=reg.PRODUCT_CATEGORY_DRUG, insurance_code="XC10AAA001"),
        reg.Product(prefix="8600002", scheme=reg.CODE_SCHEME_MSFX, manufacturer_id="MFR-HUAYAO", name="二甲双胍片",
                    spec="0.5g×60片", pack_units=60, category=reg.PRODUCT_CATEGORY_DRUG, insurance_code="XA10BAA001"),
        reg.Product(prefix=gtin, scheme=reg.CODE_SCHEME_GS1, manufacturer_id="MFR-HUAYAO", name="进口胰岛素笔芯",
                    spec="3ml", pack_units=1, category=reg.PRODUCT_CATEGORY_DRUG, insurance_code="XA10ABA001"),
        reg.Product(prefix="8600009", scheme=reg.CODE_SCHEME_MSFX, manufacturer_id="MFR-HUAYAO", name="蛋白粉",
                    spec="400g", pack_units=1, category=reg.PRODUCT_CATEGORY_HEALTH_FOOD),
    ]
    return [reg.RegistryRecord(party=p) for p in parties] + [reg.RegistryRecord(product=p) for p in products]


def _code(prefix: str, serial: int) -> str:
    return f"{prefix}{serial:013d}"


def _items(codes: list[str]) -> list[events_pb2.TraceItem]:
    return [events_pb2.TraceItem(code=c, batch="B2611", expiry="2028-10-31") for c in codes]


def _header(event_id: str, party: str, hours: float, doc: str = "") -> events_pb2.EventHeader:
    return events_pb2.EventHeader(event_id=event_id, party_id=party, occurred_at=_ts(hours), document_no=doc)


def day_of_events(seed: int = 7) -> list[events_pb2.Event]:
    """One day along the chain manufacturer → wholesaler → DC → stores → patients."""
    rng = random.Random(seed)
    statin = [_code("8600001", n) for n in range(1, 41)]
    metformin = [_code("8600002", n) for n in range(1, 21)]
    out: list[events_pb2.Event] = []

    def add(kind: str, msg) -> None:
        out.append(events_pb2.Event(**{kind: msg}))

    every = statin + metformin
    add("shipment", events_pb2.Shipment(header=_header("mfr-ship-1", "MFR-HUAYAO", 1, "DN-1"),
                                        receiver_id="WHS-KANGDA", items=_items(every)))
    add("receipt", events_pb2.Receipt(header=_header("whs-rec-1", "WHS-KANGDA", 3, "DN-1"),
                                      supplier_id="MFR-HUAYAO", items=_items(every)))
    add("receipt", events_pb2.Receipt(header=_header("dc-rec-1", "CHAIN-DC", 5, "DN-7"),
                                      supplier_id="WHS-KANGDA", items=_items(every)))
    add("transfer", events_pb2.Transfer(header=_header("dc-tr-a", "CHAIN-DC", 6), to_party_id="STORE-A",
                                        items=_items(statin[:20] + metformin[:10])))
    add("transfer", events_pb2.Transfer(header=_header("dc-tr-b", "CHAIN-DC", 6), to_party_id="STORE-B",
                                        items=_items(statin[20:] + metformin[10:])))
    sale_no = 0
    for store, codes in (("STORE-A", statin[:20]), ("STORE-B", statin[20:])):
        for code in codes[:12]:
            sale_no += 1
            hour = 9 + rng.random() * 10
            add("sale", events_pb2.Sale(
                header=_header(f"{store}-sale-{sale_no}", store, hour), sale_id=f"SET-{sale_no:05d}",
                buyer_id=f"1101{rng.randrange(10**13):013d}",
                lines=[events_pb2.SaleLine(insurance_code="XC10AAA001", item_name="阿托伐他汀钙片", quantity=1,
                                           amount_fen=3850, fund_paid_fen=2695,
                                           scanned=[events_pb2.ScannedCode(code=code)])]))
    # 拆零: one metformin box sold in three parts of 20 tablets.
    for part in range(3):
        sale_no += 1
        add("sale", events_pb2.Sale(
            header=_header(f"STORE-A-sale-{sale_no}", "STORE-A", 10 + part), sale_id=f"SET-{sale_no:05d}",
            buyer_id=f"1101{rng.randrange(10**13):013d}",
            lines=[events_pb2.SaleLine(insurance_code="XA10BAA001", split=True, quantity=20, amount_fen=600,
                                       fund_paid_fen=420,
                                       scanned=[events_pb2.ScannedCode(code=metformin[0], units=20)])]))
    # A refund that puts a box back on the shelf.
    add("sale_return", events_pb2.SaleReturn(header=_header("STORE-A-ret-1", "STORE-A", 18),
                                             sale_id="SET-00001", codes=[events_pb2.ReturnedCode(code=statin[0])]))
    rng.shuffle(out)  # offline POS uploads arrive in any order
    return out


def frauds() -> list[events_pb2.Event]:
    """What the reconciler is for: a return drug, a card swipe, a substitution."""
    statin = [_code("8600001", n) for n in range(1, 41)]
    powder = _code("8600009", 1)
    ring_buyer = "110101195505055555"
    out = [
        # 回流药: a box sold on insurance at STORE-A comes back through a dealer and is resold.
        events_pb2.Event(receipt=events_pb2.Receipt(
            header=_header("PHARM-X-rec-1", "PHARM-X", 30, "NO-INVOICE"), supplier_id="WHS-SHADOW",
            items=_items([statin[2]]))),
        events_pb2.Event(sale=events_pb2.Sale(
            header=_header("PHARM-X-sale-1", "PHARM-X", 31), sale_id="PX-00001", buyer_id="110101198808088888",
            lines=[events_pb2.SaleLine(insurance_code="XC10AAA001", item_name="阿托伐他汀钙片", quantity=1,
                                       amount_fen=3850, fund_paid_fen=2695,
                                       scanned=[events_pb2.ScannedCode(code=statin[2])])])),
        # 串换: protein powder handed out, settled as atorvastatin.
        events_pb2.Event(sale=events_pb2.Sale(
            header=_header("STORE-B-sale-sub", "STORE-B", 15), sale_id="SET-88001", buyer_id=ring_buyer,
            lines=[events_pb2.SaleLine(insurance_code="XC10AAA001", item_name="阿托伐他汀钙片", quantity=1,
                                       amount_fen=3850, fund_paid_fen=2695,
                                       scanned=[events_pb2.ScannedCode(code=powder)])])),
        # Card swiping: a sale recorded while the box stays on the shelf, then the box sold again.
        events_pb2.Event(sale=events_pb2.Sale(
            header=_header("STORE-B-sale-swipe", "STORE-B", 19.5), sale_id="SET-88002", buyer_id=ring_buyer,
            lines=[events_pb2.SaleLine(insurance_code="XC10AAA001", item_name="阿托伐他汀钙片", quantity=1,
                                       amount_fen=3850, fund_paid_fen=2695,
                                       scanned=[events_pb2.ScannedCode(code=statin[25])])])),
    ]
    return out


def troubles() -> list[events_pb2.Event]:
    """What a counter gets wrong: a double scan, a mistyped code, a missing timestamp."""
    code = _code("8600001", 33)
    return [
        events_pb2.Event(sale=events_pb2.Sale(
            header=_header("STORE-B-sale-dbl", "STORE-B", 20), sale_id="SET-99001",
            lines=[events_pb2.SaleLine(insurance_code="XC10AAA001", quantity=1, amount_fen=3850,
                                       scanned=[events_pb2.ScannedCode(code=code)] * 2)])),
        events_pb2.Event(receipt=events_pb2.Receipt(
            header=_header("PHARM-X-rec-typo", "PHARM-X", 8), supplier_id="WHS-SHADOW",
            items=_items(["860000100000000001"]))),
        events_pb2.Event(receipt=events_pb2.Receipt(
            header=events_pb2.EventHeader(event_id="PHARM-X-rec-notime", party_id="PHARM-X"),
            supplier_id="WHS-SHADOW", items=_items([_code("8600001", 99)]))),
    ]


async def drive(target: str, token: str | None = None) -> dict:
    """Register, stream the day, retry it, send the troubles, reconcile; return a summary."""
    auth = client.bearer(token)
    async with client.channel(target) as ch:
        reg_results = await client.upsert_registry(ch, registry_records(), token=token)
        day = day_of_events() + frauds()
        first = await client.stream_events(ch, day, token)
        retry = await client.stream_events(ch, day, token)  # a POS that lost its acks sends everything again
        bad = await client.stream_events(ch, troubles(), token)
        recon = reconcile_pb2_grpc.ReconcileServiceStub(ch)
        run = (await recon.RunReconciliation(
            reconcile_pb2.RunReconciliationRequest(mode=reconcile_pb2.RUN_MODE_FULL, wait=True), metadata=auth)).run
        enf = enforcement_pb2_grpc.EnforcementServiceStub(ch)
        flags = (await enf.ListFlags(enforcement_pb2.ListFlagsRequest(page_size=1000), metadata=auth)).flags
        chains = (await enf.ListReturnChains(enforcement_pb2.ListReturnChainsRequest(), metadata=auth)).chains
    kinds = Counter(e.WhichOneof("kind") for e in day)
    codes = sum(len(getattr(e, e.WhichOneof("kind")).items) for e in day if e.WhichOneof("kind") not in
                ("sale", "sale_return"))
    top = max(chains, key=lambda c: (c.HasField("reentry"), c.money_fen, len(c.resales)), default=None)
    return {
        "registry": client.count_statuses(reg_results),
        "events": dict(kinds),
        "custody_codes": codes,
        "first_pass": client.count_statuses(first),
        "retry": client.count_statuses(retry),
        "troubles": [(a.event_id, ack_pb2.AckStatus.Name(a.status), a.error.message) for a in bad],
        "run": run,
        "flags": Counter(f"{f.rule} {f.kind}" for f in flags),
        # Several flags may name one sale: count each decisive event's money once.
        "money_fen": sum({f.decisive_event_id: f.money_fen for f in sorted(flags, key=lambda f: f.money_fen)}.values()),
        "top_chain": top,
    }


def _chain_path(chain) -> str:
    def sale(s) -> str:
        return f"sold by {s.party_id} at {s.occurred_at.ToDatetime():%m-%d %H:%M} to buyer {s.buyer_token[:8]}…"

    steps = [sale(s) for s in chain.originals]
    if chain.HasField("reentry"):
        e = chain.reentry
        steps.append(f"back in at {e.party_id} from {e.supplier_id or '?'} ({e.kind}) "
                     f"at {e.occurred_at.ToDatetime():%m-%d %H:%M}")
    else:
        steps.append("back in: unrecorded")
    steps += ["re" + sale(s) for s in chain.resales]
    return f"{chain.code}: " + "\n      → ".join(steps)


def print_summary(summary: dict) -> None:
    print("tracesvc demo: one pharmacy day through the gRPC API")
    print(f"  registry items        {dict(summary['registry'])}")
    print(f"  events by kind        {summary['events']}  ({summary['custody_codes']} codes moved in custody)")
    print(f"  first upload          {dict(summary['first_pass'])}")
    print(f"  same upload, retried  {dict(summary['retry'])}  (idempotent: nothing stored twice)")
    print("  mistakes stopped at the counter:")
    for event_id, status, message in summary["troubles"]:
        print(f"    {event_id:<20} {status.removeprefix('ACK_STATUS_'):<9} {message}")
    run = summary["run"]
    print(f"  reconciliation run {run.run_id}: {run.codes_done} codes, {run.sales_done} sales, "
          f"{run.flags_new} flags in {run.seconds:.2f} s")
    for name, n in sorted(summary["flags"].items()):
        print(f"    {name:<28} {n}")
    print(f"  insurance fund money at risk: ¥{summary['money_fen'] / 100:,.2f}")
    if summary["top_chain"] is not None:
        print("  top return-drug chain:\n    " + _chain_path(summary["top_chain"]))
