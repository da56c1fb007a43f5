"""Generate events and ground-truth labels, box by box, deterministic by seed.

Every box (trace code) gets a legitimate supply path and, with probability
`fraud_rate`, one fraud story. A fraud story's labels are all the findings its events
must produce under DESIGN §5 — the cascade included (a return drug resold elsewhere is
an R REENTRY, a D CROSS_PARTY and an L finding at once). Output streams in blocks, so
memory stays flat at any scale; within a block events are shuffled (offline POS
uploads arrive late and out of order) and a few are sent twice.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from tracesvc.client.wire import to_timestamp
from tracesvc.sim import world
from tracesvc.sim.world import BY_PREFIX, CHAINS, DRUGS, LISTED, START, SimProduct
from tracesvc.v1 import events_pb2 as ev

BLOCK = 256  # boxes per shuffled block
FRAUDS = (
    "ring_launderer",
    "ring_dealer",
    "ring_no_paper",
    "card_swipe",
    "food_as_drug",
    "cosmetic_as_drug",
    "cheap_as_dear",
    "unscanned_units",
    "unknown_code",
    "unlicensed_supplier",
    "backfilled_receipt",
    "outside_transfer",
    "fake_box",
    "drug_farmer",
    "card_seller",
    "over_supply",
)
# Buyers' legitimate habits that look like rule B's findings and must not raise one.
LOOKALIKES = ("chronic_refills", "two_pharmacies", "refund_elsewhere", "travel_next_day")
LOOKALIKE_RATE = 0.03
# Drugs whose boxes fraud stories move: not the listed product (its made-up serials would add
# UNKNOWN_CODE findings to stories about something else), nor the cheap twins.
FRAUD_DRUGS = [p for p in DRUGS if p.prefix != LISTED and p.prefix not in world.CHEAP_FOR_DEAR]
SUPPLY_DRUGS = [p for p in FRAUD_DRUGS if p.daily]  # drugs with a supply limit (rule B OVER_SUPPLY)
DAY = timedelta(days=1)
H = timedelta(hours=1)


@dataclass(frozen=True)
class Label:
    rule: str
    kind: str
    code: str  # canonical trace code (S UNSCANNED_UNITS: the billed insurance code; a barcode as scanned)
    subject: str
    event_id: str  # the decisive event
    money_fen: int
    story: str

    def key(self) -> tuple[str, str, str, str, str]:
        return (self.rule, self.kind, self.code, self.subject, self.event_id)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)


def _holders(events: list[ev.Event]) -> set[str]:
    """Parties that took the code into custody in these events."""
    out = set()
    for e in events:
        which = e.WhichOneof("kind")
        body = getattr(e, which)
        if which in ("receipt", "opening_stock"):
            out.add(body.header.party_id)
        elif which == "transfer":
            out.add(body.to_party_id)
        elif which == "purchase_return":
            out.add(body.supplier_id)
    return out


class Simulation:
    def __init__(self, seed: int, scale: int, fraud_rate: float = 0.08) -> None:
        self.seed, self.scale, self.fraud_rate = seed, scale, fraud_rate
        rng = random.Random(seed)
        everyone = [p.party_id for p in world.parties()]
        # Small clock errors between parties, well inside the 10-minute tolerance.
        self.offset = {p: timedelta(seconds=rng.randint(-180, 180)) for p in everyone}

    # -- event builders ------------------------------------------------------------------------
    def _header(self, eid: str, party: str, t: datetime, doc: str = "") -> ev.EventHeader:
        return ev.EventHeader(
            event_id=eid, party_id=party, occurred_at=to_timestamp(t + self.offset.get(party, H * 0)), document_no=doc
        )

    def receipt(self, eid, party, supplier, code, t):
        return ev.Event(
            receipt=ev.Receipt(
                header=self._header(eid, party, t, f"DN-{eid}"), supplier_id=supplier, items=[ev.TraceItem(code=code)]
            )
        )

    def shipment(self, eid, party, receiver, code, t):
        return ev.Event(
            shipment=ev.Shipment(
                header=self._header(eid, party, t, f"DN-{eid}"), receiver_id=receiver, items=[ev.TraceItem(code=code)]
            )
        )

    def transfer(self, eid, sender, to, code, t):
        return ev.Event(
            transfer=ev.Transfer(header=self._header(eid, sender, t), to_party_id=to, items=[ev.TraceItem(code=code)])
        )

    def purchase_return(self, eid, party, supplier, code, t):
        return ev.Event(
            purchase_return=ev.PurchaseReturn(
                header=self._header(eid, party, t), supplier_id=supplier, items=[ev.TraceItem(code=code)]
            )
        )

    def opening(self, eid, party, code, t):
        return ev.Event(
            opening_stock=ev.OpeningStock(
                header=self._header(eid, party, t), items=[ev.TraceItem(code=code, source_document=f"INV-2025-{eid}")]
            )
        )

    def sale(self, eid, party, t, buyer, lines):
        """lines: (insurance_code, name, split, quantity, amount_fen, [(code, units)])."""
        out = ev.Sale(header=self._header(eid, party, t), sale_id=f"SET-{eid}", buyer_id=buyer)
        for code_, name, split, qty, amount, scans in lines:
            line = out.lines.add(
                insurance_code=code_,
                item_name=name,
                split=split,
                quantity=qty,
                amount_fen=amount,
                fund_paid_fen=amount * 7 // 10 if code_ else 0,
            )
            for c, units in scans:
                s = line.scanned.add(code=c)
                if units is not None:
                    s.units = units
        return ev.Event(sale=out)

    def refund(self, eid, party, sale_eid, code, t):
        return ev.Event(
            sale_return=ev.SaleReturn(
                header=self._header(eid, party, t), sale_id=f"SET-{sale_eid}", codes=[ev.ReturnedCode(code=code)]
            )
        )

    # -- stories ------------------------------------------------------------------------------
    def _supply(self, rng, n, product, code, holder, t) -> tuple[list, datetime]:
        """A legal path of the box to `holder`, ending by time t; returns (events, when it is there)."""
        b = f"b{n}"
        chain = next((c for c, stores in CHAINS.items() if holder in stores), None)
        whs = rng.choice(world.WHOLESALERS)
        start = [
            self.shipment(f"{b}-mship", product.maker, whs, code, t - 30 * H),
            self.receipt(f"{b}-wrec", whs, product.maker, code, t - 28 * H),
        ]
        if chain:
            dc = f"{chain}-DC"
            return start + [
                self.receipt(f"{b}-dcrec", dc, whs, code, t - 20 * H),
                self.transfer(f"{b}-tr", dc, holder, code, t - 2 * H),
            ], t
        route = rng.random()
        if route < 0.55:
            return start + [self.receipt(f"{b}-rec", holder, whs, code, t - 2 * H)], t
        if route < 0.7:
            return [self.receipt(f"{b}-rec", holder, world.QUIET, code, t - 2 * H)], t
        if route < 0.8:
            # declared when the pharmacy joined (a chronic patient's refills may go back before it)
            return [self.opening(f"{b}-open", holder, code, min(START, t) - 24 * H)], t
        if route < 0.9:  # from a wholesaler whose licence changes later in the run, while it still held
            supplier = rng.choice(sorted(world.LICENCE_CHANGES))
            when = min(t - 2 * H, world.LICENCE_CHANGES[supplier] - 24 * H)
            return [self.receipt(f"{b}-rec", holder, supplier, code, when)], t
        # bought, returned to the wholesaler, delivered again: a purchase return is a legal path
        other = rng.choice([s for s in world.INDEPENDENTS if s != holder])
        return start + [
            self.receipt(f"{b}-rec0", other, whs, code, t - 20 * H),
            self.purchase_return(f"{b}-pret", other, whs, code, t - 10 * H),
            self.receipt(f"{b}-rec", holder, whs, code, t - 2 * H),
        ], t

    def _line(self, product: SimProduct, code: str, units: int | None = None, billed: SimProduct | None = None):
        billed = billed or product
        if units is None:
            return (billed.insurance_code, billed.name, False, 1, billed.price_fen, [(code, None)])
        return (
            billed.insurance_code,
            billed.name,
            True,
            units,
            billed.price_fen * units // billed.pack,
            [(code, units)],
        )

    def _buyer(self, rng) -> str:
        return f"1101{rng.randrange(10**14):014d}"

    def legit(self, rng, n, product, serial) -> tuple[list, list[Label]]:
        code = product.code(serial, rng)
        seller = rng.choice(world.SELLERS)
        t = START + timedelta(days=rng.uniform(2, world.DAYS - 8))
        events, t = self._supply(rng, n, product, code, seller, t)
        fate = rng.random()
        b = f"b{n}"
        if product.category != "DRUG":
            if fate < 0.7:  # health food and food sold for cash: not billed to the fund
                events.append(
                    self.sale(
                        f"{b}-s",
                        seller,
                        t + 3 * H,
                        "",
                        [("", product.name, False, 1, product.price_fen, [(code, None)])],
                    )
                )
            return events, []
        if fate < 0.5:
            events.append(self.sale(f"{b}-s", seller, t + 3 * H, self._buyer(rng), [self._line(product, code)]))
        elif fate < 0.65 and product.pack > 1:  # 拆零: parts up to the pack
            parts = rng.randint(2, min(4, product.pack))
            for k in range(parts):
                events.append(
                    self.sale(
                        f"{b}-s{k}",
                        seller,
                        t + (3 + k * 5) * H,
                        self._buyer(rng),
                        [self._line(product, code, product.pack // parts)],
                    )
                )
        elif fate < 0.72:  # a refund, and the box sold again
            events += [
                self.sale(f"{b}-s", seller, t + 3 * H, self._buyer(rng), [self._line(product, code)]),
                self.refund(f"{b}-ret", seller, f"{b}-s", code, t + 5 * H),
                self.sale(f"{b}-s2", seller, t + 30 * H, self._buyer(rng), [self._line(product, code)]),
            ]
        elif fate < 0.78 and seller in CHAINS.get(seller[:2], []):  # moved to a sister store, sold there
            sister = rng.choice([s for s in CHAINS[seller[:2]] if s != seller])
            events += [
                self.transfer(f"{b}-tr2", seller, sister, code, t + 2 * H),
                self.sale(f"{b}-s", sister, t + 6 * H, self._buyer(rng), [self._line(product, code)]),
            ]
        # else: still on the shelf at the end of the run
        return events, []

    def fraud(self, rng, n, kind) -> tuple[list, list[Label]]:
        b = f"b{n}"
        t = START + timedelta(days=rng.uniform(2, world.DAYS - 8))
        a = rng.choice(world.SELLERS)
        other = rng.choice([s for s in world.SELLERS if s != a])
        product = rng.choice(FRAUD_DRUGS)
        serial = 10**8 + n
        code, canon = product.code(serial, rng), product.canonical(serial)
        fund = product.price_fen * 7 // 10
        labels: list[Label] = []

        def label(rule, kind_, subject, event_id, money, code_=canon):
            labels.append(Label(rule, kind_, code_, subject, f"{b}-{event_id}", money, kind))

        if kind.startswith("ring_") or kind == "card_swipe":
            events, t = self._supply(rng, n, product, code, a, t)
            # The reseller must never have held the box legally (a purchase-return path may have
            # passed it through an independent pharmacy), or its resale has a legal source.
            other = rng.choice([s for s in world.SELLERS if s not in _holders(events)])
            # One buyer per story: a buyer recurring across stories would add rule B findings no label names.
            buyer = self._buyer(rng)
            events.append(self.sale(f"{b}-s", a, t + 3 * H, buyer, [self._line(product, code)]))
            if kind == "card_swipe":  # the box never left the shelf: sold again
                events.append(self.sale(f"{b}-s2", a, t + 50 * H, self._buyer(rng), [self._line(product, code)]))
                label("D", "SAME_PARTY", a, "s2", fund)
                return events, labels
            back = t + timedelta(days=rng.uniform(1, 4))
            if kind != "ring_no_paper":
                supplier = world.LAUNDERER if kind == "ring_launderer" else f"DEALER-{rng.randrange(5)}"
                events.append(self.receipt(f"{b}-back", other, supplier, code, back))
                label("R", "REENTRY", other, "back", fund)
            events.append(self.sale(f"{b}-re", other, back + 2 * H, self._buyer(rng), [self._line(product, code)]))
            label("D", "CROSS_PARTY", other, "re", fund)
            label(
                "L",
                {
                    "ring_launderer": "SUPPLIER_NEVER_HELD",
                    "ring_dealer": "UNLICENSED_SUPPLIER",
                    "ring_no_paper": "RECEIVED_ELSEWHERE",
                }[kind],
                other,
                "re",
                fund,
            )
            return events, labels
        if kind in ("drug_farmer", "card_seller", "over_supply"):
            return self.buyer_fraud(rng, n, kind, t)
        if kind in ("food_as_drug", "cheap_as_dear"):
            stocked = (
                BY_PREFIX[rng.choice(["8690001", "8690002"])]
                if kind == "food_as_drug"
                else BY_PREFIX[rng.choice(sorted(world.CHEAP_FOR_DEAR))]
            )
            billed = BY_PREFIX[world.PACK_ONE_DRUG if kind == "food_as_drug" else world.CHEAP_FOR_DEAR[stocked.prefix]]
            code, canon = stocked.code(serial, rng), stocked.canonical(serial)
            events, t = self._supply(rng, n, stocked, code, a, t)
            events.append(
                self.sale(
                    f"{b}-s",
                    a,
                    t + 3 * H,
                    self._buyer(rng),
                    [(billed.insurance_code, billed.name, False, 1, billed.price_fen, [(code, None)])],
                )
            )
            label(
                "S",
                "NON_DRUG" if kind == "food_as_drug" else "PRODUCT_MISMATCH",
                a,
                "s",
                billed.price_fen * 7 // 10,
                canon,
            )
            return events, labels
        if kind == "cosmetic_as_drug":
            billed = BY_PREFIX[world.PACK_ONE_DRUG]
            events = [
                self.sale(
                    f"{b}-s",
                    a,
                    t,
                    self._buyer(rng),
                    [(billed.insurance_code, billed.name, False, 1, billed.price_fen, [(world.COSMETIC_EAN, None)])],
                )
            ]
            label("S", "NON_DRUG", a, "s", billed.price_fen * 7 // 10, world.COSMETIC_EAN)
            return events, labels
        if kind == "unscanned_units":  # two packs settled, one scanned
            events, t = self._supply(rng, n, product, code, a, t)
            events.append(
                self.sale(
                    f"{b}-s",
                    a,
                    t + 3 * H,
                    self._buyer(rng),
                    [(product.insurance_code, product.name, False, 2, product.price_fen * 2, [(code, None)])],
                )
            )
            paid = product.price_fen * 2 * 7 // 10
            label("S", "UNSCANNED_UNITS", a, "s", paid // 2, product.insurance_code)
            return events, labels
        if kind == "unknown_code":  # a counterfeit: a serial its maker never commissioned
            listed = BY_PREFIX[LISTED]
            code, canon = listed.code(serial, rng), listed.canonical(serial)
            seller = rng.choice(world.INDEPENDENTS)
            events = [
                self.receipt(f"{b}-rec", seller, world.QUIET, code, t),
                self.sale(f"{b}-s", seller, t + 3 * H, self._buyer(rng), [self._line(listed, code)]),
            ]
            labels.append(Label("S", "UNKNOWN_CODE", canon, seller, f"{b}-s", listed.price_fen * 7 // 10, kind))
            return events, labels
        if kind == "unlicensed_supplier":  # bought after the licence was revoked, suspended or expired
            supplier = rng.choice(sorted(world.LICENCE_CHANGES))
            when = max(t, world.LICENCE_CHANGES[supplier] + 24 * H)
            events = [
                self.receipt(f"{b}-rec", a, supplier, code, when),
                self.sale(f"{b}-s", a, when + 3 * H, self._buyer(rng), [self._line(product, code)]),
            ]
            label("L", "UNLICENSED_SUPPLIER", a, "s", fund)
            return events, labels
        if kind == "backfilled_receipt":  # sold first, paperwork made up hours later
            whs = rng.choice(world.WHOLESALERS)
            events = [
                self.shipment(f"{b}-mship", product.maker, whs, code, t - 30 * H),
                self.receipt(f"{b}-wrec", whs, product.maker, code, t - 28 * H),
                self.sale(f"{b}-s", a, t, self._buyer(rng), [self._line(product, code)]),
                self.receipt(f"{b}-late", a, whs, code, t + 4 * H),
            ]
            label("L", "RECEIVED_AFTER_SALE", a, "s", fund)
            label("R", "REENTRY", a, "late", fund)
            return events, labels
        if kind == "outside_transfer":  # "transferred" into a chain store by a pharmacy outside the chain
            store = rng.choice([s for stores in CHAINS.values() for s in stores])
            source = rng.choice(world.INDEPENDENTS)
            events, t = self._supply(rng, n, product, code, source, t)
            events += [
                self.transfer(f"{b}-tr-out", source, store, code, t + 2 * H),
                self.sale(f"{b}-s", store, t + 5 * H, self._buyer(rng), [self._line(product, code)]),
            ]
            label("L", "NOT_IN_CHAIN", store, "s", fund)
            return events, labels
        if kind == "fake_box":  # a code nobody ever received: a counterfeit pack, or a card swipe on a made-up code
            events = [self.sale(f"{b}-s", a, t, self._buyer(rng), [self._line(product, code)])]
            label("L", "NEVER_RECEIVED", a, "s", fund)
            return events, labels
        raise ValueError(kind)

    # -- rule B: buyers ---------------------------------------------------------------------------
    def _purchase(
        self,
        rng,
        n: int,
        k: int,
        party: str,
        t: datetime,
        buyer: str,
        product: SimProduct,  # noqa: PLR0913, PLR0917
        packs: int = 1,
    ) -> tuple[list, str]:
        """Purchase k (< 100) of story n: `packs` (< 10) whole packs, each box with a legal path to `party`.
        Returns (events, the sale's event id)."""
        box = f"{n}-{k}"
        events, codes = [], []
        for pk in range(packs):
            serial = 3 * 10**8 + n * 1000 + k * 10 + pk  # apart from legit (n) and fraud (10**8 + n) serials
            code = product.code(serial, rng)
            supply, _ = self._supply(rng, f"{box}-{pk}", product, code, party, t)
            events += supply
            codes.append((code, None))
        eid = f"b{box}-s"
        events.append(
            self.sale(
                eid,
                party,
                t,
                buyer,
                [(product.insurance_code, product.name, False, packs, product.price_fen * packs, codes)],
            )
        )
        return events, eid

    def buyer_fraud(self, rng, n, kind, t) -> tuple[list, list[Label]]:
        """药农 buying one prescription at several pharmacies, a card used in two provinces at once, and
        repeated bulk buying beyond any dose. Each story has a buyer of its own; its sales are a day or
        more apart unless the story is about time, so no other B finding arises."""
        buyer, events, labels = self._buyer(rng), [], []

        def fund(product: SimProduct, packs: int = 1) -> int:
            return product.price_fen * packs * 7 // 10

        def buy(k: int, party: str, when: datetime, product: SimProduct, packs: int = 1) -> str:
            evs, eid = self._purchase(rng, n, k, party, when, buyer, product, packs)
            events.extend(evs)
            return eid

        if kind == "drug_farmer":  # 一方多购: K or more pharmacies in a week, each one new
            product = rng.choice(FRAUD_DRUGS)
            places = rng.sample(world.SELLERS, rng.choice([3, 3, 4]))
            when = t
            for k, party in enumerate(places):
                eid = buy(k, party, when, product)
                when += timedelta(days=rng.uniform(1.0, 1.9))  # a day or more apart: no card travel
                if k >= 2:
                    labels.append(Label("B", "MULTI_PHARMACY", product.insurance_code, party, eid, fund(product), kind))
        elif kind == "card_seller":  # 卡贩子: the card in Beijing and Shanghai within the hour
            first, second = rng.choice(world.BEIJING), rng.choice(world.SHANGHAI)
            if rng.random() < 0.5:
                first, second = second, first
            p1, p2 = rng.sample(FRAUD_DRUGS, 2)
            buy(0, first, t, p1)
            # 10-90 min apart: parties' clocks (±3 min) keep the order and stay inside T_travel − skew
            eid = buy(1, second, t + timedelta(minutes=rng.uniform(10, 90)), p2)
            labels.append(Label("B", "CARD_TRAVEL", "", second, eid, fund(p2), kind))
        else:  # over_supply: bulk buying at one pharmacy, far beyond the labelled dose
            product = rng.choice(SUPPLY_DRUGS)
            party = rng.choice(world.SELLERS)
            limit = 120 * product.daily  # units in W_supply 90 days + 30 days' allowance
            total = 0
            for k in range(rng.randint(3, 4)):
                packs = max(1, -(-limit // product.pack) // 2)  # about half the limit a sale
                total += packs * product.pack
                eid = buy(k, party, t + k * DAY * 2, product, packs)
                if total > limit:
                    labels.append(
                        Label("B", "OVER_SUPPLY", product.insurance_code, party, eid, fund(product, packs), kind)
                    )
        return events, labels

    def lookalike(self, rng, n, kind) -> list:
        """A buyer's legitimate habit that resembles a B finding; no label."""
        buyer, events = self._buyer(rng), []
        t = START + timedelta(days=rng.uniform(2, world.DAYS - 8))
        product = rng.choice(SUPPLY_DRUGS)

        def buy(k: int, party: str, when: datetime) -> str:
            evs, eid = self._purchase(rng, n, 50 + k, party, when, buyer, product)  # apart from a fraud story's
            events.extend(evs)
            return eid

        if kind == "chronic_refills":  # a pack a month for half a year, at one of two pharmacies
            pharmacies = rng.sample(world.SELLERS, 2)
            when = t
            for k in range(6):
                buy(k, rng.choice(pharmacies), when)
                when -= timedelta(days=rng.uniform(28, 31))
        elif kind == "two_pharmacies":  # K − 1 places in a week
            a, b = rng.sample(world.SELLERS, 2)
            buy(0, a, t)
            buy(1, b, t + timedelta(days=rng.uniform(1, 5)))
        elif kind == "refund_elsewhere":  # bought, refunded, bought at another place
            a, b, c = rng.sample(world.BEIJING, 3)
            buy(0, a, t)
            eid = buy(1, b, t + DAY)
            code = next(
                e.sale.lines[0].scanned[0].code
                for e in events
                if e.WhichOneof("kind") == "sale" and e.sale.header.event_id == eid
            )
            events.append(self.refund(f"b{n}-51-ret", b, eid, code, t + DAY + 2 * H))
            buy(2, c, t + DAY * 2)
        else:  # travel_next_day: Beijing, then Shanghai a day later
            buy(0, rng.choice(world.BEIJING), t)
            buy(1, rng.choice(world.SHANGHAI), t + timedelta(hours=rng.uniform(24, 40)))
        return events

    # -- output -------------------------------------------------------------------------------
    def commissioned(self) -> Iterator[str]:
        """The listed product's legitimate codes, as its maker would upload them."""
        listed = BY_PREFIX[LISTED]
        rng = random.Random(self.seed)
        for n in range(self.scale):
            product = self._product_for(rng, n)
            if product.prefix == LISTED:
                yield listed.canonical(n)

    def _product_for(self, rng: random.Random, n: int) -> SimProduct:
        return world.PRODUCTS[rng.randrange(len(world.PRODUCTS))]

    def run(self) -> Iterator[tuple[str, Any]]:
        """("event", Event) and ("label", Label) items; the same seed gives the same sequence."""
        pick = random.Random(self.seed)  # which product each box is (shared with commissioned())
        rng = random.Random(self.seed * 7919 + 1)
        block: list[ev.Event] = []
        for n in range(self.scale):
            product = self._product_for(pick, n)
            if rng.random() < self.fraud_rate:
                events, labels = self.fraud(rng, n, rng.choice(FRAUDS))
            else:
                events, labels = self.legit(rng, n, product, n)
            if rng.random() < LOOKALIKE_RATE:
                events = events + self.lookalike(rng, n, rng.choice(LOOKALIKES))
            for lab in labels:
                yield "label", lab
            block += events
            if len(block) >= BLOCK * 4 or n == self.scale - 1:
                rng.shuffle(block)  # late and out-of-order uploads
                resent = [block[i] for i in range(len(block)) if rng.random() < 0.01]  # lost acks, sent again
                for e in block + resent:
                    yield "event", e
                block = []
