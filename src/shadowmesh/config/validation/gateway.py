"""Gateway validation: Istio's `ValidateGateway`, `validateServer` and `validateTLSOptions`."""

from __future__ import annotations

from typing import Final

from shadowmesh.config.models import Gateway, Server
from shadowmesh.config.models.gateway import Port, ServerTLSSettings
from shadowmesh.config.validation.checks import (
    is_dns1123_label,
    is_ip_address,
    protocol_is_http,
    protocol_is_tls,
    protocol_known,
    validate_partial_wildcard,
    validate_port,
    validate_unix_address,
    validate_wildcard_domain,
)
from shadowmesh.config.validation.gofmt import quote, slice_v
from shadowmesh.config.validation.report import SPEC, FieldPath, Report

PROTOCOLS_HINT = "HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP"
UNIX_PREFIX: Final = "unix://"
# Gateways that Istio converts from the Kubernetes Gateway API carry this annotation
GATEWAY_SEMANTICS: Final = "internal.istio.io/gateway-semantics"

# BoringSSL's names, as Istio accepts them (`security.ValidCipherSuites`)
VALID_CIPHER_SUITES: Final = frozenset(
    {
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
        "ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA",
        "ECDHE-RSA-AES256-SHA", "AES128-GCM-SHA256", "AES256-GCM-SHA384", "AES128-SHA",
        "AES256-SHA", "DES-CBC3-SHA",
    }
)  # fmt: skip


def validate_gateway(report: Report, gateway: Gateway) -> None:
    name = report.resource.name
    semantics = report.resource.metadata.annotations.get(GATEWAY_SEMANTICS) == "gateway"
    if not is_dns1123_label(name) and not semantics:
        report.error(None, f"invalid gateway name: {quote(name)}")
    servers_path = SPEC.field(gateway, "servers")
    if not gateway.servers:
        report.error(servers_path, "gateway must have at least one server")
    for index, server in enumerate(gateway.servers):
        _server(report, server, servers_path.at(index), semantics)
    port_names: set[str] = set()
    for index, server in enumerate(gateway.servers):
        path = servers_path.at(index)
        if server.port is None:
            continue
        port_name = server.port.name or ""
        if port_name in port_names:
            report.error(
                path.field(server, "port"),
                f"port names in servers must be unique: duplicate name {port_name}",
            )
        port_names.add(port_name)
        if not protocol_is_http(server.port.protocol) and server.tls and server.tls.https_redirect:
            report.warning(
                path.field(server, "tls"), "tls.httpsRedirect should only be used with http servers"
            )


def cipher_suite_valid(suite: str) -> bool:
    """Istio's `IsValidCipherSuite`: a name it knows, or an expression (`-X`, `+X`, `[...]`)."""
    if suite in ("", "ALL"):
        return True
    if not suite[0].isalnum():
        return True
    return suite in VALID_CIPHER_SUITES


def _host_problems(host: str, semantics: bool) -> list[str]:
    """`namespace/dnsName` or a bare DNS name; gateways also accept IP addresses."""
    namespace, slash, name = host.partition("/")
    if not slash:
        return _hostname_part(host)
    problems: list[str] = []
    if not namespace or not name:
        problems.append("config namespace and dnsName in host entry cannot be empty")
    # `~` is how Istio writes "no routes attached" for a Kubernetes Gateway API listener
    allowed = ("*", ".", "~") if semantics else ("*", ".")
    if namespace not in allowed and not is_dns1123_label(namespace):
        problems.append(f"invalid namespace value {quote(namespace)} in gateway")
    return problems + _hostname_part(name)


def _hostname_part(hostname: str) -> list[str]:
    problems: list[str] = []
    if hostname != "*" and "." not in hostname:
        problems.append("short names (non FQDN) are not allowed")
    problem = validate_wildcard_domain(hostname)
    if problem and not is_ip_address(hostname):
        problems.append(problem)
    partial = validate_partial_wildcard(hostname)
    if partial:
        problems.append(partial)
    return problems


def _port_problems(port: Port | None, bind: str) -> list[tuple[str | None, str]]:
    """`validateServerPort`: (field of the port, message) pairs."""
    if port is None:
        return [(None, "port is required")]
    problems: list[tuple[str | None, str]] = []
    if not protocol_known(port.protocol):
        problems.append(
            (
                "protocol",
                f"invalid protocol {quote(port.protocol or '')}, "
                f"supported protocols are {PROTOCOLS_HINT}",
            )
        )
    if port.number > 0 or not bind.startswith(UNIX_PREFIX):
        problem = validate_port(port.number)
        if problem:
            problems.append(("number", problem))
    if port.target_port > 0:
        problems.append(("target_port", "targetPort has no impact on Gateways"))
    if not port.name:
        problems.append(("name", f"port name must be set: {port_text(port)}"))
    return problems


def port_text(port: Port) -> str:
    """The Port as Istio's messages show it (protobuf text format, set fields only)."""
    parts = []
    if port.number:
        parts.append(f"number:{port.number}")
    if port.protocol:
        parts.append(f"protocol:{quote(port.protocol)}")
    if port.name:
        parts.append(f"name:{quote(port.name)}")
    if port.target_port:
        parts.append(f"target_port:{port.target_port}")
    return " ".join(parts)


def _server(report: Report, server: Server, path: FieldPath, semantics: bool) -> None:
    hosts_path = path.field(server, "hosts")
    if not server.hosts:
        report.error(hosts_path, "server config must contain at least one host")
    for index, host in enumerate(server.hosts):
        report.errors(hosts_path.at(index), _host_problems(host, semantics))
    port, bind = server.port, server.bind or ""
    port_path = path.field(server, "port")
    port_problems = _port_problems(port, bind)
    for field, message in port_problems:
        where = port_path if field is None or port is None else port_path.field(port, field)
        report.error(where, message)
    bind_path = path.field(server, "bind")
    if bind.startswith(UNIX_PREFIX):
        report.error(bind_path, validate_unix_address(bind.removeprefix(UNIX_PREFIX)))
        if port is not None and port.number != 0:
            report.error(
                bind_path, f"port number must be 0 for unix domain socket: {port_text(port)}"
            )
    elif bind and not is_ip_address(bind):
        report.error(bind_path, f"{bind} is not a valid IP")
    if server.tls is not None:
        validate_tls_options(report, server.tls, path.field(server, "tls"))
    if port_problems or port is None:
        return
    tls = server.tls
    if protocol_is_tls(port.protocol) and tls is None:
        report.error(path, "server must have TLS settings for HTTPS/TLS protocols")
    elif not protocol_is_tls(port.protocol) and tls is not None:
        if protocol_is_http(port.protocol):
            # only a redirect to HTTPS is allowed on a plain-text HTTP port
            passthrough = tls.mode in ("PASSTHROUGH", "AUTO_PASSTHROUGH")
            if not passthrough or tls.ca_certificates or tls.private_key or tls.server_certificate:
                report.error(
                    path.field(server, "tls"),
                    "server cannot have TLS settings for plain text HTTP ports",
                )
        else:
            report.error(
                path.field(server, "tls"), "server cannot have TLS settings for non HTTPS/TLS ports"
            )


def validate_tls_options(report: Report, tls: ServerTLSSettings, path: FieldPath) -> None:
    """Istio's `validateTLSOptions`, with its messages and its order."""
    if tls.min_protocol_version in ("TLSV1_0", "TLSV1_1") and not tls.cipher_suites:
        report.warning(
            path.field(tls, "min_protocol_version"),
            "TLS version below TLSV1_2 require setting compatible ciphers as by default they "
            "no longer include compatible ciphers.",
        )
    invalid: set[str] = set()
    valid: set[str] = set()
    duplicate: set[str] = set()
    for suite in tls.cipher_suites:
        if not cipher_suite_valid(suite):
            invalid.add(suite)
        elif suite in valid:
            duplicate.add(suite)
        else:
            valid.add(suite)
    suites_path = path.field(tls, "cipher_suites")
    if invalid:
        report.warning(suites_path, f"ignoring invalid cipher suites: {slice_v(sorted(invalid))}")
    if duplicate:
        report.warning(
            suites_path, f"ignoring duplicate cipher suites: {slice_v(sorted(duplicate))}"
        )

    if tls.mode == "ISTIO_MUTUAL":
        # the mesh's own certificates are used: nothing else may be given
        for name, what in (
            ("server_certificate", "server certificate"),
            ("private_key", "private key"),
            ("ca_certificates", "CA bundle"),
            ("tls_certificates", "tlsCertificates"),
            ("credential_name", "credentialName"),
            ("credential_names", "credentialNames"),
        ):
            if getattr(tls, name):
                report.error(
                    path.field(tls, name), f"ISTIO_MUTUAL TLS cannot have associated {what}"
                )
        return

    if tls.mode in ("PASSTHROUGH", "AUTO_PASSTHROUGH") and (
        tls.ca_crl
        or tls.server_certificate
        or tls.private_key
        or tls.ca_certificates
        or tls.tls_certificates
        or tls.credential_name
        or tls.credential_names
    ):
        report.warning(
            path.field(tls, "mode"),
            f"{tls.mode} mode does not use certificates, they will be ignored",
        )

    sources = sum(
        (
            bool(tls.server_certificate and tls.private_key),
            bool(tls.credential_name),
            bool(tls.credential_names),
            bool(tls.tls_certificates),
        )
    )
    if sources > 1:
        report.error(
            path,
            "only one of credential_name, credential_names, server_certificate/private_key, "
            "tls_certificates should be specified",
        )

    terminates = tls.mode in ("SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL")
    if terminates and (tls.credential_name or tls.credential_names):
        return  # the certificates come from the named credential
    if terminates:
        prefix = "SIMPLE TLS" if tls.mode == "SIMPLE" else "MUTUAL TLS"
        if prefix == "MUTUAL TLS" and not tls.ca_certificates:
            report.error(path, f"{prefix} requires a client CA bundle")
        if len(tls.tls_certificates) > 2:
            report.warning(
                path.field(tls, "tls_certificates"),
                f"{prefix} can support up to 2 server certificates",
            )
        pairs = [(c.server_certificate, c.private_key) for c in tls.tls_certificates] or [
            (tls.server_certificate, tls.private_key)
        ]
        for certificate, key in pairs:
            if not certificate:
                report.error(path, f"{prefix} requires a server certificate")
            if not key:
                report.error(path, f"{prefix} requires a private key")
    if tls.ca_crl:
        if tls.credential_name:
            report.error(
                path.field(tls, "ca_crl"),
                "CRL is not supported with credentialName. CRL has to be specified in the "
                "credential",
            )
        if tls.mode == "SIMPLE":
            report.error(path.field(tls, "ca_crl"), "CRL is not supported with SIMPLE TLS")
