"""What a person reads: findings in plain Chinese and English, times in Asia/Shanghai, money in yuan,
and the scanner's input made into a code."""

from __future__ import annotations

import re
from datetime import datetime

from tracesvc.documents import formatting
from tracesvc.documents.formatting import CST

RULES = {
    "D": ("重复销售", "repeated sale"),
    "L": ("无合法来源", "no legal purchase source"),
    "S": ("串换", "substitution"),
    "R": ("回流药", "return-drug re-entry"),
    "B": ("购药异常", "buyer anomaly"),
}

FINDINGS: dict[str, tuple[str, str]] = {
    "CROSS_PARTY": (
        "同一盒药在另一家机构售出的单位尚未退回时又被销售：一码多卖，疑为回流药。",
        "The box was sold again while units another party had sold were still out: one code sold twice.",
    ),
    "SAME_PARTY": (
        "同一机构把同一盒药卖出超过包装数量。",
        "The same party sold more units of this box than the pack holds.",
    ),
    "UNLICENSED_SUPPLIER": (
        "销售前的入库来自无证、证照过期、暂停或吊销的供货方。",
        "Before the sale the box was received from a supplier without a valid licence.",
    ),
    "SUPPLIER_NEVER_HELD": (
        "供货方从未持有此码却开具了票据（过票）。",
        "The supplier issued paperwork for a box it never held (invoice laundering).",
    ),
    "NOT_IN_CHAIN": (
        "调拨来自连锁之外，或调出方自身没有合法来源。",
        "The transfer came from outside the chain, or from a holder with no legal source.",
    ),
    "RECEIVED_AFTER_SALE": (
        "入库记录都晚于销售：疑为补录票据。",
        "Every receipt came after the sale: paperwork back-filled.",
    ),
    "RECEIVED_ELSEWHERE": (
        "本机构从未入库此码，但其他机构入库过。",
        "This party never received the box; another party did.",
    ),
    "NEVER_RECEIVED": ("此码在任何机构都没有入库记录。", "No party ever received this box."),
    "NON_DRUG": (
        "按医保药品结算，实际扫码的是食品、保健品、化妆品或日用品。",
        "Settled as an insured drug, but the scanned item is food, health food, cosmetics or daily goods.",
    ),
    "PRODUCT_MISMATCH": (
        "扫码药品与结算的医保项目不一致。",
        "The scanned drug differs from the item settled with the fund.",
    ),
    "UNKNOWN_PRODUCT": ("扫码的产品不在产品库中。", "The scanned product is not in the registry."),
    "UNKNOWN_CODE": ("生产企业的赋码清单里没有此码：疑为假码。", "The maker's code list lacks this code."),
    "UNSCANNED_UNITS": (
        "结算数量多于实际扫码数量。",
        "More units were billed than were scanned.",
    ),
    "REENTRY": (
        "已售给患者且未退货的药品重新入库：回流药。",
        "A box sold to a patient and never refunded came back into a pharmacy's stock.",
    ),
    "OVER_SUPPLY": (
        "该参保人在 90 天内购药量超过最大日剂量可用天数加 30 天。",
        "The buyer bought more than the highest daily dose allows for 90 days plus 30.",
    ),
    "MULTI_PHARMACY": (
        "一周内在三家及以上药店购买同一药品：一方多购。",
        "The same drug bought at three or more pharmacies within a week.",
    ),
    "CARD_TRAVEL": (
        "同一医保卡两小时内在两个省份使用：疑为冒用。",
        "The same card was used in two provinces within two hours.",
    ),
}

STATUSES = {
    "OPEN": ("待处理", "open"),
    "CONFIRMED": ("已确认", "confirmed"),
    "DISMISSED": ("已排除", "dismissed"),
    "RESOLVED": ("已消解", "resolved"),
    "INVESTIGATING": ("调查中", "investigating"),
    "ESCALATED": ("已移送", "escalated"),
    "CLOSED_CONFIRMED": ("结案·属实", "closed, confirmed"),
    "CLOSED_DISMISSED": ("结案·不属实", "closed, dismissed"),
    "RUNNING": ("运行中", "running"),
    "DONE": ("已完成", "done"),
    "FAILED": ("失败", "failed"),
    "INTERRUPTED": ("已中断", "interrupted"),
}

EVENT_KINDS = {
    "RECEIPT": ("入库", "receipt"),
    "SHIPMENT": ("出库", "shipment"),
    "TRANSFER": ("调拨", "transfer"),
    "PURCHASE_RETURN": ("采购退货", "purchase return"),
    "OPENING_STOCK": ("盘存", "opening stock"),
    "SALE": ("销售", "sale"),
    "SALE_RETURN": ("销售退货", "sale return"),
}


def pick(lang: str, pair: tuple[str, str] | None, fallback: str = "") -> str:
    if pair is None:
        return fallback
    return pair[1] if lang == "en" else pair[0]


def when(value: datetime | None) -> str:
    """A time for people: Asia/Shanghai with the zone shown (the documents' one formatter)."""
    return formatting.when(value) or "—"


def day(value: datetime | None) -> str:
    return "—" if value is None else value.astimezone(CST).strftime("%Y-%m-%d")


def yuan(fen: int | None) -> str:
    return formatting.yuan(fen or 0)


def short(token: str, n: int = 12) -> str:
    """A buyer token cut to a recognisable prefix (the token is a keyed hash; the number never shows)."""
    return token[:n] + "…" if len(token) > n else token


# AIM symbology identifiers a scanner may put before the data (]d2 DataMatrix, ]C1 GS1-128, ]Q3 QR, ]e0 DataBar).
_AIM = re.compile(r"^\][A-Za-z][0-9]")


def scanned(raw: str) -> str:
    """What a barcode scanner typed, as the code parser takes it: the AIM prefix off, a keyboard-wedge
    GS (shown as `<GS>`, `\\x1d` or `^]`) back to the separator, surrounding blanks trimmed."""
    value = raw.strip()
    value = _AIM.sub("", value, count=1)
    for gs in ("<GS>", "\\x1d", "^]", "{GS}"):
        value = value.replace(gs, "\x1d")
    return value.strip("\x1d ")
