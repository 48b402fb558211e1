"""Services and endpoints with labels, from ServiceEntries and WorkloadEntries.

registry = ServiceRegistry.from_resources(load_result.resources)
service = registry.lookup("httpbin", namespace="default")
v2 = select_endpoints(service, {"version": "v2"})
port = service.endpoint_port(v2[0], service.port(8000))
"""

from shadowmesh.config.hosts import resolve_host
from shadowmesh.registry.service import Endpoint, Service, ServicePort, select_endpoints
from shadowmesh.registry.service_registry import ServiceRegistry, workload_name

__all__ = [
    "Endpoint",
    "Service",
    "ServicePort",
    "ServiceRegistry",
    "resolve_host",
    "select_endpoints",
    "workload_name",
]
