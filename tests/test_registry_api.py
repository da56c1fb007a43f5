"""RegistryService over a real channel and database."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests import builders as b
from tracesvc.v1 import ack_pb2
from tracesvc.v1 import registry_pb2 as reg


def violations_of(status) -> dict[str, str]:
    out = {}
    for detail in status.details:
        br = error_details_pb2.BadRequest()
        if detail.Unpack(br):
            out.update({v.field: v.description for v in br.field_violations})
    return out


async def test_parties_and_products_round_trip(service):
    await b.seed_registry(service.registry)
    got = (await service.registry.GetParty(reg.GetPartyRequest(party_id="WHS1"))).party
    assert got.kind == reg.PARTY_KIND_WHOLESALER and got.reports_events
    assert got.licences[0].valid_from == b.licence().valid_from
    product = (await service.registry.GetProduct(reg.GetProductRequest(prefix=b.STATIN))).product
    assert product.pack_units == 28 and product.insurance_code == "XC10AAA001"


async def test_get_product_by_any_form_of_a_code(service):
    await b.seed_registry(service.registry)
    resp = await service.registry.GetProduct(reg.GetProductRequest(code=f"]d201{b.GTIN}17281231\x1d21SN-9"))
    assert resp.product.name == "Insulin"
    assert resp.canonical_code == f"(01){b.GTIN}(21)SN-9"
    resp = await service.registry.GetProduct(reg.GetProductRequest(code="hzmf-0001-22"))
    assert resp.product.name == "Own-coded" and resp.canonical_code == "HZMF000122"


async def test_upsert_replaces_party_and_its_licences(service):
    await b.seed_registry(service.registry)
    revoked = reg.Licence(
        number="L-NEW",
        valid_from=b.at(0),
        status_history=[reg.LicenceStatusChange(status=reg.LICENCE_STATUS_REVOKED, effective_from=b.at(60))],
    )
    changed = reg.Party(party_id="WHS1", kind=reg.PARTY_KIND_WHOLESALER, name="Renamed", licences=[revoked])
    await service.registry.UpsertParties(reg.UpsertPartiesRequest(parties=[changed]))
    got = (await service.registry.GetParty(reg.GetPartyRequest(party_id="WHS1"))).party
    assert got.name == "Renamed" and [lic.number for lic in got.licences] == ["L-NEW"]
    assert got.licences[0].status_history[0].status == reg.LICENCE_STATUS_REVOKED


async def test_bad_items_are_rejected_one_by_one(service):
    resp = await service.registry.UpsertProducts(
        reg.UpsertProductsRequest(
            products=[
                b.products()[0],
                reg.Product(
                    prefix="1234567", scheme=reg.CODE_SCHEME_MSFX, pack_units=0, category=reg.PRODUCT_CATEGORY_DRUG
                ),
                reg.Product(prefix="8600003", scheme=reg.CODE_SCHEME_MSFX, pack_units=1),
                reg.Product(
                    prefix="8600004",
                    scheme=reg.CODE_SCHEME_MSFX,
                    pack_units=1,
                    category=reg.PRODUCT_CATEGORY_FOOD,
                    insurance_code="X1",
                ),
                b.products()[0],
            ]
        )
    )
    statuses = [r.status for r in resp.results]
    assert statuses == [ack_pb2.ACK_STATUS_STORED] + [ack_pb2.ACK_STATUS_REJECTED] * 4
    assert set(violations_of(resp.results[1].error)) == {"prefix", "pack_units"}
    assert set(violations_of(resp.results[2].error)) == {"category"}
    assert set(violations_of(resp.results[3].error)) == {"insurance_code"}
    assert "twice" in resp.results[4].error.message
    assert resp.results[1].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    # the good one is stored
    assert (await service.registry.GetProduct(reg.GetProductRequest(prefix=b.STATIN))).product.name


async def test_unknown_party_is_not_found_and_empty_id_is_invalid(service):
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await service.registry.GetParty(reg.GetPartyRequest(party_id="NOPE"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await service.registry.GetParty(reg.GetPartyRequest(party_id=""))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations_of(rpc_status.from_call(info.value)) == {"party_id": "required"}
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await service.registry.GetProduct(reg.GetProductRequest(code="6901234567892"))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "commodity barcode" in violations_of(rpc_status.from_call(info.value))["code"]
