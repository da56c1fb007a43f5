"""Random but legal-looking and fraudulent histories of codes, for order-independence tests."""

from __future__ import annotations

import random

from tests import builders as b
from tracesvc.v1 import events_pb2 as ev


def _e(kind: str, msg) -> ev.Event:
    return ev.Event(**{kind: msg})


def story(rng: random.Random, n: int) -> list[ev.Event]:
    """The events of one code, chosen among legitimate flows and frauds."""
    shape = rng.choice(["plain", "split", "refund", "chain", "resale", "reentry", "unlicensed", "late", "none"])
    code = b.code(b.STATIN if n % 3 or shape == "split" else b.SYRUP, 1000 + n)  # the syrup is never split
    t = rng.uniform(0, 100)
    out = [_e("receipt", b.receipt(f"w{n}", [code], party="WHS1", supplier="MFR1", minutes=t - 500))]
    seller = "P1"
    if shape == "chain":
        out.append(_e("receipt", b.receipt(f"dc{n}", [code], party="DC1", supplier="WHS1", minutes=t)))
        out.append(
            _e("transfer", ev.Transfer(header=b.header(f"t{n}", "DC1", t + 30), to_party_id="P1", items=b.items(code)))
        )
    elif shape == "unlicensed":
        out.append(_e("receipt", b.receipt(f"r{n}", [code], supplier="NOBODY", minutes=t)))
    elif shape == "late":
        out.append(_e("receipt", b.receipt(f"r{n}", [code], minutes=t + rng.choice([5, 300]))))
    elif shape != "none":
        out.append(_e("receipt", b.receipt(f"r{n}", [code], minutes=t)))
    if shape == "split":
        for k in range(rng.randint(2, 5)):
            out.append(_e("sale", b.sale(f"s{n}-{k}", [(code, 5)], minutes=t + 60 + k, split=True, quantity=5)))
        return out
    out.append(
        _e(
            "sale",
            b.sale(f"s{n}", [(code, None)], party=seller, minutes=t + 60, buyer=f"1101{rng.randrange(10**6):06d}"),
        )
    )
    if shape == "refund":
        out.append(
            _e(
                "sale_return",
                ev.SaleReturn(
                    header=b.header(f"ret{n}", seller, t + 90), sale_id=f"S-s{n}", codes=[ev.ReturnedCode(code=code)]
                ),
            )
        )
        out.append(_e("sale", b.sale(f"s{n}-again", [(code, None)], minutes=t + 120)))
    elif shape == "resale":
        out.append(
            _e(
                "sale",
                b.sale(
                    f"s{n}-again", [(code, None)], party=rng.choice(["P1", "P2"]), minutes=t + rng.uniform(61, 3000)
                ),
            )
        )
    elif shape == "reentry":
        back = t + rng.uniform(200, 3000)
        out.append(
            _e(
                "receipt",
                b.receipt(f"back{n}", [code], party="P2", supplier=rng.choice(["WHS1", "NOBODY"]), minutes=back),
            )
        )
        out.append(_e("sale", b.sale(f"s{n}-re", [(code, None)], party="P2", minutes=back + 30)))
    return out


def dataset(seed: int, codes: int = 40) -> list[ev.Event]:
    rng = random.Random(seed)
    events = [e for n in range(codes) for e in story(rng, n)]
    # a re-sent event on top
    events.append(events[rng.randrange(len(events))])
    return events
