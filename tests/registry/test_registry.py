"""Services and endpoints from ServiceEntries and WorkloadEntries; host lookups; ports."""

from __future__ import annotations

from pathlib import Path

import pytest

from shadowmesh.config import load_paths, load_text
from shadowmesh.registry import (
    Endpoint,
    Service,
    ServicePort,
    ServiceRegistry,
    resolve_host,
    select_endpoints,
    workload_name,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

EXTRA = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external, namespace: egress}
spec:
  hosts: [httpbin.org]
  ports: [{number: 443, name: https, protocol: TLS}]
  resolution: DNS
  location: MESH_EXTERNAL
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: wildcard, namespace: egress}
spec:
  hosts: ["*.example.com"]
  ports: [{number: 443, name: https, protocol: TLS}]
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: legacy, namespace: apps}
spec:
  hosts: [legacy]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8080}, {number: 81, name: admin}]
  resolution: STATIC
  endpoints:
  - {address: 10.0.0.1, labels: {app: legacy, version: v3}, weight: 3}
  - {address: 10.0.0.2, ports: {http: 9000}, labels: {app: legacy}}
  - {address: 10.0.0.3}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: stray, namespace: apps}
spec: {address: 10.0.0.9, labels: {app: legacy}}
"""


@pytest.fixture(scope="module")
def httpbin() -> ServiceRegistry:
    result = load_paths([EXAMPLES / "httpbin-mirror"])
    assert result.ok
    return ServiceRegistry.from_resources(result.resources)


@pytest.fixture(scope="module")
def extra() -> ServiceRegistry:
    result = load_text(EXTRA, "extra.yaml")
    assert result.ok, [str(i) for i in result.issues]
    return ServiceRegistry.from_resources(result.resources)


@pytest.mark.parametrize(
    ("host", "namespace"),
    [
        ("httpbin", "default"),
        ("httpbin:8000", "default"),
        ("httpbin.default", "other"),
        ("httpbin.default.svc", "other"),
        ("httpbin.default.svc.cluster.local", "other"),
        ("HTTPBIN.default.svc.cluster.local.", "other"),
    ],
)
def test_short_names_and_fqdn_find_the_service(
    httpbin: ServiceRegistry, host: str, namespace: str
) -> None:
    service = httpbin.lookup(host, namespace)
    assert service is not None
    assert service.hostname == "httpbin.default.svc.cluster.local"
    assert (service.name, service.namespace, service.resolution) == ("httpbin", "default", "STATIC")


def test_short_name_in_another_namespace_is_another_service(httpbin: ServiceRegistry) -> None:
    assert httpbin.lookup("httpbin", "other") is None
    assert httpbin.lookup("nothing") is None


def test_subsets_select_endpoints_by_labels(httpbin: ServiceRegistry) -> None:
    service = httpbin.lookup("httpbin")
    assert service is not None
    assert service.ports == (ServicePort(8000, "http", "HTTP", None),)
    v1, v2 = (select_endpoints(service, {"version": v}) for v in ("v1", "v2"))
    assert [(e.workload_name, e.address, e.version) for e in v1] == [
        ("httpbin-v1", "127.0.0.1", "v1")
    ]
    assert [(e.workload_name, e.address, e.version) for e in v2] == [
        ("httpbin-v2", "127.0.0.1", "v2")
    ]
    assert (
        len(select_endpoints(service, None))
        == len(select_endpoints(service, {"app": "httpbin"}))
        == 2
    )
    assert select_endpoints(service, {"version": "v3"}) == []
    port = service.port(8000)
    assert port is not None and service.port() == port and service.port(9) is None
    assert [service.endpoint_port(e, port) for e in v1 + v2] == [8081, 8082]


def test_inline_endpoints_ports_and_workload_names(extra: ServiceRegistry) -> None:
    service = extra.lookup("legacy", "apps")
    assert service is not None
    http, admin = service.ports
    assert service.port() is None  # two ports: a route must name one
    first, second, _ = service.endpoints
    # the endpoint's named port, else targetPort, else the service port
    assert [service.endpoint_port(e, http) for e in service.endpoints] == [8080, 9000, 8080]
    assert service.endpoint_port(second, admin) == 81
    assert [e.workload_name for e in service.endpoints] == ["legacy-v3", "legacy", "10.0.0.3"]
    assert [e.weight for e in service.endpoints] == [3, 1, 1]
    assert first.namespace == "apps"
    assert all(e.address != "10.0.0.9" for e in service.endpoints)  # no selector: WEs unused


def test_external_hosts(extra: ServiceRegistry) -> None:
    service = extra.lookup("httpbin.org")
    assert service is not None
    assert (service.hostname, service.name, service.is_kubernetes) == (
        "httpbin.org",
        "httpbin.org",
        False,
    )
    # DNS resolution without endpoints: the host itself is the endpoint
    assert [(e.address, e.workload_name) for e in service.endpoints] == [
        ("httpbin.org", "httpbin.org")
    ]
    wildcard = extra.lookup("api.example.com")
    assert wildcard is not None and wildcard.hostname == "*.example.com"
    assert wildcard.endpoints == ()
    assert extra.lookup("example.org") is None


def test_registry_resolve_host_prefers_known_names(extra: ServiceRegistry) -> None:
    assert extra.resolve_host("httpbin.org") == "httpbin.org"
    assert extra.resolve_host("legacy", "apps") == "legacy.apps.svc.cluster.local"
    assert extra.resolve_host("unknown", "apps") == "unknown.apps.svc.cluster.local"


@pytest.mark.parametrize(
    ("host", "namespace", "fqdn"),
    [
        ("reviews", "default", "reviews.default.svc.cluster.local"),
        ("reviews", "prod", "reviews.prod.svc.cluster.local"),
        ("reviews.prod", "default", "reviews.prod.svc.cluster.local"),
        ("reviews.prod.svc", "default", "reviews.prod.svc.cluster.local"),
        ("reviews.prod.svc.cluster.local", "default", "reviews.prod.svc.cluster.local"),
        ("api.example.co.uk", "default", "api.example.co.uk"),
        ("*.example.com", "default", "*.example.com"),
    ],
)
def test_resolve_host(host: str, namespace: str, fqdn: str) -> None:
    assert resolve_host(host, namespace) == fqdn


@pytest.mark.parametrize(
    ("name", "labels", "address", "expected"),
    [
        ("httpbin-v1", {"app": "x", "version": "v9"}, "1.2.3.4", "httpbin-v1"),
        (None, {"app": "httpbin", "version": "v2"}, "1.2.3.4", "httpbin-v2"),
        (None, {"app": "httpbin"}, "1.2.3.4", "httpbin"),
        (None, {}, "1.2.3.4", "1.2.3.4"),
    ],
)
def test_workload_names(
    name: str | None, labels: dict[str, str], address: str, expected: str
) -> None:
    assert workload_name(name, labels, address) == expected


def test_entries_for_the_same_host_merge_endpoints() -> None:
    one = Service("a.example.com", "x", (ServicePort(80, "http"),), (Endpoint("10.0.0.1"),))
    two = Service("a.example.com", "y", (ServicePort(81, "http"),), (Endpoint("10.0.0.2"),))
    registry = ServiceRegistry([one, two])
    merged = registry.lookup("a.example.com")
    assert merged is not None and len(registry) == 1
    assert merged.ports == one.ports
    assert [e.address for e in merged.endpoints] == ["10.0.0.1", "10.0.0.2"]


def test_every_example_builds_a_registry_with_endpoints() -> None:
    for directory in sorted(p for p in EXAMPLES.iterdir() if p.is_dir()):
        result = load_paths([directory])
        registry = ServiceRegistry.from_resources(result.resources)
        assert len(registry) > 0, directory
        for service in registry:
            assert service.endpoints, (directory, service.hostname)
            for endpoint in service.endpoints:
                assert endpoint.address == "127.0.0.1"
                port = service.port()
                assert port is not None
                assert 1024 < service.endpoint_port(endpoint, port) < 65536
