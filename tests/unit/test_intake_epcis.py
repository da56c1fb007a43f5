"""GS1 EPCIS 2.0 documents → event drafts (pure mapping, no database)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.builders import GTIN
from tests.unit.epcis_samples import (
    CODE_SN1,
    CODE_SN2,
    DIGITAL_LINK,
    PHARMACY_GLN,
    SGTIN,
    WHOLESALER_GLN,
    document,
    object_event,
    pgln,
    receiving,
    sgln,
)
from tracesvc.domain.events import EventKind
from tracesvc.intake import epcis
from tracesvc.intake.model import DocumentError, EvidenceKind

# GS1's examples, vendored with their licence (tests/fixtures/epcis-examples/README.md): a clone stands alone.
EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "epcis-examples"
GLNS = {PHARMACY_GLN: "P1", WHOLESALER_GLN: "WHS1", "0012345111112": "P2"}

# example → (mapped, rejected, skipped, evidence) with the GLN map above and no default party
EXPECTED = {
    "CertificationInfoAndSensorReportWithCRS": (0, 1, 0, 0),
    "ReferenceEventHashAlgorithm": (0, 0, 1, 0),
    "ReferenceEventHashAlgorithm2": (0, 0, 1, 0),
    "ReferenceEventHashAlgorithm3": (0, 0, 1, 0),
    "TimeStampRoundOff": (0, 1, 2, 0),
    "epcisDocHavingEventWithComment": (0, 1, 0, 0),
    "epcisDocHavingEventWithIgnoreFields": (0, 0, 2, 0),
    "epcisDocWithAllGS1Keys": (0, 0, 1, 0),
    "epcisDocWithCustomSchemaInContext": (1, 1, 0, 0),
    "epcisDocWithDefaultSchemaInContext": (1, 1, 0, 0),
    "epcisDocWithSensorComponent": (0, 0, 1, 0),
    "epcisDocWithSensorDataObjectEvent": (0, 0, 1, 0),
    "epcisDocWithShippingAndTransportingEvent": (0, 0, 2, 0),
    "epcisDocWithSingleEvent": (0, 1, 0, 0),
    "epcisDocWithVariousEventTypes": (0, 0, 13, 0),
    "epcisDocWithXMLstartTagAndErrorDeclaration": (0, 0, 0, 1),
    "epcisEventWithCURIEs": (0, 1, 0, 0),
    "epcisQueryDocHavingEventWithIgnoreFields": (0, 0, 2, 0),
    "epcisQueryDocument": (1, 1, 0, 0),
    "epclist_normalisation": (0, 0, 1, 0),
    "persistentDisposition": (0, 1, 1, 0),
    "ralfsChaosExample": (1, 0, 0, 0),
}


def resolve(gln: str) -> str | None:
    return GLNS.get(gln)


def test_the_examples_folder_is_there():
    assert sorted(p.stem for p in EXAMPLES.glob("*.jsonld")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_example_document_maps_without_a_crash(name):
    doc = json.loads((EXAMPLES / f"{name}.jsonld").read_text())
    out = epcis.map_document(doc, resolve)
    counts = (len(out.mapped), len(out.rejected), len(out.skipped), len(out.evidence))
    assert counts == EXPECTED[name], [(u.position, u.reason) for u in out.unmapped]
    assert len(out.mapped) + len(out.unmapped) + len(out.evidence) == len(epcis.event_list(doc))
    assert all(u.reason and u.position for u in out.unmapped)


@pytest.mark.parametrize("name", sorted(p.stem for p in EXAMPLES.glob("*.hashes")))
def test_event_hashes_equal_the_reference_hashes(name):
    doc = json.loads((EXAMPLES / f"{name}.jsonld").read_text())
    assert epcis.event_hashes(doc) == (EXAMPLES / f"{name}.hashes").read_text().split()


def test_sgtin_urns_and_digital_links_become_canonical_gs1_codes():
    assert epcis.sgtin_to_code(SGTIN) == CODE_SN1
    assert epcis.sgtin_to_code(DIGITAL_LINK) == CODE_SN2
    assert epcis.sgtin_to_code("urn:epc:id:sgtin:6900000.000001.A%2FB") == f"(01){GTIN}(21)A/B"
    assert epcis.sgtin_to_code(f"https://example.com/x/01/{GTIN}/10/LOT/21/S9") == f"(01){GTIN}(21)S9"
    assert epcis.sgtin_to_code("urn:epc:id:sscc:0614141.1234567890") is None
    assert epcis.sgtin_to_code(f"https://id.gs1.org/01/{GTIN}") is None  # a class, not an item


def test_glns_from_pgln_sgln_and_digital_link():
    assert epcis.gln_of(pgln(PHARMACY_GLN)) == PHARMACY_GLN
    assert epcis.gln_of(sgln(PHARMACY_GLN)) == PHARMACY_GLN
    assert epcis.gln_of(f"https://id.gs1.org/414/{PHARMACY_GLN}/254/1") == PHARMACY_GLN
    assert epcis.gln_of("urn:epc:id:sgtin:6900000.000001.1") is None


@pytest.mark.parametrize(
    "form", ["receiving", "urn:epcglobal:cbv:bizstep:receiving", "https://ref.gs1.org/cbv/BizStep-receiving"]
)
def test_receiving_in_every_bizstep_form_is_a_receipt_from_the_source_owner(form):
    out = epcis.map_document(document(receiving(bizStep=form)), resolve)
    d = out.mapped[0].draft
    assert (d.kind, d.party_id, d.counterparty_id, d.event_id) == (EventKind.RECEIPT, "P1", "WHS1", "urn:uuid:r1")
    assert [i.code for i in d.items] == [CODE_SN1, CODE_SN2]


def test_shipping_is_a_shipment_by_the_source_owner_to_the_destination_owner():
    ev = receiving(bizStep="shipping")
    d = epcis.map_document(document(ev), resolve).mapped[0].draft
    assert (d.kind, d.party_id, d.counterparty_id) == (EventKind.SHIPMENT, "WHS1", "P1")


@pytest.mark.parametrize("step", ["dispensing", "retail_selling"])
def test_dispensing_and_retail_selling_are_sales_at_the_biz_location(step):
    ev = object_event(
        step,
        [SGTIN, DIGITAL_LINK],
        "urn:uuid:s1",
        bizLocation={"id": sgln(PHARMACY_GLN)},
        bizTransactionList=[{"type": "rcpt", "bizTransaction": "urn:example:rcpt:42"}],
    )
    d = epcis.map_document(document(ev), resolve).mapped[0].draft
    assert (d.kind, d.party_id, d.sale_id) == (EventKind.SALE, "P1", "urn:example:rcpt:42")
    assert [(ln.quantity, [s.code for s in ln.scans]) for ln in d.lines] == [(2, [CODE_SN1, CODE_SN2])]


def test_missing_event_id_takes_the_cbv_event_hash():
    doc = document(receiving(event_id=None))
    d = epcis.map_document(doc, resolve).mapped[0].draft
    assert d.event_id == epcis.event_hashes(doc)[0]
    assert d.event_id.startswith("ni:///sha-256;")


def test_decommissioning_is_evidence_without_custody():
    ev = object_event("decommissioning", [SGTIN], "urn:uuid:d1", bizLocation={"id": sgln(PHARMACY_GLN)})
    out = epcis.map_document(document(ev), resolve)
    assert out.mapped == [] and out.evidence[0].kind is EvidenceKind.DECOMMISSIONING
    assert out.evidence[0].codes == (CODE_SN1,) and out.evidence[0].party_id == "P1"


def test_error_declaration_retracts_the_event_it_restates_even_without_its_event_id():
    original = receiving(event_id=None)
    restated = receiving(
        event_id=None, errorDeclaration={"declarationTime": "2026-10-02T09:00:00+08:00", "reason": "incorrect_data"}
    )
    out = epcis.map_document(document(original, restated), resolve)
    retraction = out.evidence[0]
    assert retraction.kind is EvidenceKind.RETRACTION
    assert retraction.target_event_id == out.mapped[0].draft.event_id
    assert retraction.reason == "incorrect_data" and retraction.party_id == "P1"


def test_unmapped_gln_and_class_level_events_are_reported_with_their_position():
    out = epcis.map_document(
        document(
            object_event("receiving", [SGTIN], "e1", bizLocation={"id": "urn:epc:id:sgln:4012345.00001.0"}),
            object_event(
                "receiving",
                [],
                "e2",
                quantityList=[{"epcClass": "urn:epc:idpat:sgtin:4012345.011111.*", "quantity": 10}],
            ),
            object_event("receiving", [SGTIN], "e3", eventTime="yesterday"),
        ),
        resolve,
    )
    assert [(u.position, u.skipped) for u in out.unmapped] == [
        ("epcisBody.eventList[0]", False),
        ("epcisBody.eventList[1]", True),
        ("epcisBody.eventList[2]", False),
    ]
    assert "not mapped to a registry party" in out.unmapped[0].reason


def test_default_party_stands_in_when_an_event_names_none():
    ev = object_event("retail_selling", [SGTIN], "e1")
    assert epcis.map_document(document(ev), resolve, default_party="P2").mapped[0].draft.party_id == "P2"


@pytest.mark.parametrize(
    ("doc", "position"),
    [
        ([], ""),
        ({"type": "EPCISDocument"}, "epcisBody"),
        ({"type": "Other", "epcisBody": {}}, "type"),
        ({"type": "EPCISDocument", "epcisBody": {"eventList": "x"}}, "epcisBody.eventList"),
    ],
)
def test_not_a_document_is_a_document_error(doc, position):
    with pytest.raises(DocumentError) as err:
        epcis.map_document(doc, resolve)
    assert err.value.position == position


def test_a_remote_context_is_never_fetched():
    doc = document(receiving(event_id=None))
    doc["@context"] = [*doc["@context"], "https://example.invalid/ctx.jsonld"]
    out = epcis.map_document(doc, resolve)
    assert out.mapped == [] and "hash could not be computed" in out.rejected[0].reason


def test_gs1s_single_shipping_event_located_only_by_its_read_point_is_mapped():
    doc = json.loads((EXAMPLES / "epcisDocWithSingleEvent.jsonld").read_text())
    glns = {"0614141073467": "WHS1"}  # the readPoint's GLN, registered
    out = epcis.map_document(doc, glns.get)
    assert [m.draft.kind for m in out.mapped] == [EventKind.SHIPMENT] and not out.unmapped
    assert out.mapped[0].draft.party_id == "WHS1"


def test_a_receiving_without_a_source_list_is_kept_with_an_unknown_supplier():
    ev = receiving(epcs=[SGTIN])
    ev.pop("sourceList")
    out = epcis.map_document(document(ev), resolve)
    (m,) = out.mapped
    assert m.draft.kind is EventKind.RECEIPT and m.draft.counterparty_id == epcis.UNKNOWN_SOURCE
