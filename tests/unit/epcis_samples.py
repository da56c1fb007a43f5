"""EPCIS 2.0 documents for the unit and integration tests (a pharmacy flavour of the GS1 examples)."""

from __future__ import annotations

from typing import Any

from tests.builders import GTIN

CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]
PHARMACY_GLN = "6900000000014"  # mapped to P1 in the tests
WHOLESALER_GLN = "6900000000021"  # mapped to WHS1
SGTIN = "urn:epc:id:sgtin:6900000.000001.SN1"  # GTIN builders.GTIN, serial SN1
DIGITAL_LINK = f"https://id.gs1.org/01/{GTIN}/21/SN2?17=280630"
CODE_SN1 = f"(01){GTIN}(21)SN1"
CODE_SN2 = f"(01){GTIN}(21)SN2"


def pgln(gln: str) -> str:
    return f"urn:epc:id:pgln:{gln[:7]}.{gln[7:12]}"


def sgln(gln: str) -> str:
    return f"urn:epc:id:sgln:{gln[:7]}.{gln[7:12]}.0"


def object_event(
    biz_step: str, epcs: list[str], event_id: str | None = None, time: str = "2026-10-01T10:00:00+08:00", **extra: Any
) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": time,
        "eventTimeZoneOffset": "+08:00",
        "epcList": epcs,
        "action": "OBSERVE",
        "bizStep": biz_step,
    }
    if event_id:
        ev["eventID"] = event_id
    ev.update(extra)
    return ev


def receiving(event_id: str | None = "urn:uuid:r1", epcs: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return object_event(
        "receiving",
        epcs or [SGTIN, DIGITAL_LINK],
        event_id,
        time="2026-10-01T09:00:00+08:00",
        sourceList=[{"type": "owning_party", "source": pgln(WHOLESALER_GLN)}],
        destinationList=[{"type": "owning_party", "destination": pgln(PHARMACY_GLN)}],
        bizLocation={"id": sgln(PHARMACY_GLN)},
        **extra,
    )


def document(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-10-01T12:00:00Z",
        "epcisBody": {"eventList": list(events)},
    }
