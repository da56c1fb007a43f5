"""The words a person reads for the service's codes: Chinese first, English beside. One vocabulary for
the case file, the evidence report, the exports, the API's descriptions and the console."""

from __future__ import annotations

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

KINDS: dict[str, tuple[str, str]] = {
    "CROSS_PARTY": ("跨机构重复销售", "sold again elsewhere"),
    "SAME_PARTY": ("同机构超量销售", "oversold by one party"),
    "UNLICENSED_SUPPLIER": ("供货方无证", "unlicensed supplier"),
    "SUPPLIER_NEVER_HELD": ("过票", "supplier never held it"),
    "NOT_IN_CHAIN": ("连锁外调拨", "transfer from outside the chain"),
    "RECEIVED_AFTER_SALE": ("补录票据", "received after the sale"),
    "RECEIVED_ELSEWHERE": ("他处入库", "received elsewhere"),
    "NEVER_RECEIVED": ("无入库记录", "never received"),
    "NON_DRUG": ("非药品串换", "non-drug billed as a drug"),
    "PRODUCT_MISMATCH": ("药品串换", "product mismatch"),
    "UNKNOWN_PRODUCT": ("未知产品", "unknown product"),
    "UNKNOWN_CODE": ("疑似假码", "unknown code"),
    "UNSCANNED_UNITS": ("未扫码数量", "unscanned units"),
    "REENTRY": ("回流入库", "re-entry"),
    "OVER_SUPPLY": ("超量购药", "over-supply"),
    "MULTI_PHARMACY": ("多店购药", "many pharmacies"),
    "CARD_TRAVEL": ("异地刷卡", "card travel"),
}

PARTY_ROLES: dict[str, tuple[str, str]] = {
    "FEEDING_SUPPLIER": ("回流供货方", "feeding supplier"),
    "SUSPECTED_RESELLER": ("涉嫌回收倒卖", "suspected reseller"),
    "FLAG_SUBJECT": ("线索对象", "flag subject"),
    "NAMED": ("立案当事人", "named in the case"),
    "ORIGINAL_SELLER": ("原销售机构（未见违规）", "original seller, no fault shown"),
    "BUYER": ("参保人（令牌）", "buyer, by token"),
}

SEVERITIES = {"HIGH": ("高", "high"), "MEDIUM": ("中", "medium"), "LOW": ("低", "low")}

# Administrative divisions the simulator, the demo and the tests use (GB/T 2260), and the provinces:
# a code not listed is named by its province (first two digits) where that is known.
REGIONS: dict[str, str] = {
    "110000": "北京市",
    "110100": "北京市市辖区",
    "110101": "北京市东城区",
    "110102": "北京市西城区",
    "110105": "北京市朝阳区",
    "110106": "北京市丰台区",
    "110108": "北京市海淀区",
    "120000": "天津市",
    "120100": "天津市市辖区",
    "130000": "河北省",
    "130100": "河北省石家庄市",
    "310000": "上海市",
    "310100": "上海市市辖区",
    "310101": "上海市黄浦区",
    "310104": "上海市徐汇区",
    "320000": "江苏省",
    "330000": "浙江省",
    "440000": "广东省",
}


def both(pair: tuple[str, str] | None, code: str = "") -> str:
    """ "中文 English" (or the bare code when there are no words for it)."""
    if pair is None:
        return code
    return f"{pair[0]} {pair[1]}"


def kind_label(rule: str, kind: str) -> str:
    """ "R 回流入库 REENTRY": the rule letter, the kind in Chinese, then the code."""
    zh = KINDS.get(kind, ("", ""))[0]
    return " ".join(p for p in (rule, zh, kind) if p)


def finding(kind: str) -> tuple[str, str]:
    """What a flag of this kind means, (Chinese, English)."""
    return FINDINGS.get(kind, ("", ""))


def summary(rule: str, kind: str, detail: str) -> str:
    """A flag for a person, one line: kind and finding in Chinese, the English beside, then the detail."""
    zh, en = finding(kind)
    head = kind_label(rule, kind)
    text = f"{head}：{zh} / {en}" if zh else head
    return f"{text} — {detail}" if detail else text


def region_name(code: str) -> str:
    """ "北京市朝阳区" for 110105; a province's name for an unlisted code in it; "" when unknown."""
    if not code:
        return ""
    if code in REGIONS:
        return REGIONS[code]
    return REGIONS.get(code[:2] + "0000", "")


def region(code: str) -> str:
    """ "北京市朝阳区 110105", or the bare code."""
    name = region_name(code)
    return f"{name} {code}" if name else code
