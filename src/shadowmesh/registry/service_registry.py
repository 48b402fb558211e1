"""The service registry: every service the loaded ServiceEntries declare, with endpoints.

A ServiceEntry host without a dot stands for a Kubernetes Service of that name in the
entry's namespace, so `hosts: [httpbin]` in namespace `default` declares
`httpbin.default.svc.cluster.local`: the tutorials' short names work without a cluster.
Endpoints come from the entry's inline `endpoints`, or from the WorkloadEntries in the same
namespace whose labels match its `workloadSelector`. With DNS resolution and no endpoints,
the host itself is the endpoint (Istio asks DNS for it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from shadowmesh.config.hosts import CLUSTER_DOMAIN, is_wildcard, resolve_host
from shadowmesh.config.models import ServiceEntry, WorkloadEntry
from shadowmesh.config.resource import Resource
from shadowmesh.registry.service import Endpoint, Service, ServicePort


def workload_name(name: str | None, labels: dict[str, str], address: str) -> str:
    """The WorkloadEntry's name; else `app-version` from labels (or `app`); else the address."""
    if name:
        return name
    app, version = labels.get("app"), labels.get("version")
    if app and version:
        return f"{app}-{version}"
    return app or address


class ServiceRegistry:
    def __init__(self, services: Sequence[Service] = ()) -> None:
        self._services: dict[str, Service] = {}
        self._wildcards: list[str] = []  # `*.example.com` hostnames, matched by suffix
        for service in services:
            self._add(service)

    def _add(self, service: Service) -> None:
        existing = self._services.get(service.hostname)
        if existing is not None:
            # several entries for one host: Istio merges their endpoints
            service = Service(
                existing.hostname,
                existing.namespace,
                existing.ports,
                existing.endpoints + service.endpoints,
                existing.resolution,
            )
        elif is_wildcard(service.hostname):
            self._wildcards.append(service.hostname)
        self._services[service.hostname] = service

    @classmethod
    def from_resources(cls, resources: Sequence[Resource]) -> ServiceRegistry:
        workloads = [r for r in resources if isinstance(r.spec, WorkloadEntry)]
        services: list[Service] = []
        for resource in resources:
            if isinstance(resource.spec, ServiceEntry):
                services.extend(_services_of(resource, resource.spec, workloads))
        return cls(services)

    def __iter__(self) -> Iterator[Service]:
        return iter(self._services.values())

    def __len__(self) -> int:
        return len(self._services)

    def __repr__(self) -> str:
        return f"<ServiceRegistry [{', '.join(sorted(self._services))}]>"

    def lookup(self, host: str, namespace: str = "default") -> Service | None:
        """The service `host` names when written in `namespace`.

        Accepts a short name (`httpbin`), `httpbin.ns`, `httpbin.ns.svc`, the FQDN, and
        external hosts as declared (`api.example.com`, or one a `*.example.com` entry covers).
        A port (`httpbin:8000`) is ignored.
        """
        name = _strip_port(host.strip().lower()).rstrip(".")
        for candidate in (name, resolve_host(name, namespace)):
            service = self._services.get(candidate)
            if service is not None:
                return service
        # the longest wildcard wins, as the most specific declaration
        matches = [pattern for pattern in self._wildcards if name.endswith(pattern[1:])]
        return self._services[max(matches, key=len)] if matches else None

    def resolve_host(self, host: str, namespace: str = "default") -> str:
        """The registered hostname for `host`, or Istio's FQDN expansion if none is known."""
        service = self.lookup(host, namespace)
        return service.hostname if service is not None else resolve_host(host, namespace)


def _strip_port(host: str) -> str:
    if host.startswith("["):  # [::1]:80
        return host[: host.index("]") + 1] if "]" in host else host
    name, colon, port = host.rpartition(":")
    return name if colon and port.isdigit() and ":" not in name else host


def _service_hostname(host: str, namespace: str) -> str:
    """A dotless ServiceEntry host names a Kubernetes Service; other hosts stay as written."""
    host = host.strip().lower()
    if not is_wildcard(host) and "." not in host:
        return f"{host}.{namespace}.svc.{CLUSTER_DOMAIN}"
    return host


def _services_of(
    resource: Resource, entry: ServiceEntry, workloads: Sequence[Resource]
) -> list[Service]:
    namespace = resource.namespace
    ports = tuple(
        ServicePort(
            number=port.number,
            name=port.name or "",
            protocol=(port.protocol or "HTTP").upper(),
            target_port=port.target_port or None,
        )
        for port in entry.ports
    )
    endpoints = list(_inline_endpoints(entry, namespace))
    if entry.workload_selector is not None:
        endpoints.extend(_selected_endpoints(entry, namespace, workloads))
    services = []
    for host in entry.hosts:
        hostname = _service_hostname(host, namespace)
        host_endpoints = tuple(endpoints)
        resolvable = "." in host and not is_wildcard(host)
        if not host_endpoints and entry.resolution != "STATIC" and resolvable:
            # nothing declared: connect to the name itself, resolved by DNS
            host_endpoints = (Endpoint(address=host, workload_name=host, namespace=namespace),)
        services.append(Service(hostname, namespace, ports, host_endpoints, entry.resolution))
    return services


def _endpoint(entry: WorkloadEntry, name: str | None, namespace: str) -> Endpoint:
    labels = dict(entry.labels or {})
    address = entry.address or ""
    return Endpoint(
        address=address,
        ports=dict(entry.ports or {}),
        labels=labels,
        workload_name=workload_name(name, labels, address),
        namespace=namespace,
        weight=entry.weight or 1,
        locality=entry.locality,
    )


def _inline_endpoints(entry: ServiceEntry, namespace: str) -> Iterator[Endpoint]:
    for endpoint in entry.endpoints or ():
        yield _endpoint(endpoint, None, namespace)


def _selected_endpoints(
    entry: ServiceEntry, namespace: str, workloads: Sequence[Resource]
) -> Iterator[Endpoint]:
    selector = dict((entry.workload_selector.labels if entry.workload_selector else None) or {})
    for resource in workloads:
        spec = resource.spec
        assert isinstance(spec, WorkloadEntry)
        labels = spec.labels or {}
        if resource.namespace == namespace and all(labels.get(k) == v for k, v in selector.items()):
            yield _endpoint(spec, resource.name, namespace)
