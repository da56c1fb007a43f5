"""mTLS: a client certificate whose subject maps to a key authenticates without a bearer token."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tracesvc.app.server import database, grpc_server
from tracesvc.store.keys import create_key
from tracesvc.v1 import registry_pb2 as reg
from tracesvc.v1 import registry_pb2_grpc


def _cert(cn: str, issuer_key, issuer_name, key, *, ca: bool = False, san: str | None = None):
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(issuer_name or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(obj) -> bytes:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    return obj.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, bytes]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("tracesvc test CA", ca_key, None, ca_key, ca=True)
    server_key, client_key, stranger_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    files = {
        "ca": _pem(ca),
        "server": _pem(_cert("localhost", ca_key, ca.subject, server_key, san="localhost")),
        "server_key": _pem(server_key),
        "client": _pem(_cert("inspector-bj-07", ca_key, ca.subject, client_key)),
        "client_key": _pem(client_key),
        "stranger": _pem(_cert("nobody", ca_key, ca.subject, stranger_key)),
        "stranger_key": _pem(stranger_key),
    }
    for name, data in files.items():
        (tmp_path / f"{name}.pem").write_bytes(data)
    return files


async def test_client_certificate_maps_to_its_key(config, pki, tmp_path: Path):
    cfg = dataclasses.replace(
        config,
        auth=True,
        tls_cert=tmp_path / "server.pem",
        tls_key=tmp_path / "server_key.pem",
        tls_client_ca=tmp_path / "ca.pem",
    )
    async with database(cfg) as engine, grpc_server(cfg, engine, listen="localhost:0") as running:
        await create_key(engine, "INSPECTOR", cert_subject="inspector-bj-07")

        async def get_party(cert: str, key: str) -> grpc.StatusCode | None:
            creds = grpc.ssl_channel_credentials(
                root_certificates=pki["ca"], private_key=pki[key], certificate_chain=pki[cert]
            )
            async with grpc.aio.secure_channel(f"localhost:{running.port}", creds) as ch:
                try:
                    await registry_pb2_grpc.RegistryServiceStub(ch).GetParty(reg.GetPartyRequest(party_id="X"))
                except grpc.aio.AioRpcError as exc:
                    return exc.code()
            return None

        assert await get_party("client", "client_key") == grpc.StatusCode.NOT_FOUND  # authenticated: no such party
        assert await get_party("stranger", "stranger_key") == grpc.StatusCode.UNAUTHENTICATED  # valid cert, no key
