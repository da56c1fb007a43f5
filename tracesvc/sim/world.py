"""The simulated world: parties (with licences that change mid-run) and products."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tracesvc.client.wire import to_timestamp
from tracesvc.domain.codes import gs1_check_digit
from tracesvc.v1 import registry_pb2 as reg

START = datetime(2026, 6, 1, tzinfo=UTC)
DAYS = 30
# Licence changes mid-run (DESIGN §2): a revocation, a suspension, an expiry.
REVOKED_AT = START + timedelta(days=15)
SUSPENDED_AT = START + timedelta(days=10)
EXPIRES_AT = START + timedelta(days=20)


@dataclass(frozen=True)
class SimProduct:
    prefix: str
    name: str
    pack: int
    category: str  # DRUG, HEALTH_FOOD, FOOD
    insurance_code: str
    maker: str
    price_fen: int
    scheme: str = "MSFX"
    daily: int = 0  # units a day at the highest labelled dose (rule B); 0: no supply limit

    def code(self, serial: int, rng: random.Random) -> str:
        """A code of this product, in one of the forms scanners send."""
        if self.scheme == "GS1":
            form = rng.random()
            if form < 0.5:
                return f"(01){self.prefix}(17)281231(10)B{serial % 97:02d}(21)S{serial:09d}"
            return f"]d201{self.prefix}17281231\x1d21S{serial:09d}"
        return f"{self.prefix}{serial:013d}"

    def canonical(self, serial: int) -> str:
        if self.scheme == "GS1":
            return f"(01){self.prefix}(21)S{serial:09d}"
        return f"{self.prefix}{serial:013d}"


def _gtin(body: str) -> str:
    return body + str(gs1_check_digit(body))


DRUGS = [
    SimProduct("8610001", "阿托伐他汀钙片 20mg×28", 28, "DRUG", "XC10AAA001", "MFR-01", 3850, daily=1),
    SimProduct("8610002", "二甲双胍片 0.5g×60", 60, "DRUG", "XA10BAA001", "MFR-01", 1800, daily=4),
    SimProduct(
        "8610003",
        "硝苯地平控释片 30mg×30",
        30,
        "DRUG",
        "XC08CAA001",
        "MFR-02",
        4200,  # maker's list loaded
        daily=2,
    ),
    SimProduct(
        "8610004", "氨氯地平片 5mg×28", 28, "DRUG", "XC08CAA002", "MFR-02", 900, daily=2
    ),  # cheap twin of 8610001
    SimProduct("8610005", "复方甘草口服液 100ml", 1, "DRUG", "XR05DAA001", "MFR-01", 1500),
    SimProduct("8610006", "布洛芬缓释胶囊 0.3g×24", 24, "DRUG", "XM01AEA001", "MFR-02", 2600, daily=2),
    SimProduct(
        "8610007",
        "阿莫西林胶囊 0.25g×24",
        24,
        "DRUG",
        "XJ01CAA001",
        "MFR-01",
        800,  # cheap twin of 8610006
        daily=6,
    ),
    SimProduct(_gtin("0690123400001"), "门冬胰岛素注射液 3ml×5", 5, "DRUG", "XA10ABA001", "MFR-02", 21000, "GS1"),
]
NON_DRUGS = [
    SimProduct("8690001", "蛋白粉 400g", 1, "HEALTH_FOOD", "", "MFR-02", 16800),
    SimProduct("8690002", "燕窝饮品 6瓶", 1, "FOOD", "", "MFR-02", 9900),
]
PRODUCTS = DRUGS + NON_DRUGS
BY_PREFIX = {p.prefix: p for p in PRODUCTS}
LISTED = "8610003"  # its maker's commissioned codes are loaded
CHEAP_FOR_DEAR = {"8610004": "8610001", "8610007": "8610006"}
PACK_ONE_DRUG = "8610005"  # what food and cosmetics get billed as (same pack: one flag, NON_DRUG)
COSMETIC_EAN = _gtin("690123456789")  # a face cream's EAN-13: no trace code at all

MAKERS = ["MFR-01", "MFR-02"]
WHOLESALERS = ["WHS-01", "WHS-02"]  # licensed, report their own events
QUIET = "WHS-Q"  # licensed, does not report its events (only its licence is checked)
LICENCE_CHANGES = {"WHS-R": REVOKED_AT, "WHS-S": SUSPENDED_AT, "WHS-E": EXPIRES_AT}
LAUNDERER = "WHS-G"  # licensed, reports events, issues paperwork for codes it never held (过票)
CHAINS = {"RX": ["RX-S1", "RX-S2", "RX-S3"], "KY": ["KY-S1", "KY-S2"]}
INDEPENDENTS = ["IND-01", "IND-02", "IND-03"]
HOSPITALS = ["HOSP-01"]
SELLERS = [s for stores in CHAINS.values() for s in stores] + INDEPENDENTS + HOSPITALS
REGIONS = {"RX": "110105", "KY": "310101"}
# Sellers by province (first two digits of the region): KY's stores are in Shanghai, the rest in Beijing.
SHANGHAI = CHAINS["KY"]
BEIJING = [s for s in SELLERS if s not in SHANGHAI]


def _licence(status_change: tuple[str, datetime] | None = None, valid_to: datetime | None = None) -> reg.Licence:
    lic = reg.Licence(number="LIC", valid_from=to_timestamp(START - timedelta(days=800)))
    if valid_to:
        lic.valid_to.CopyFrom(to_timestamp(valid_to))
    if status_change:
        lic.status_history.add(
            status=f"LICENCE_STATUS_{status_change[0]}",
            effective_from=to_timestamp(status_change[1]),
        )
    return lic


def parties() -> list[reg.Party]:
    out = [
        reg.Party(
            party_id=m,
            kind=reg.PARTY_KIND_MANUFACTURER,
            name=f"制药厂 {m}",
            region="130100",
            licences=[_licence()],
            reports_events=True,
        )
        for m in MAKERS
    ]
    out += [
        reg.Party(
            party_id=w,
            kind=reg.PARTY_KIND_WHOLESALER,
            name=f"医药批发 {w}",
            region="110100",
            licences=[_licence()],
            reports_events=True,
        )
        for w in [*WHOLESALERS, LAUNDERER]
    ]
    out.append(
        reg.Party(
            party_id=QUIET,
            kind=reg.PARTY_KIND_WHOLESALER,
            name="医药批发 WHS-Q",
            region="120100",
            licences=[_licence()],
        )
    )
    out.append(
        reg.Party(
            party_id="WHS-R",
            kind=reg.PARTY_KIND_WHOLESALER,
            name="医药批发 WHS-R",
            region="120100",
            licences=[_licence(("REVOKED", REVOKED_AT))],
        )
    )
    out.append(
        reg.Party(
            party_id="WHS-S",
            kind=reg.PARTY_KIND_WHOLESALER,
            name="医药批发 WHS-S",
            region="120100",
            licences=[_licence(("SUSPENDED", SUSPENDED_AT))],
        )
    )
    out.append(
        reg.Party(
            party_id="WHS-E",
            kind=reg.PARTY_KIND_WHOLESALER,
            name="医药批发 WHS-E",
            region="120100",
            licences=[_licence(valid_to=EXPIRES_AT)],
        )
    )
    for chain, stores in CHAINS.items():
        out.append(
            reg.Party(
                party_id=f"{chain}-DC",
                kind=reg.PARTY_KIND_CHAIN_HQ,
                name=f"{chain} 配送中心",
                region=REGIONS[chain],
                chain_id=chain,
                licences=[_licence()],
            )
        )
        out += [
            reg.Party(
                party_id=s,
                kind=reg.PARTY_KIND_PHARMACY,
                name=f"{chain} 大药房 {s[-2:]}",
                region=REGIONS[chain],
                chain_id=chain,
                licences=[_licence()],
            )
            for s in stores
        ]
    out += [
        reg.Party(party_id=p, kind=reg.PARTY_KIND_PHARMACY, name=f"药店 {p}", region="110108", licences=[_licence()])
        for p in INDEPENDENTS
    ]
    out += [
        reg.Party(party_id=h, kind=reg.PARTY_KIND_HOSPITAL, name=f"医院 {h}", region="110102", licences=[_licence()])
        for h in HOSPITALS
    ]
    for party in out:  # each licence its own number, as a pharmacy's HIS names its supplier by it (spler_pmtno)
        for n, lic in enumerate(party.licences, 1):
            lic.number = f"许可{party.region or '000000'}-{party.party_id}-{n}"
    return out


def products() -> list[reg.Product]:
    return [
        reg.Product(
            prefix=p.prefix,
            scheme=f"CODE_SCHEME_{p.scheme}",
            manufacturer_id=p.maker,
            name=p.name,
            pack_units=p.pack,
            category=f"PRODUCT_CATEGORY_{p.category}",
            insurance_code=p.insurance_code,
            daily_units=p.daily,
        )
        for p in PRODUCTS
    ]


def registry_records() -> list[reg.RegistryRecord]:
    return [reg.RegistryRecord(party=p) for p in parties()] + [reg.RegistryRecord(product=p) for p in products()]
