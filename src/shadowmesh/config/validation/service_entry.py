"""ServiceEntry and WorkloadEntry validation (Istio's `ValidateServiceEntry` and friends)."""

from __future__ import annotations

from shadowmesh.config.models import ServiceEntry, WorkloadEntry
from shadowmesh.config.validation.checks import (
    is_ip_address,
    protocol_is_http,
    protocol_is_tcp,
    protocol_is_tls,
    validate_fqdn,
    validate_ip_subnet,
    validate_labels,
    validate_partial_wildcard,
    validate_port,
    validate_port_name,
    validate_protocol,
    validate_unix_address,
    validate_wildcard_domain,
)
from shadowmesh.config.validation.gofmt import quote
from shadowmesh.config.validation.report import SPEC, FieldPath, Report
from shadowmesh.config.validation.scoping import validate_export_to, validate_selector_labels

UNIX_PREFIX = "unix://"
AUTOALLOCATE_LABEL = "networking.istio.io/enable-autoallocate-ip"
# the protocols Envoy's dynamic forward proxy serves (DYNAMIC_DNS)
_DYNAMIC_DNS_PROTOCOLS = ("HTTP", "TLS", "GRPC", "HTTP2")


def validate_workload_entry(report: Report, entry: WorkloadEntry) -> None:
    _workload(report, entry, SPEC, service_ports=None, allow_fqdn=True)


def _workload(
    report: Report,
    entry: WorkloadEntry,
    path: FieldPath,
    *,
    service_ports: set[str] | None,
    allow_fqdn: bool,
) -> None:
    address = entry.address or ""
    address_path = path.field(entry, "address")
    if not address:
        if not entry.network:
            report.error(address_path, "address is required")
            return
        report.warning(address_path, f"address is unset with network {quote(entry.network)}")
    unix = address.startswith(UNIX_PREFIX)
    if unix:
        report.error(address_path, validate_unix_address(address.removeprefix(UNIX_PREFIX)))
        if entry.ports:
            report.error(
                path.field(entry, "ports"), f"unix endpoint {address} must not include ports"
            )
    elif address and not is_ip_address(address):
        if not allow_fqdn:
            report.error(
                address_path, f"endpoint address {quote(address)} is not a valid IP address"
            )
        elif validate_fqdn(address):
            report.error(
                address_path,
                f"endpoint address {quote(address)} is not a valid FQDN or an IP address",
            )
    for name, port in (entry.ports or {}).items():
        port_path = path.field(entry, "ports").key(name)
        if service_ports is not None and name not in service_ports:
            report.error(port_path, f"endpoint port {port} is not defined by the service entry")
        report.error(port_path, validate_port_name(name))
        report.error(port_path, validate_port(port))
    report.errors(path.field(entry, "labels"), validate_labels(entry.labels))
    if unix and service_ports is not None and len(service_ports) != 1:
        report.error(path, "exactly 1 service port required for unix endpoints")


def validate_service_entry(report: Report, entry: ServiceEntry) -> None:
    selector = entry.workload_selector
    selector_path = SPEC.field(entry, "workload_selector")
    if selector is not None:
        for level, message in validate_selector_labels(selector.labels, what="service entry"):
            report.add("error" if level == "error" else "warning", selector_path, message)
    if selector is not None and entry.endpoints is not None:
        report.error(SPEC, "only one of WorkloadSelector or Endpoints is allowed in Service Entry")

    hosts_path = SPEC.field(entry, "hosts")
    if not entry.hosts:
        report.error(hosts_path, "service entry must have at least one host")
    for index, host in enumerate(entry.hosts):
        if host == "*":
            report.error(hosts_path.at(index), f"invalid host {host}")
        else:
            report.error(hosts_path.at(index), validate_wildcard_domain(host))
            if entry.resolution != "DYNAMIC_DNS":
                report.warning(hosts_path.at(index), validate_partial_wildcard(host))

    cidr = False
    for index, address in enumerate(entry.addresses):
        cidr = cidr or "/" in address
        report.error(SPEC.field(entry, "addresses").at(index), validate_ip_subnet(address))
    if cidr and entry.resolution not in ("NONE", "STATIC"):
        report.error(
            SPEC.field(entry, "addresses"),
            "CIDR addresses are allowed only for NONE/STATIC resolution types",
        )

    # without addresses, a TCP port is reachable only through an address Istio allocates
    allocates = (
        entry.resolution != "NONE"
        and not entry.addresses
        and report.resource.metadata.labels.get(AUTOALLOCATE_LABEL, "").lower() != "false"
    )
    names: set[str] = set()
    numbers: set[int] = set()
    for index, port in enumerate(entry.ports):
        port_path = SPEC.field(entry, "ports").at(index)
        name = port.name or ""
        if name in names:
            report.error(port_path, f"service entry port name {quote(name)} already defined")
        if port.number in numbers:
            report.error(port_path, f"service entry port {port.number} already defined")
        names.add(name)
        numbers.add(port.number)
        if port.target_port:
            report.error(port_path.field(port, "target_port"), validate_port(port.target_port))
        if not entry.addresses and not allocates and (port.protocol or "") in ("", "TCP"):
            report.warning(
                port_path,
                "addresses are required for ports serving TCP (or unset) protocol when IP "
                "Autoallocation is not enabled",
            )
        report.error(port_path.field(port, "name"), validate_port_name(port.name))
        report.error(port_path.field(port, "protocol"), validate_protocol(port.protocol))
        report.error(port_path.field(port, "number"), validate_port(port.number))

    _resolution(report, entry, names)

    # plain TCP cannot tell hosts apart, so several hosts need HTTP or TLS (unless NONE)
    several_hosts = entry.resolution != "NONE" and len(entry.hosts) > 1
    if several_hosts and any(
        not protocol_is_http(p.protocol) and not protocol_is_tls(p.protocol) for p in entry.ports
    ):
        report.error(
            SPEC.field(entry, "ports"), "multiple hosts provided with non-HTTP, non-TLS ports"
        )

    report.errors(
        SPEC.field(entry, "export_to"),
        validate_export_to(report.resource.namespace, entry.export_to, service_entry=True),
    )


def _resolution(report: Report, entry: ServiceEntry, service_ports: set[str]) -> None:
    endpoints = entry.endpoints or ()
    endpoints_path = SPEC.field(entry, "endpoints")
    selector_path = SPEC.field(entry, "workload_selector")
    if entry.resolution == "NONE":
        if endpoints:
            report.error(endpoints_path, "no endpoints should be provided for resolution type none")
        if entry.workload_selector is not None:
            report.warning(
                selector_path, "workloadSelector should not be set when resolution mode is NONE"
            )
    elif entry.resolution == "STATIC":
        for index, endpoint in enumerate(endpoints):
            _workload(
                report,
                endpoint,
                endpoints_path.at(index),
                service_ports=service_ports,
                allow_fqdn=False,
            )
    elif entry.resolution == "DYNAMIC_DNS":
        _dynamic_dns(report, entry)
    else:  # DNS, DNS_ROUND_ROBIN
        if not endpoints:
            for index, host in enumerate(entry.hosts):
                problem = validate_fqdn(host)
                if problem:
                    report.error(
                        SPEC.field(entry, "hosts").at(index),
                        "hosts must be FQDN or contain only prefix wildcards if no endpoints are "
                        f"provided for resolution mode {entry.resolution}, {problem}",
                    )
                    break
        if entry.resolution == "DNS_ROUND_ROBIN" and len(endpoints) > 1:
            report.error(
                endpoints_path,
                f"there must only be 0 or 1 endpoint for resolution mode {entry.resolution}",
            )
        for index, endpoint in enumerate(endpoints):
            path = endpoints_path.at(index)
            address = endpoint.address or ""
            if not is_ip_address(address) and validate_fqdn(address):
                report.error(
                    path.field(endpoint, "address"),
                    f"endpoint address {quote(address)} is not a valid FQDN or an IP address",
                )
            report.errors(path.field(endpoint, "labels"), validate_labels(endpoint.labels))
            for name, port in (endpoint.ports or {}).items():
                port_path = path.field(endpoint, "ports").key(name)
                if name not in service_ports:
                    report.error(
                        port_path, f"endpoint port {port} is not defined by the service entry"
                    )
                report.error(port_path, validate_port_name(name))
                report.error(port_path, validate_port(port))
        if (
            entry.addresses
            and len(entry.hosts) > 1
            and any(protocol_is_tcp(p.protocol) for p in entry.ports)
        ):
            report.warning(
                SPEC.field(entry, "hosts"),
                "service entry can not have more than one host "
                "specified simultaneously with address and tcp port",
            )


def _dynamic_dns(report: Report, entry: ServiceEntry) -> None:
    """DYNAMIC_DNS: Envoy's dynamic forward proxy resolves each request's host itself."""
    mode = entry.resolution
    hosts_path = SPEC.field(entry, "hosts")
    if not entry.hosts:
        report.error(
            hosts_path, f"at least one wildcard host must be provided for resolution type {mode}"
        )
    for index, host in enumerate(entry.hosts):
        if not host.startswith("*"):
            report.error(
                hosts_path.at(index), f"host must be wildcarded for resolution mode {mode}"
            )
    if entry.addresses:
        # Istio's message runs two sentences together ("generated" "from"); kept as it is
        report.error(
            SPEC.field(entry, "addresses"),
            f"addresses cannot be set for resolution type {mode}. HTTP route domains will only "
            "be generatedfrom the hosts field values",
        )
    if entry.endpoints:
        report.error(
            SPEC.field(entry, "endpoints"),
            f"endpoints cannot be set for resolution type {mode}. Destination IP address "
            "determined from hostsfield values",
        )
    for index, port in enumerate(entry.ports):
        if (port.protocol or "").upper() not in _DYNAMIC_DNS_PROTOCOLS:
            report.error(
                SPEC.field(entry, "ports").at(index).field(port, "protocol"),
                f"only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type "
                f"{mode}",
            )
    waypoint = report.resource.metadata.labels.get("istio.io/use-waypoint", "")
    if entry.location == "MESH_INTERNAL" and waypoint and waypoint.lower() != "none":
        report.error(
            SPEC.field(entry, "location"),
            f"location MESH_INTERNAL with resolution type {mode} is not supported when using "
            "waypoints",
        )
