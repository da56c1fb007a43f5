"""Products' daily units (rule B's supply limit): stored, returned, validated, loaded from a registry file."""

from __future__ import annotations

from pathlib import Path

from tests import builders as b
from tests.integration.test_cli import cli, ndjson
from tracesvc.v1 import ack_pb2
from tracesvc.v1 import registry_pb2 as reg


def _statin(daily_units: int) -> reg.Product:
    p = b.products()[0]
    p.daily_units = daily_units
    return p


async def test_daily_units_round_trip_and_default_to_no_limit(service):
    await b.seed_registry(service.registry)
    got = (await service.registry.GetProduct(reg.GetProductRequest(prefix=b.STATIN))).product
    assert got.daily_units == 0  # unset: no supply limit
    resp = await service.registry.UpsertProducts(reg.UpsertProductsRequest(products=[_statin(2)]))
    assert resp.results[0].status == ack_pb2.ACK_STATUS_STORED
    got = (await service.registry.GetProduct(reg.GetProductRequest(code=b.code(b.STATIN, 5)))).product
    assert got.daily_units == 2


async def test_negative_daily_units_are_rejected_naming_the_field(service):
    resp = await service.registry.UpsertProducts(reg.UpsertProductsRequest(products=[_statin(-1)]))
    assert resp.results[0].status == ack_pb2.ACK_STATUS_REJECTED
    assert "daily_units" in resp.results[0].error.message


async def test_registry_load_takes_daily_units(service, tmp_path: Path):
    f = tmp_path / "registry.ndjson"
    f.write_text(ndjson([reg.RegistryRecord(product=_statin(3))]))
    assert "dailyUnits" in f.read_text()  # the file carries the field in canonical proto3 JSON
    done = await cli("registry", "load", str(f), "--target", service.target)
    assert done.returncode == 0, done.stderr
    got = (await service.registry.GetProduct(reg.GetProductRequest(prefix=b.STATIN))).product
    assert got.daily_units == 3
