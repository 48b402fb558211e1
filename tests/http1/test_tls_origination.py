"""DestinationRule `tls`: SIMPLE and MUTUAL origination to real HTTPS upstreams on loopback,
with certificates made at test time; pooled TLS connections; an HTTPS shadow; `caCrl`;
handshake failures answered as Envoy does (503 UF, the TLS reason in the details and in the
upstream transport failure reason)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from tests.support.certs import CA
from tests.support.inproc import inproc_proxy, request, table
from tests.support.tls_upstream import server_context, tls_upstream

HOST = "secure.example.com"


def config(port: int, tls: dict[str, Any] | None, *, shadow_port: int | None = None,
           shadow_tls: dict[str, Any] | None = None, subset_tls: dict[str, Any] | None = None,
           port_tls: dict[str, Any] | None = None) -> str:
    import yaml

    docs: list[dict[str, Any]] = []

    def service(host: str, p: int) -> None:
        docs.append({"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
                     "metadata": {"name": host.split(".")[0]},
                     "spec": {"hosts": [host], "resolution": "STATIC", "location": "MESH_EXTERNAL",
                              "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
                              "endpoints": [{"address": "127.0.0.1", "ports": {"http": p},
                                             "labels": {"version": "v1"}}]}})

    service(HOST, port)
    route: dict[str, Any] = {"route": [{"destination": {"host": HOST, "subset": "v1"}}]}
    if shadow_port is not None:
        service("shadow.example.com", shadow_port)
        route["mirror"] = {"host": "shadow.example.com"}
        if shadow_tls is not None:
            docs.append({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                         "metadata": {"name": "shadow"},
                         "spec": {"host": "shadow.example.com",
                                  "trafficPolicy": {"tls": shadow_tls}}})
    policy: dict[str, Any] = {}
    if tls is not None:
        policy["tls"] = tls
    if port_tls is not None:
        policy["portLevelSettings"] = [{"port": {"number": 80}, "tls": port_tls}]
    subset: dict[str, Any] = {"name": "v1", "labels": {"version": "v1"}}
    if subset_tls is not None:
        subset["trafficPolicy"] = {"tls": subset_tls}
    rule: dict[str, Any] = {"host": HOST, "subsets": [subset]}
    if policy:
        rule["trafficPolicy"] = policy
    docs.append({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                 "metadata": {"name": "secure"}, "spec": rule})
    docs.append({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                 "metadata": {"name": "secure"},
                 "spec": {"hosts": [HOST], "http": [route]}})
    return yaml.safe_dump_all(docs)


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d: Path = tmp_path_factory.mktemp("pki")
    ca, other = CA(d, "ca"), CA(d, "other-ca")
    return {
        "ca": ca, "other": other,
        "server": ca.issue("server", dns=(HOST, "shadow.example.com"),
                           uris=("spiffe://cluster.local/ns/default/sa/secure",)),
        "client": ca.issue("proxy-client", client=True),
        "stranger": other.issue("stranger", client=True),
    }


def test_simple_tls_connections_stay_pooled(pki: dict[str, Any]) -> None:
    async def scenario() -> None:
        async with tls_upstream(server_context(pki["server"])) as up:
            cfg = config(up.port, {"mode": "SIMPLE", "caCertificates": pki["ca"].cert})
            async with inproc_proxy(cfg) as proxy:
                for i in range(5):
                    answer = await request(proxy.port, get(f"/r{i}"))
                    assert answer.status == 200, answer.head
                    assert answer.body.startswith(b"conn=1 "), answer.body
                assert up.connections == 1  # one handshake for five requests
                assert up.requests == [f"/r{i}" for i in range(5)]
    asyncio.run(scenario())


@pytest.mark.parametrize("where", ["top", "port", "subset"])
def test_mutual_tls_presents_the_client_certificate(pki: dict[str, Any], where: str) -> None:
    tls = {"mode": "MUTUAL", "caCertificates": pki["ca"].cert,
           "clientCertificate": pki["client"].cert, "privateKey": pki["client"].key,
           "sni": HOST}
    async def scenario() -> None:
        async with tls_upstream(server_context(pki["server"], client_ca=pki["ca"])) as up:
            kwargs: dict[str, Any] = {"top": {"tls": tls}, "port": {"port_tls": tls},
                                      "subset": {"subset_tls": tls}}[where]
            top = kwargs.pop("tls", None)
            async with inproc_proxy(config(up.port, top, **kwargs)) as proxy:
                answer = await request(proxy.port, get("/mtls"))
                assert answer.status == 200, answer.head
                assert answer.body.endswith(b"peer=proxy-client")
    asyncio.run(scenario())


def test_mutual_tls_refused_by_the_upstream_is_503_uf(pki: dict[str, Any]) -> None:
    tls = {"mode": "MUTUAL", "caCertificates": pki["ca"].cert,
           "clientCertificate": pki["stranger"].cert, "privateKey": pki["stranger"].key}
    async def scenario() -> None:
        ctx = server_context(pki["server"], client_ca=pki["ca"], max_tls12=True)
        async with tls_upstream(ctx) as up, inproc_proxy(config(up.port, tls)) as proxy:
            answer = await request(proxy.port, get("/refused"))
            assert answer.status == 503
            assert b"TLS_error" in answer.body
            await proxy.wait_records(1)
            record = proxy.observer.primary()[0]
            assert "UF" in record.response_flags
            assert record.response_code_details.startswith(
                "upstream_reset_before_response_started{remote_connection_failure,TLS_error")
            assert up.requests == []
    asyncio.run(scenario())


@pytest.mark.parametrize("tls, status, reason", [
    ({"mode": "SIMPLE"}, 503, "CERTIFICATE_VERIFY_FAILED"),  # system roots: not our CA
    ({"mode": "SIMPLE", "caCertificates": "OTHER"}, 503, "CERTIFICATE_VERIFY_FAILED"),
    ({"mode": "SIMPLE", "caCertificates": "CA", "sni": "wrong.example.com"}, 503,
     "CERTIFICATE_VERIFY_FAILED"),
    ({"mode": "SIMPLE", "caCertificates": "CA", "subjectAltNames": ["nope.example.com"]}, 503,
     "CERTIFICATE_VERIFY_FAILED"),
    ({"mode": "SIMPLE", "caCertificates": "CA", "sni": "other.name",
      "subjectAltNames": ["spiffe://cluster.local/ns/default/sa/secure"]}, 200, ""),
    ({"mode": "SIMPLE", "insecureSkipVerify": True}, 200, ""),
])
def test_verification(pki: dict[str, Any], tls: dict[str, Any], status: int,
                      reason: str) -> None:
    tls = dict(tls)
    if "caCertificates" in tls:
        tls["caCertificates"] = {"CA": pki["ca"].cert, "OTHER": pki["other"].cert}[
            tls["caCertificates"]]
    async def scenario() -> None:
        async with tls_upstream(server_context(pki["server"])) as up, \
                inproc_proxy(config(up.port, tls)) as proxy:
            answer = await request(proxy.port, get("/v"))
            assert answer.status == status, answer.body
            if reason:
                assert reason.encode() in answer.body
                assert up.requests == []
                # the access log's %UPSTREAM_TRANSPORT_FAILURE_REASON%, as Envoy words it
                await proxy.wait_records(1)
                record = proxy.observer.primary()[0]
                assert "UF" in record.response_flags.split(",")
                assert record.upstream_transport_failure_reason == (
                    f"TLS_error:|SSL routines:{reason}:TLS_error_end")
    asyncio.run(scenario())


def test_a_shadow_behind_https_is_mirrored_to_over_tls(pki: dict[str, Any]) -> None:
    async def scenario() -> None:
        async with tls_upstream(server_context(pki["server"])) as primary, \
                tls_upstream(server_context(pki["server"])) as shadow:
            cfg = config(primary.port, {"mode": "SIMPLE", "caCertificates": pki["ca"].cert},
                         shadow_port=shadow.port,
                         shadow_tls={"mode": "SIMPLE", "caCertificates": pki["ca"].cert,
                                     "subjectAltNames": ["shadow.example.com"]})
            async with inproc_proxy(cfg) as proxy:
                for i in range(3):
                    answer = await request(proxy.port, get(f"/m{i}"))
                    assert answer.status == 200
                await proxy.wait_records(3, shadow=True)
                assert sorted(shadow.requests) == ["/m0", "/m1", "/m2"]
                assert all(r.response_code == 200 for r in proxy.observer.shadows())
                assert shadow.connections == 1
    asyncio.run(scenario())


@pytest.mark.parametrize("revoked", [False, True])
def test_ca_crl_refuses_a_revoked_upstream_certificate(pki: dict[str, Any], revoked: bool
                                                       ) -> None:
    crl = pki["ca"].crl((pki["server"],) if revoked else (), name=f"crl-{revoked}")
    tls = {"mode": "SIMPLE", "caCertificates": pki["ca"].cert, "caCrl": crl}
    async def scenario() -> None:
        async with tls_upstream(server_context(pki["server"])) as up, \
                inproc_proxy(config(up.port, tls)) as proxy:
            answer = await request(proxy.port, get("/crl"))
            await proxy.wait_records(1)
            record = proxy.observer.primary()[0]
            if not revoked:
                assert answer.status == 200 and up.requests == ["/crl"]
                return
            assert answer.status == 503 and up.requests == []
            assert "UF" in record.response_flags.split(",")
            assert record.upstream_transport_failure_reason == (
                "TLS_error:|SSL routines:CERTIFICATE_VERIFY_FAILED:TLS_error_end")
    asyncio.run(scenario())


def test_a_shadow_that_fails_the_handshake_logs_the_reason(pki: dict[str, Any]) -> None:
    async def scenario() -> None:
        async with tls_upstream(server_context(pki["server"])) as primary, \
                tls_upstream(server_context(pki["server"])) as shadow:
            cfg = config(primary.port, {"mode": "SIMPLE", "caCertificates": pki["ca"].cert},
                         shadow_port=shadow.port,
                         shadow_tls={"mode": "SIMPLE", "caCertificates": pki["other"].cert})
            async with inproc_proxy(cfg) as proxy:
                assert (await request(proxy.port, get("/s"))).status == 200
                await proxy.wait_records(1, shadow=True)
                (copy,) = proxy.observer.shadows()
                assert "UF" in copy.response_flags.split(",") and shadow.requests == []
                assert copy.upstream_transport_failure_reason == (
                    "TLS_error:|SSL routines:CERTIFICATE_VERIFY_FAILED:TLS_error_end")
    asyncio.run(scenario())


def test_a_missing_certificate_file_fails_the_compile(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        table(config(1, {"mode": "SIMPLE", "caCertificates": str(tmp_path / "absent.pem")}))


def test_same_settings_same_policy_renewed_file_new_policy(pki: dict[str, Any],
                                                            tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(Path(pki["ca"].cert).read_bytes())
    cfg = config(1, {"mode": "SIMPLE", "caCertificates": str(ca)})
    name = f"outbound|80|v1|{HOST}"
    first, again = table(cfg).clusters[name].policy, table(cfg).clusters[name].policy
    assert first == again and first.tls is not None
    ca.write_bytes(Path(pki["other"].cert).read_bytes())
    assert table(cfg).clusters[name].policy != first
