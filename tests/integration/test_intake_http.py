"""HTTP intake beside gRPC: a real server on free ports, a real HTTP client (httpx), real PostgreSQL."""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace

import httpx
import pytest

from tests.builders import parties, seed_registry
from tests.conftest import start_service
from tests.unit.epcis_samples import (
    CODE_SN1,
    DIGITAL_LINK,
    PHARMACY_GLN,
    SGTIN,
    WHOLESALER_GLN,
    document,
    object_event,
    receiving,
    sgln,
)
from tests.unit.nhsa_samples import CODE2, envelope, purchase_row, sale_row
from tracesvc.store.keys import create_key
from tracesvc.v1 import registry_pb2 as reg


@contextlib.asynccontextmanager
async def running(config):
    async with start_service(replace(config, http_listen="127.0.0.1:0")) as svc:
        await seed_registry(svc.registry)
        with_glns = {p.party_id: p for p in parties()}
        with_glns["P1"].glns.append(PHARMACY_GLN)
        with_glns["WHS1"].glns.append(WHOLESALER_GLN)
        await svc.registry.UpsertParties(reg.UpsertPartiesRequest(parties=list(with_glns.values())))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{svc.running.http_port}") as http:
            yield svc, http


@pytest.fixture
async def both(config):
    async with running(config) as pair:
        yield pair


async def test_healthz(both):
    _, http = both
    r = await http.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "SERVING"}


async def test_nhsa_receipt_then_sale_and_a_resent_message_is_duplicate(both):
    _, http = both
    r = await http.post(
        "/nhsa/v1/3503",
        json=envelope("3503", {"purcinfo": [purchase_row("PO1"), purchase_row("PO2", [{"drug_trac_codg": CODE2}])]}),
    )
    body = r.json()
    assert r.status_code == 200 and body["infcode"] == 0, body
    assert [x["status"] for x in body["output"]["result"]] == ["STORED", "STORED"]
    assert body["inf_refmsgid"]
    sale = envelope("3505", {"selinfo": sale_row("S1", trdn_flag="1", sel_retn_cnt="7")})
    assert (await http.post("/nhsa/v1/3505", json=sale)).json()["output"]["counts"] == {"STORED": 1}
    again = (await http.post("/nhsa/v1/3505", json=sale)).json()
    assert again["infcode"] == 0 and again["output"]["counts"] == {"DUPLICATE": 1}
    ret = envelope(
        "3506", {"selinfo": sale_row("S1", trdn_flag="1", sel_retn_cnt="3", sel_retn_time="2026-10-01 12:00:00")}
    )
    assert (await http.post("/nhsa/v1/3506", json=ret)).json()["output"]["counts"] == {"STORED": 1}


async def test_nhsa_bad_rows_are_named_and_the_good_rows_stored(both, raw_db):
    _, http = both
    body = (
        await http.post(
            "/nhsa/v1/3505",
            json=envelope(
                "3505",
                {
                    "selinfo": [
                        sale_row("S1"),
                        sale_row("S2", sel_retn_time="soon"),
                        sale_row("S3", codes=[{"drug_trac_codg": "123"}]),
                    ]
                },
            ),
        )
    ).json()
    assert body["infcode"] == -1
    statuses = {x["row"]: (x["status"], x["err_msg"]) for x in body["output"]["result"]}
    assert statuses[0][0] == "STORED"
    assert statuses[1][0] == "REJECTED" and "sel_retn_time" in statuses[1][1]
    assert statuses[2][0] == "REJECTED" and "123" in statuses[2][1]
    assert await raw_db.fetchval("SELECT count(*) FROM events WHERE kind = 'SALE'") == 1
    assert await raw_db.fetchval("SELECT count(*) FROM events WHERE payload::text LIKE '%43000012345%'") == 0


@pytest.mark.parametrize(("content", "status"), [(b"{not json", 400), (json.dumps({"infno": "3505"}).encode(), 400)])
async def test_nhsa_unreadable_documents_are_400_with_an_nhsa_envelope(both, content, status):
    _, http = both
    r = await http.post("/nhsa/v1/3505", content=content, headers={"content-type": "application/json"})
    assert r.status_code == status and r.json()["infcode"] == -1 and r.json()["err_msg"]


async def test_epcis_capture_proceed_and_per_event_results(both, raw_db):
    _, http = both
    doc = document(
        receiving(),
        object_event("inspecting", [SGTIN], "urn:uuid:i1"),
        object_event("receiving", [SGTIN], "urn:uuid:bad", bizLocation={"id": sgln("4012345000016")}),
    )
    r = await http.post("/epcis/capture", json=doc, headers={"GS1-Capture-Error-Behaviour": "proceed"})
    assert r.status_code == 202
    status = (await http.get(r.headers["location"])).json()
    assert status["success"] is False and status["running"] is False
    assert [x["status"] for x in status["results"]] == ["STORED", "SKIPPED", "REJECTED"]
    assert status["errors"][0]["position"] == "epcisBody.eventList[2]"
    assert await raw_db.fetchval("SELECT counterparty_id FROM events WHERE event_id = 'urn:uuid:r1'") == "WHS1"


async def test_epcis_capture_rollback_stores_nothing(both, raw_db):
    _, http = both
    doc = document(receiving(), object_event("receiving", [SGTIN], "urn:uuid:bad", eventTime="no"))
    r = await http.post("/epcis/capture", json=doc)
    status = (await http.get(r.headers["location"])).json()
    assert sorted((x["position"], x["status"]) for x in status["results"]) == [
        ("epcisBody.eventList[0]", "NOT_STORED"),
        ("epcisBody.eventList[1]", "REJECTED"),
    ]
    assert await raw_db.fetchval("SELECT count(*) FROM events") == 0


async def test_epcis_event_201_a_resend_is_a_duplicate_other_content_409_and_errors_are_400(both):
    _, http = both
    ev = receiving(event_id="urn:uuid:e1", epcs=[DIGITAL_LINK])
    first = await http.post("/epcis/events", json=ev)
    assert first.status_code == 201 and first.headers["location"].endswith("urn%3Auuid%3Ae1")
    assert first.headers["gs1-epcis-version"] == "2.0.0" and first.headers["gs1-cbv-version"] == "2.0.0"
    again = await http.post("/epcis/events", json=ev)
    assert again.status_code == 200 and again.json()["status"] == "DUPLICATE"
    other = await http.post("/epcis/events", json=receiving(event_id="urn:uuid:e1", epcs=[SGTIN]))
    assert other.status_code == 409 and other.headers["content-type"] == "application/problem+json"
    assert other.json()["type"] == "epcisException:ResourceAlreadyExistsException"
    bad = await http.post("/epcis/events", json=receiving(event_id="urn:uuid:e2", eventTime="x"))
    assert bad.status_code == 400 and bad.json()["instance"] == "event"
    assert bad.json()["type"] == "epcisException:ValidationException"


async def test_epcis_rest_conventions_options_get_and_415(both):
    _, http = both
    created = await http.post("/epcis/events", json=receiving(event_id="urn:uuid:g1", epcs=[DIGITAL_LINK]))
    got = await http.get(created.headers["location"])
    assert got.status_code == 200 and got.json()["eventID"] == "urn:uuid:g1"
    assert got.json()["event"]["kind"] == "RECEIPT"
    assert (await http.get("/epcis/events/urn%3Auuid%3Anone")).status_code == 404
    for path in ("/epcis/capture", "/epcis/events", created.headers["location"]):
        options = await http.options(path)
        assert options.status_code == 204 and "OPTIONS" in options.headers["allow"], path
        assert options.headers["gs1-epcis-version"] == "2.0.0"
    xml = await http.post("/epcis/capture", content=b"<epcis/>", headers={"Content-Type": "application/xml"})
    assert xml.status_code == 415 and xml.json()["type"] == "epcisException:UnsupportedMediaTypeException"
    text = await http.post("/epcis/events", content=b"x", headers={"Content-Type": "text/plain"})
    assert text.status_code == 415


async def test_rollback_reports_every_events_own_error(both):
    svc, http = both
    bad_time = receiving(event_id="urn:uuid:b1", eventTime="yesterday")
    unknown_party = receiving(event_id="urn:uuid:b2", epcs=[SGTIN])
    unknown_party["destinationList"] = []
    unknown_party["bizLocation"] = {"id": sgln("0000000000017")}  # a GLN no party is registered under
    bad_code = receiving(event_id="urn:uuid:b3", epcs=["https://id.gs1.org/01/09506000134352/21/x%00"])
    good = receiving(event_id="urn:uuid:b4", epcs=[DIGITAL_LINK])
    r = await http.post("/epcis/capture", json=document(bad_time, unknown_party, bad_code, good))
    status = (await http.get(r.headers["location"])).json()
    by_id = {x["event_id"] or x["position"]: x for x in status["results"]}
    assert by_id["urn:uuid:b4"]["status"] == "NOT_STORED"
    own = [x for x in status["errors"] if x["status"] != "NOT_STORED"]
    assert len(own) >= 3, status["results"]  # each bad event says what is wrong with it
    assert all("another event" not in x.get("message", "") for x in own)


async def test_error_declaration_retracts_and_reconciliation_forgets_the_event(both, raw_db):
    svc, http = both
    assert (await http.post("/epcis/events", json=receiving(event_id="urn:uuid:r9"))).status_code == 201
    retract = receiving(
        event_id="urn:uuid:r9", errorDeclaration={"declarationTime": "2026-10-02T00:00:00Z", "reason": "incorrect_data"}
    )
    r = await http.post("/epcis/events", json=retract)
    assert r.status_code == 201, r.text
    row = await raw_db.fetchrow("SELECT kind, party_id FROM intake_evidence WHERE target_event_id = 'urn:uuid:r9'")
    assert (row["kind"], row["party_id"]) == ("RETRACTION", "P1")
    from reconciler.store.loads import load_code_events

    events = await load_code_events(raw_db, [CODE_SN1])
    assert events.get(CODE_SN1, []) == []


async def test_413_over_the_limit(config):
    async with start_service(replace(config, http_listen="127.0.0.1:0", http_max_bytes=1000)) as svc:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{svc.running.http_port}") as http:
            r = await http.post("/epcis/capture", content=b"{" + b" " * 2000 + b"}")
            assert r.status_code == 413
            assert (await http.post("/nhsa/v1/3505", content=b" " * 2000)).json()["infcode"] == -1


async def test_auth_denied_and_allowed(config):
    async with start_service(config) as svc:  # the registry, seeded with authentication off
        await seed_registry(svc.registry)
    async with start_service(replace(config, auth=True, http_listen="127.0.0.1:0")) as svc:
        _, pos = await create_key(svc.engine, "POS", "P1", name="pos")
        _, other = await create_key(svc.engine, "POS", "P2", name="other")
        _, inspector = await create_key(svc.engine, "INSPECTOR", name="insp")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{svc.running.http_port}") as http:
            sale = envelope("3505", {"selinfo": sale_row("S1")})
            assert (await http.post("/nhsa/v1/3505", json=sale)).status_code == 401
            r = await http.post("/nhsa/v1/3505", json=sale, headers={"authorization": f"Bearer {inspector}"})
            assert r.status_code == 403
            r = await http.post("/nhsa/v1/3505", json=sale, headers={"authorization": f"Bearer {other}"})
            assert r.json()["output"]["result"][0]["status"] == "DENIED"
            r = await http.post("/nhsa/v1/3505", json=sale, headers={"authorization": f"Bearer {pos}"})
            assert r.json()["output"]["result"][0]["status"] == "STORED", r.json()
            assert (await http.get("/healthz")).status_code == 200
            cap = await http.post("/epcis/capture", json=document(), headers={"authorization": f"Bearer {pos}"})
            assert cap.status_code == 202
            assert (await http.get(cap.headers["location"])).status_code == 401
            assert (
                await http.get(cap.headers["location"], headers={"authorization": f"Bearer {other}"})
            ).status_code == 404
            assert (
                await http.get(cap.headers["location"], headers={"authorization": f"Bearer {inspector}"})
            ).status_code == 200


async def test_nhsa_messages_as_his_systems_send_them(both, raw_db):
    """Suppliers named by licence number or registered name, a self-pay sale, two returns of one
    purchase and a stock count: each stored, none lost (issue 26)."""
    svc, http = both
    dealer = reg.Party(
        party_id="WHS2",
        kind=reg.PARTY_KIND_WHOLESALER,
        name="乙医药有限公司",
        region="110000",
        licences=[reg.Licence(number="京AA0100001", valid_from=parties()[0].licences[0].valid_from)],
    )
    await svc.registry.UpsertParties(reg.UpsertPartiesRequest(parties=[dealer]))
    receipts = envelope(
        "3503",
        {
            "purcinfo": [
                purchase_row("PO7", spler_pmtno="京AA0100001", spler_name="乙医药"),  # by licence number
                purchase_row("PO8", [{"drug_trac_codg": CODE2}], spler_pmtno="", spler_name="乙医药有限公司"),
            ]
        },
    )
    assert (await http.post("/nhsa/v1/3503", json=receipts)).json()["output"]["counts"] == {"STORED": 2}
    suppliers = {r["document_no"]: r["counterparty_id"] for r in await raw_db.fetch("SELECT * FROM events")}
    assert suppliers == {"PO7": "WHS2", "PO8": "WHS2"}

    self_pay = sale_row(setl_id="", psn_no="", rtal_docno="R-1")
    r = (await http.post("/nhsa/v1/3505", json=envelope("3505", {"selinfo": self_pay}))).json()
    assert r["output"]["counts"] == {"STORED": 1}, r
    stored = await raw_db.fetchrow("SELECT sale_id, buyer_token FROM events WHERE kind = 'SALE'")
    assert (stored["sale_id"], stored["buyer_token"]) == ("R-1", None)

    returns = [
        purchase_row("PO7", purc_retn_stoin_time="2026-10-02 09:00:00"),
        purchase_row("PO7", purc_retn_stoin_time="2026-10-03 09:00:00"),
    ]
    r = (await http.post("/nhsa/v1/3504", json=envelope("3504", {"purcinfo": returns}))).json()
    assert r["output"]["counts"] == {"STORED": 2}, r
    count = envelope("3501", {"invinfo": {"invdate": "2026-09-01", "fixmedins_bchno": "B1", "drug_trac_codg": CODE2}})
    r = (await http.post("/nhsa/v1/3501", json=count)).json()
    assert r["output"]["counts"] == {"STORED": 1}, r


async def test_nhsa_3507_deletes_the_row_it_names_as_a_retraction(both, raw_db):
    _, http = both
    sale = envelope("3505", {"selinfo": sale_row("S77", fixmedins_bchno="B-77")})
    assert (await http.post("/nhsa/v1/3505", json=sale)).json()["output"]["counts"] == {"STORED": 1}
    delete = envelope("3507", {"data": {"fixmedins_bchno": "B-77", "inv_data_type": "4"}})
    first = (await http.post("/nhsa/v1/3507", json=delete)).json()
    assert first["infcode"] == 0 and first["output"]["counts"] == {"STORED": 1}, first
    retracted = await raw_db.fetchval("SELECT target_event_id FROM intake_evidence WHERE kind = 'RETRACTION'")
    assert retracted == await raw_db.fetchval("SELECT event_id FROM events WHERE sale_id = 'S77'")
    again = (await http.post("/nhsa/v1/3507", json=delete)).json()
    assert again["output"]["counts"] == {"DUPLICATE": 1}
    nothing = envelope("3507", {"data": {"fixmedins_bchno": "B-00", "inv_data_type": "4"}})
    assert (await http.post("/nhsa/v1/3507", json=nothing)).json()["output"]["counts"] == {"SKIPPED": 1}
