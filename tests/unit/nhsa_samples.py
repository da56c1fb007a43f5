"""NHSA message builders shared by the unit and integration tests."""

from __future__ import annotations

from typing import Any

PHARMACY = "P1"
CODE1 = "86000010000000000001"
CODE2 = "86000010000000000002"


def envelope(infno: str, input_: dict[str, Any], party: str = PHARMACY, msgid: str = "M1") -> dict[str, Any]:
    return {"infno": infno, "msgid": msgid, "fixmedins_code": party, "inf_time": "2026-10-01 09:00:00", "input": input_}


def sale_row(setl_id: str = "S1", codes: Any = None, **extra: Any) -> dict[str, Any]:
    row = {
        "med_list_codg": "XC10AAA001",
        "fixmedins_hilist_name": "阿托伐他汀钙片",
        "setl_id": setl_id,
        "psn_no": "43000012345",
        "trdn_flag": "0",
        "sel_retn_cnt": "1",
        "finl_trns_pric": "25.50",
        "sel_retn_time": "2026-10-01 10:00:00",
        "medins_prod_sel_no": f"SEL-{setl_id}",
        "drugtracinfo": [{"drug_trac_codg": CODE1}] if codes is None else codes,
    }
    row.update(extra)
    return row


def purchase_row(doc: str = "PO1", codes: Any = None, **extra: Any) -> dict[str, Any]:
    row = {
        "med_list_codg": "XC10AAA001",
        "fixmedins_hilist_name": "阿托伐他汀钙片",
        "medins_prod_purc_no": doc,
        "spler_pmtno": "WHS1",
        "spler_name": "某医药公司",
        "manu_lotnum": "B2026",
        "expy_end": "2028-06-30",
        "purc_retn_cnt": "1",
        "purc_retn_stoin_time": "2026-09-30 16:00:00",
        "drugtracinfo": [{"drug_trac_codg": CODE1}] if codes is None else codes,
    }
    row.update(extra)
    return row
