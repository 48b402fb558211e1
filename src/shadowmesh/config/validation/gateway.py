"""Gateway validation: the parts of Istio's `ValidateGateway` that do not concern certificates."""

from __future__ import annotations

from shadowmesh.config.models import Gateway, Server
from shadowmesh.config.validation.checks import (
    is_dns1123_label,
    is_ip_address,
    protocol_is_http,
    protocol_is_tls,
    protocol_known,
    validate_partial_wildcard,
    validate_port,
    validate_wildcard_domain,
)
from shadowmesh.config.validation.gofmt import quote
from shadowmesh.config.validation.report import SPEC, FieldPath, Report
from shadowmesh.config.validation.service_entry import UNIX_PREFIX

PROTOCOLS_HINT = "HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP"


def validate_gateway(report: Report, gateway: Gateway) -> None:
    name = report.resource.name
    if not is_dns1123_label(name):
        report.error(None, f"invalid gateway name: {quote(name)}")
    servers_path = SPEC.field(gateway, "servers")
    if not gateway.servers:
        report.error(servers_path, "gateway must have at least one server")
    port_names: set[str] = set()
    for index, server in enumerate(gateway.servers):
        path = servers_path.at(index)
        _server(report, server, path)
        if server.port is not None:
            port_name = server.port.name or ""
            if port_name in port_names:
                report.error(
                    path.field(server, "port"),
                    f"port names in servers must be unique: duplicate name {port_name}",
                )
            port_names.add(port_name)
            https_redirect = bool((server.tls or {}).get("httpsRedirect"))
            if not protocol_is_http(server.port.protocol) and https_redirect:
                report.warning(
                    path.field(server, "tls"),
                    "tls.httpsRedirect should only be used with http servers",
                )


def _host_problems(host: str) -> list[str]:
    """`namespace/dnsName` or a bare DNS name; gateways also accept IP addresses."""
    namespace, slash, name = host.partition("/")
    if not slash:
        return _hostname_part(host)
    problems: list[str] = []
    if not namespace or not name:
        problems.append("config namespace and dnsName in host entry cannot be empty")
    if namespace not in ("*", ".") and not is_dns1123_label(namespace):
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


def _server(report: Report, server: Server, path: FieldPath) -> None:
    hosts_path = path.field(server, "hosts")
    if not server.hosts:
        report.error(hosts_path, "server config must contain at least one host")
    for index, host in enumerate(server.hosts):
        report.errors(hosts_path.at(index), _host_problems(host))
    port, bind = server.port, server.bind or ""
    port_path = path.field(server, "port")
    port_ok = port is not None
    if port is None:
        report.error(port_path, "port is required")
    else:
        if not protocol_known(port.protocol):
            report.error(
                port_path.field(port, "protocol"),
                f"invalid protocol {quote(port.protocol or '')}, "
                f"supported protocols are {PROTOCOLS_HINT}",
            )
            port_ok = False
        if port.number > 0 or not bind.startswith(UNIX_PREFIX):
            problem = validate_port(port.number)
            report.error(port_path.field(port, "number"), problem)
            port_ok = port_ok and problem is None
        if port.target_port > 0:
            report.error(
                port_path.field(port, "target_port"), "targetPort has no impact on Gateways"
            )
            port_ok = False
        if not port.name:
            report.error(port_path.field(port, "name"), "port name must be set")
            port_ok = False
    if bind and not bind.startswith(UNIX_PREFIX) and not is_ip_address(bind):
        report.error(path.field(server, "bind"), f"{bind} is not a valid IP")
    if port_ok and port is not None:
        tls = server.tls
        if protocol_is_tls(port.protocol) and tls is None:
            report.error(path, "server must have TLS settings for HTTPS/TLS protocols")
        elif not protocol_is_tls(port.protocol) and tls is not None:
            if protocol_is_http(port.protocol):
                # only a redirect to HTTPS is allowed; mode defaults to PASSTHROUGH (enum 0)
                passthrough = tls.get("mode") in (None, "PASSTHROUGH", "AUTO_PASSTHROUGH")
                certificates = any(
                    tls.get(k) for k in ("caCertificates", "privateKey", "serverCertificate")
                )
                if not passthrough or certificates:
                    report.error(
                        path.field(server, "tls"),
                        "server cannot have TLS settings for plain text HTTP ports",
                    )
            else:
                report.error(
                    path.field(server, "tls"),
                    "server cannot have TLS settings for non HTTPS/TLS ports",
                )
