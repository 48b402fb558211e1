"""Gateway (networking.istio.io): which hosts and ports a gateway proxy serves."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from shadowmesh.config.models.base import IstioModel

ServerTLSMode = Literal[
    "PASSTHROUGH", "SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL"
]
TLSProtocol = Literal["TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"]


class Port(IstioModel):
    number: int = 0
    protocol: str | None = None
    name: str | None = None
    target_port: int = 0


class TLSCertificate(IstioModel):
    server_certificate: str | None = None
    private_key: str | None = None
    ca_certificates: str | None = None


class ServerTLSSettings(IstioModel):
    """`tls` of a Gateway server."""

    https_redirect: bool = False
    mode: ServerTLSMode = "PASSTHROUGH"  # the enum's zero value
    server_certificate: str | None = None
    private_key: str | None = None
    ca_certificates: str | None = None
    ca_crl: str | None = None
    credential_name: str | None = None
    credential_names: tuple[str, ...] = ()
    ca_cert_credential_name: str | None = None
    tls_certificates: tuple[TLSCertificate, ...] = ()
    subject_alt_names: tuple[str, ...] = ()
    verify_certificate_spki: tuple[str, ...] = ()
    verify_certificate_hash: tuple[str, ...] = ()
    min_protocol_version: TLSProtocol = "TLS_AUTO"
    max_protocol_version: TLSProtocol = "TLS_AUTO"
    cipher_suites: tuple[str, ...] = ()
    insecure_skip_verify: bool | None = None


class Server(IstioModel):
    port: Port | None = None
    bind: str | None = None
    hosts: tuple[str, ...] = ()
    tls: ServerTLSSettings | None = None
    default_endpoint: str | None = None
    name: str | None = None


class Gateway(IstioModel):
    servers: tuple[Server, ...] = ()
    selector: Mapping[str, str] | None = None
