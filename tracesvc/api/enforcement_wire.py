"""Flags, chains and history entries on the wire (shared by EnforcementService and ExportEvidence)."""

from __future__ import annotations

import json
from datetime import datetime

from reconciler import queries
from tracesvc.api.convert import to_timestamp
from tracesvc.v1 import enforcement_pb2 as pb

_STATUS_PB = {s: pb.FlagStatus.Value(f"FLAG_STATUS_{s}") for s in queries.FLAG_STATUSES}
STATUS_NAME = {v: k for k, v in _STATUS_PB.items()}


def flag_to_proto(r) -> pb.Flag:
    out = pb.Flag(
        flag_id=r["flag_id"], rule=r["rule"], kind=r["kind"], severity=pb.Severity.Value(f"SEVERITY_{r['severity']}"),
        code=r["code"], decisive_event_id=r["decisive_event_id"], decisive_at=to_timestamp(r["decisive_at"]),
        subject_party=r["subject_party"], subject_region=r["subject_region"],
        related_parties=r["related_parties"], evidence_event_ids=r["evidence"], money_fen=r["money_fen"],
        detail=r["detail"], status=_STATUS_PB[r["status"]], detected_at=to_timestamp(r["detected_at"]),
        detected_run=r["detected_run"], resolved_reason=r["resolved_reason"] or "",
        reviewed_by=r["reviewed_by"] or "", review_note=r["review_note"] or "", buyer_token=r["buyer_token"] or "",
    )
    if r["resolved_at"]:
        out.resolved_at.CopyFrom(to_timestamp(r["resolved_at"]))
    if r["reviewed_at"]:
        out.reviewed_at.CopyFrom(to_timestamp(r["reviewed_at"]))
    return out


def _chain_sale(s: dict) -> pb.ChainSale:
    return pb.ChainSale(event_id=s["event_id"], party_id=s["party_id"],
                        occurred_at=to_timestamp(datetime.fromisoformat(s["occurred_at"])),
                        buyer_token=s["buyer_token"], fund_paid_fen=s["fund_paid_fen"], units=s["units"])


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def chain_to_proto(r) -> pb.ReturnChain:
    out = pb.ReturnChain(flag_id=r["flag_id"], code=r["code"], active=r["active"], money_fen=r["money_fen"],
                         originals=[_chain_sale(s) for s in _json(r["originals"])],
                         resales=[_chain_sale(s) for s in _json(r["resales"])])
    if r["reentry"] is not None:
        e = _json(r["reentry"])
        out.reentry.CopyFrom(pb.ChainEntry(event_id=e["event_id"], kind=e["kind"], party_id=e["party_id"],
                                           supplier_id=e["supplier_id"],
                                           occurred_at=to_timestamp(datetime.fromisoformat(e["occurred_at"]))))
    return out


async def load_parties_raw(conn, ids) -> dict:
    rows = await conn.fetch("SELECT party_id, name, region, kind FROM parties WHERE party_id = ANY($1::text[])",
                            [i for i in ids if i])
    return {r["party_id"]: r for r in rows}


def party_ref(party_id: str, parties: dict) -> pb.PartyRef:
    r = parties.get(party_id)
    if r is None:
        return pb.PartyRef(party_id=party_id)
    return pb.PartyRef(party_id=party_id, name=r["name"], region=r["region"], kind=r["kind"])


def history_entry(r, parties: dict) -> pb.HistoryEntry:
    return pb.HistoryEntry(
        event_id=r["event_id"], kind=r["kind"], occurred_at=to_timestamp(r["occurred_at"]),
        received_at=to_timestamp(r["received_at"]), party=party_ref(r["party_id"], parties),
        counterparty=party_ref(r["counterparty_id"], parties) if r["counterparty_id"] else None,
        units=r["units"] or 0, whole_pack=r["units"] is None, document_no=r["document_no"], sale_id=r["sale_id"],
        buyer_token=r["buyer_token"])
