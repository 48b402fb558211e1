"""Services, their ports and endpoints, as the proxy needs them to route and balance."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shadowmesh.config.hosts import CLUSTER_DOMAIN, is_kubernetes_fqdn


@dataclass(frozen=True, slots=True)
class ServicePort:
    number: int
    name: str
    protocol: str = "HTTP"
    target_port: int | None = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One instance of a service: a WorkloadEntry or an inline ServiceEntry endpoint."""

    address: str  # IP, hostname, or `unix:///path`
    ports: Mapping[str, int] = field(default_factory=dict)  # service port name -> port here
    labels: Mapping[str, str] = field(default_factory=dict)
    workload_name: str = ""  # httpbin-v1: the WorkloadEntry's name, else app-version
    namespace: str = "default"
    weight: int = 1  # Istio treats an unset weight (0) as 1
    locality: str | None = None

    @property
    def version(self) -> str | None:
        """The `version` label, which Istio's telemetry reports as destination_version."""
        return self.labels.get("version")


@dataclass(frozen=True, slots=True)
class Service:
    hostname: str  # FQDN: httpbin.default.svc.cluster.local, or an external name as written
    namespace: str  # of the ServiceEntry that declared it
    ports: tuple[ServicePort, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()
    resolution: str = "NONE"  # NONE | STATIC | DNS | DNS_ROUND_ROBIN

    @property
    def name(self) -> str:
        """Short name: `httpbin` for a Kubernetes-style host, else the host itself."""
        return self.hostname.split(".")[0] if is_kubernetes_fqdn(self.hostname) else self.hostname

    @property
    def is_kubernetes(self) -> bool:
        return self.hostname.endswith(f".svc.{CLUSTER_DOMAIN}")

    def port(self, number: int | None = None) -> ServicePort | None:
        """The port numbered `number`; without a number, the only port of a one-port service.

        This is how Istio picks a destination port when a route does not name one.
        """
        if number is None:
            return self.ports[0] if len(self.ports) == 1 else None
        return next((port for port in self.ports if port.number == number), None)

    def endpoint_port(self, endpoint: Endpoint, service_port: ServicePort) -> int:
        """Where to connect on `endpoint` for `service_port`, as Istio resolves it.

        The endpoint's own port for that port name, else the port's targetPort, else the
        service port number itself.
        """
        named = endpoint.ports.get(service_port.name)
        if named:
            return named
        if service_port.target_port:
            return service_port.target_port
        return service_port.number


def select_endpoints(service: Service, subset_labels: Mapping[str, str] | None) -> list[Endpoint]:
    """The endpoints whose labels contain every subset label (all of them without labels)."""
    wanted = dict(subset_labels or {})
    return [
        endpoint
        for endpoint in service.endpoints
        if all(endpoint.labels.get(key) == value for key, value in wanted.items())
    ]
