"""Gateway HTTPS servers: SIMPLE, MUTUAL and OPTIONAL_MUTUAL termination over real sockets
with certificates made at test time; SNI selection among servers on one port;
credentialName from a credentials directory; protocol versions; httpsRedirect; a renewed
certificate put in force by a reload."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.certs import CA, Pair
from tests.support.scripted import ScriptedUpstream, echo_path
from tests.support.tls_gateway import fetch, front_gateway_config, refused

from shadowmesh.config import load_text
from shadowmesh.proxy.dataplane import DataPlane
from shadowmesh.proxy.server import Listeners
from shadowmesh.routing.compile import CompileOptions, compile_table
from shadowmesh.routing.table import RoutingTable
from shadowmesh.telemetry.record import MemoryObserver


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d: Path = tmp_path_factory.mktemp("pki")
    ca, other = CA(d, "ca"), CA(d, "other")
    creds = d / "creds" / "gw-cred"
    creds.mkdir(parents=True)
    c = ca.issue("c", dns=("c.example.com",))
    shutil.copy(c.cert, creds / "tls.crt")
    shutil.copy(c.key, creds / "tls.key")
    shutil.copy(ca.cert, creds / "ca.crt")
    return {
        "dir": d, "ca": ca, "other": other, "creds": str(d / "creds"),
        "a": ca.issue("a", dns=("a.example.com",)),
        "b": ca.issue("b", dns=("b.example.com",)),
        "client": ca.issue("client", client=True),
        "stranger": other.issue("stranger", client=True),
    }


def gateway_config(backend: int, ports: dict[str, int], pki: dict[str, Any],
                   a_cert: Pair | None = None) -> str:
    a = a_cert or pki["a"]
    servers = [
        {"port": {"number": ports["sni"], "name": "https-a", "protocol": "HTTPS"},
         "hosts": ["a.example.com"],
         "tls": {"mode": "SIMPLE", "serverCertificate": a.cert, "privateKey": a.key}},
        {"port": {"number": ports["sni"], "name": "https-b", "protocol": "HTTPS"},
         "hosts": ["b.example.com"],
         "tls": {"mode": "MUTUAL", "serverCertificate": pki["b"].cert,
                 "privateKey": pki["b"].key, "caCertificates": pki["ca"].cert}},
        {"port": {"number": ports["mutual"], "name": "https-c", "protocol": "HTTPS"},
         "hosts": ["c.example.com"],
         "tls": {"mode": "MUTUAL", "credentialName": "gw-cred",
                 "minProtocolVersion": "TLSV1_3"}},
        {"port": {"number": ports["optional"], "name": "https-o", "protocol": "HTTPS"},
         "hosts": ["*"],
         "tls": {"mode": "OPTIONAL_MUTUAL", "serverCertificate": a.cert,
                 "privateKey": a.key, "caCertificates": pki["ca"].cert}},
        {"port": {"number": ports["http"], "name": "http", "protocol": "HTTP"},
         "hosts": ["*"], "tls": {"httpsRedirect": True}},
    ]
    return front_gateway_config(servers, backend,
                                ["a.example.com", "b.example.com", "c.example.com"])


def compile_config(text: str, creds: str) -> RoutingTable:
    loaded = load_text(text, "gw.yaml")
    assert loaded.ok, loaded.issues
    return compile_table(loaded.resources, CompileOptions(credentials_dir=creds))


@contextlib.asynccontextmanager
async def gateway(pki: dict[str, Any]) -> AsyncIterator[tuple[Any, ...]]:
    ports = {k: free_port() for k in ("sni", "mutual", "optional", "http")}
    async with ScriptedUpstream(echo_path) as backend:
        observer = MemoryObserver()
        dp = DataPlane(observer=observer)
        table = compile_config(gateway_config(backend.port, ports, pki), pki["creds"])
        dp.set_table(table)
        listeners = Listeners(dp, reuse_port=False)
        await listeners.sync_gateways(table)
        try:
            yield ports, backend, observer, dp, listeners
        finally:
            listeners.close()
            await dp.drain(0.5)


def client_ctx(pki: dict[str, Any], cert: Pair | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=pki["ca"].cert)
    if cert is not None:
        ctx.load_cert_chain(cert.cert, cert.key)
    return ctx


def test_sni_selects_the_server_and_mutual_tls_is_enforced(pki: dict[str, Any]) -> None:
    async def scenario() -> None:
        async with gateway(pki) as (ports, backend, observer, _dp, _l):
            port = ports["sni"]
            assert await fetch(port, "a.example.com", client_ctx(pki), "/a") == (200, "a")
            # b.example.com on the same port is MUTUAL: a trusted client certificate only
            assert await fetch(port, "b.example.com", client_ctx(pki, pki["client"]),
                               "/b") == (200, "b")
            for cert in (None, pki["stranger"]):
                assert await refused(port, "b.example.com", client_ctx(pki, cert))
            # a name no server lists is refused at the handshake
            assert await refused(port, "z.example.com", client_ctx(pki))
            assert [s.path for s in backend.seen] == ["/a", "/b"]
            assert {s.header("x-forwarded-proto") for s in backend.seen} == {"https"}
            assert [r.response_code for r in observer.primary()] == [200, 200]
            # the access log's %REQUESTED_SERVER_NAME%
            assert [r.requested_server_name for r in observer.primary()] == [
                "a.example.com", "b.example.com"]
    asyncio.run(scenario())


def test_credential_name_mutual_and_protocol_versions(pki: dict[str, Any]) -> None:
    async def scenario() -> None:
        async with gateway(pki) as (ports, backend, _o, _dp, _l):
            port = ports["mutual"]
            assert await fetch(port, "c.example.com", client_ctx(pki, pki["client"]),
                               "/c") == (200, "c")
            assert await refused(port, "c.example.com", client_ctx(pki))
            assert await refused(port, "c.example.com", client_ctx(pki, pki["stranger"]))
            old = client_ctx(pki, pki["client"])
            old.maximum_version = ssl.TLSVersion.TLSv1_2  # minProtocolVersion TLSV1_3
            with pytest.raises((ssl.SSLError, ConnectionError)):
                await fetch(port, "c.example.com", old)
            assert [s.path for s in backend.seen] == ["/c"]
    asyncio.run(scenario())


def test_optional_mutual_and_https_redirect_with_httpx(pki: dict[str, Any]) -> None:
    async def scenario() -> None:
        async with gateway(pki) as (ports, backend, _o, _dp, _l):
            base = f"https://127.0.0.1:{ports['optional']}"
            async with httpx.AsyncClient(verify=client_ctx(pki)) as client:
                for path in ("/o1", "/o2"):  # one keep-alive connection
                    r = await client.get(base + path, headers={"Host": "a.example.com"},
                                         extensions={"sni_hostname": "a.example.com"})
                    assert r.status_code == 200 and r.text == path
            # curl, the way a user tries it
            curl = await asyncio.create_subprocess_exec(
                "curl", "-sS", "--max-time", "5", "--cacert", pki["ca"].cert,
                "--cert", pki["client"].cert, "--key", pki["client"].key,
                "--resolve", f"b.example.com:{ports['sni']}:127.0.0.1",
                f"https://b.example.com:{ports['sni']}/curl",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(curl.communicate(), 10)
            assert curl.returncode == 0 and out == b"/curl", err
            # no SNI at all reaches the `*` server; a trusted client certificate is welcome,
            # an untrusted one is not
            no_sni = client_ctx(pki, pki["client"])
            no_sni.check_hostname = False
            assert await fetch(ports["optional"], "", no_sni, "/o3") == (200, "a")
            stranger = client_ctx(pki, pki["stranger"])
            stranger.check_hostname = False
            assert await refused(ports["optional"], "", stranger)
            plain = httpx.AsyncClient()
            async with plain:
                r = await plain.get(f"http://127.0.0.1:{ports['http']}/x?y=1",
                                    headers={"Host": "a.example.com"})
            assert r.status_code == 301
            assert r.headers["location"] == "https://a.example.com/x?y=1"
            assert [s.path for s in backend.seen] == ["/o1", "/o2", "/curl", "/o3"]
    asyncio.run(scenario())


def test_a_renewed_certificate_takes_effect_on_reload(pki: dict[str, Any]) -> None:
    async def scenario() -> None:
        async with gateway(pki) as (ports, backend, _o, dp, listeners):
            port = ports["sni"]
            # a keep-alive connection opened before the reload
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=client_ctx(pki), server_hostname="a.example.com")
            writer.write(b"GET /before HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
            assert (await reader.readuntil(b"/before")).startswith(b"HTTP/1.1 200")
            renewed = pki["ca"].issue("a-renewed", dns=("a.example.com",))
            table = compile_config(gateway_config(backend.port, ports, pki, renewed),
                                   pki["creds"])
            dp.set_table(table)
            await listeners.sync_gateways(table)
            assert await fetch(port, "a.example.com", client_ctx(pki), "/after") == (
                200, "a-renewed")
            # the connection from before keeps its certificate and finishes its requests
            writer.write(b"GET /inflight HTTP/1.1\r\nHost: a.example.com\r\n"
                         b"Connection: close\r\n\r\n")
            rest = await asyncio.wait_for(reader.read(), 5)
            assert rest.startswith(b"HTTP/1.1 200") and rest.endswith(b"/inflight")
            writer.close()
            assert [s.path for s in backend.seen] == ["/before", "/after", "/inflight"]
    asyncio.run(scenario())


def test_an_unreadable_certificate_rejects_the_configuration(pki: dict[str, Any],
                                                             tmp_path: Path) -> None:
    from shadowmesh.controlplane import ControlPlane

    ports = {k: free_port() for k in ("sni", "mutual", "optional", "http")}
    good = tmp_path / "gw.yaml"
    good.write_text(gateway_config(1, ports, pki))
    control = ControlPlane((str(good),), CompileOptions(credentials_dir=pki["creds"]))
    control.on_issues = lambda issues: None
    assert control.load_files().ok
    before = control.table
    good.write_text(gateway_config(1, ports, pki, Pair(str(tmp_path / "gone.crt"),
                                                       pki["a"].key)))
    change = control.load_files()
    assert not change.ok
    assert any("cannot read" in i.message and "gone.crt" in i.message for i in change.issues)
    assert control.table is before  # the configuration in force stays
