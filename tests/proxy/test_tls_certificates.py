"""Gateway HTTPS servers beyond one certificate: an RSA and an ECDSA certificate on one
server (`tlsCertificates`, `credentialNames`), revoked client certificates refused with
`caCrl` (a file, or `ca.crl` in a credential), and servers whose mode shadowmesh does not
terminate (PASSTHROUGH...) never answered by another server. Real sockets, certificates
made at test time."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.certs import CA, Pair
from tests.support.scripted import ScriptedUpstream, echo_path
from tests.support.tls_gateway import fetch, front_gateway_config, refused

from shadowmesh.config import load_text
from shadowmesh.proxy.dataplane import DataPlane
from shadowmesh.proxy.server import Listeners
from shadowmesh.routing.compile import CompileOptions, compile_table
from shadowmesh.telemetry.record import MemoryObserver
from shadowmesh.tls import TLSConfigError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def credential(base: Path, name: str, pair: Pair, ca: CA | None = None,
               crl: str | None = None) -> None:
    d = base / name
    d.mkdir(parents=True)
    shutil.copy(pair.cert, d / "tls.crt")
    shutil.copy(pair.key, d / "tls.key")
    if ca is not None:
        shutil.copy(ca.cert, d / "ca.crt")
    if crl is not None:
        shutil.copy(crl, d / "ca.crl")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d: Path = tmp_path_factory.mktemp("pki")
    ca = CA(d, "ca")
    names = ("a.example.com", "b.example.com")
    pki = {
        "ca": ca, "creds": d / "creds",
        "rsa": ca.issue("rsa", dns=names, rsa_key=True),
        "ecdsa": ca.issue("ecdsa", dns=names),
        "client": ca.issue("client", client=True),
        "revoked": ca.issue("revoked", client=True),
    }
    pki["crl"] = ca.crl((pki["revoked"],))
    credential(pki["creds"], "gw-rsa", pki["rsa"])
    credential(pki["creds"], "gw-ecdsa", pki["ecdsa"])
    credential(pki["creds"], "gw-mutual", pki["ecdsa"], ca, pki["crl"])
    return pki


def config(servers: list[dict[str, Any]], backend: int) -> str:
    return front_gateway_config(servers, backend, ["*.example.com"])


def https(port: int, hosts: list[str], tls: dict[str, Any]) -> dict[str, Any]:
    return {"port": {"number": port, "name": f"https-{len(str(tls))}", "protocol": "HTTPS"},
            "hosts": hosts, "tls": tls}


@contextlib.asynccontextmanager
async def gateway(servers: list[dict[str, Any]], creds: Path
                  ) -> AsyncIterator[tuple[ScriptedUpstream, MemoryObserver]]:
    async with ScriptedUpstream(echo_path) as backend:
        loaded = load_text(config(servers, backend.port), "gw.yaml")
        assert loaded.ok, loaded.issues
        observer = MemoryObserver()
        dp = DataPlane(observer=observer)
        table = compile_table(loaded.resources, CompileOptions(credentials_dir=str(creds)))
        dp.set_table(table)
        listeners = Listeners(dp, reuse_port=False)
        await listeners.sync_gateways(table)
        try:
            yield backend, observer
        finally:
            listeners.close()
            await dp.drain(0.5)


def client(pki: dict[str, Any], cert: Pair | None = None, cipher: str | None = None
           ) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=pki["ca"].cert)
    if cert is not None:
        ctx.load_cert_chain(cert.cert, cert.key)
    if cipher is not None:  # TLS 1.2 with one key type's suites: that certificate or none
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(cipher)
    return ctx


RSA_ONLY = "ECDHE-RSA-AES128-GCM-SHA256"
ECDSA_ONLY = "ECDHE-ECDSA-AES128-GCM-SHA256"


@pytest.mark.parametrize("how", ["tlsCertificates", "credentialNames"])
def test_an_rsa_and_an_ecdsa_certificate_on_one_server(pki: dict[str, Any], how: str) -> None:
    port = free_port()
    tls: dict[str, Any] = {"mode": "SIMPLE"}
    if how == "tlsCertificates":
        tls["tlsCertificates"] = [
            {"serverCertificate": pki[k].cert, "privateKey": pki[k].key}
            for k in ("rsa", "ecdsa")]
    else:
        tls["credentialNames"] = ["gw-rsa", "gw-ecdsa"]

    async def scenario() -> None:
        async with gateway([https(port, ["a.example.com"], tls)], pki["creds"]) as (up, _o):
            assert await fetch(port, "a.example.com", client(pki, cipher=RSA_ONLY),
                               "/rsa") == (200, "rsa")
            assert await fetch(port, "a.example.com", client(pki, cipher=ECDSA_ONLY),
                               "/ecdsa") == (200, "ecdsa")
            status, _ = await fetch(port, "a.example.com", client(pki), "/any")
            assert status == 200
            assert [s.path for s in up.seen] == ["/rsa", "/ecdsa", "/any"]
    asyncio.run(scenario())


@pytest.mark.parametrize("how", ["file", "credential"])
def test_ca_crl_refuses_a_revoked_client_certificate(pki: dict[str, Any], how: str) -> None:
    mutual, optional = free_port(), free_port()
    if how == "file":
        tls = {"serverCertificate": pki["ecdsa"].cert, "privateKey": pki["ecdsa"].key,
               "caCertificates": pki["ca"].cert, "caCrl": pki["crl"]}
    else:
        tls = {"credentialName": "gw-mutual"}  # ca.crt and ca.crl in the secret
    servers = [https(mutual, ["a.example.com"], {"mode": "MUTUAL", **tls}),
               https(optional, ["*"], {"mode": "OPTIONAL_MUTUAL", **tls})]

    async def scenario() -> None:
        async with gateway(servers, pki["creds"]) as (up, observer):
            assert await fetch(mutual, "a.example.com", client(pki, pki["client"]),
                               "/good") == (200, "ecdsa")
            assert await refused(mutual, "a.example.com", client(pki, pki["revoked"]))
            assert await refused(mutual, "a.example.com", client(pki))
            # OPTIONAL_MUTUAL: no certificate is welcome, a revoked one is not
            assert (await fetch(optional, "b.example.com", client(pki), "/none"))[0] == 200
            assert await refused(optional, "b.example.com", client(pki, pki["revoked"]))
            # refused clients never reached routing
            assert [s.path for s in up.seen] == ["/good", "/none"]
            assert [r.response_code for r in observer.primary()] == [200, 200]
    asyncio.run(scenario())


def test_ca_crl_on_one_verifying_server_of_a_port_needs_one_on_each(pki: dict[str, Any]
                                                                     ) -> None:
    port = free_port()
    base = {"mode": "MUTUAL", "serverCertificate": pki["ecdsa"].cert,
            "privateKey": pki["ecdsa"].key, "caCertificates": pki["ca"].cert}
    servers = [https(port, ["a.example.com"], {**base, "caCrl": pki["crl"]}),
               https(port, ["b.example.com"], base)]
    loaded = load_text(config(servers, 1), "gw.yaml")
    assert loaded.ok, loaded.issues
    with pytest.raises(TLSConfigError, match=f"caCrl on port {port}"):
        compile_table(loaded.resources, CompileOptions())


def test_servers_shadowmesh_does_not_terminate_are_never_answered(pki: dict[str, Any]
                                                                   ) -> None:
    shared, alone = free_port(), free_port()
    simple = {"mode": "SIMPLE", "serverCertificate": pki["ecdsa"].cert,
              "privateKey": pki["ecdsa"].key}
    servers = [https(shared, ["*"], simple),
               https(shared, ["b.example.com"], {"mode": "PASSTHROUGH"}),
               https(alone, ["*"], {"mode": "AUTO_PASSTHROUGH"}),
               https(alone, ["a.example.com"], {"mode": "ISTIO_MUTUAL"})]
    loaded = load_text(config(servers, 1), "gw.yaml")
    notes = [(i.path, i.message) for i in loaded.issues if "not served" in i.message]
    assert [p for p, _ in notes] == [f"spec.servers[{i}].tls.mode" for i in (1, 2, 3)]
    assert "PASSTHROUGH is accepted for Istio but not implemented" in notes[0][1]
    assert "refuse its hosts at the handshake" in notes[0][1]

    async def scenario() -> None:
        async with gateway(servers, pki["creds"]) as (up, observer):
            assert await fetch(shared, "a.example.com", client(pki), "/a") == (200, "ecdsa")
            # b.example.com is the PASSTHROUGH server's: not served by the `*` one
            assert await refused(shared, "b.example.com", client(pki))
            # a port with no server shadowmesh serves has no listener
            with pytest.raises(ConnectionRefusedError):
                await fetch(alone, "a.example.com", client(pki))
            assert [s.path for s in up.seen] == ["/a"]
            assert [r.requested_server_name for r in observer.primary()] == ["a.example.com"]
    asyncio.run(scenario())
