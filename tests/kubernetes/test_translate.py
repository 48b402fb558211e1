"""Service + EndpointSlices + Pod labels -> ServiceEntry, as Istio's registry reads them."""

from __future__ import annotations

import pytest
from tests.kubernetes.objects import endpoint, endpoint_slice, istio, pod, service

from shadowmesh.config import validate
from shadowmesh.config.models import ServiceEntry
from shadowmesh.kubernetes.kinds import ISTIO_KINDS
from shadowmesh.kubernetes.translate import custom_resource, port_protocol, service_entry
from shadowmesh.registry import ServiceRegistry, select_endpoints

PODS = {("default", "httpbin-v1-a"): {"app": "httpbin", "version": "v1"},
        ("default", "httpbin-v2-a"): {"app": "httpbin", "version": "v2"}}


def _entry(svc: dict, slices: list[dict]) -> ServiceEntry:
    res = service_entry(svc, slices, PODS)
    assert res is not None
    assert isinstance(res.spec, ServiceEntry)
    return res.spec


def test_service_becomes_fqdn_with_ready_endpoints_carrying_pod_labels() -> None:
    slices = [endpoint_slice("httpbin-abc", "httpbin", [
        endpoint("10.0.0.1", "httpbin-v1-a"),
        endpoint("10.0.0.2", "httpbin-v2-a"),
        endpoint("10.0.0.3", "httpbin-v2-gone", ready=False),  # terminating: not routed
        endpoint("10.0.0.4", None, ready=None),  # unset means ready; no pod, no labels
    ], port=80)]
    res = service_entry(service("httpbin"), slices, PODS)
    assert res is not None
    assert res.metadata.name == "svc:httpbin" and res.metadata.namespace == "default"
    registry = ServiceRegistry.from_resources([res])
    svc = registry.lookup("httpbin", "default")
    assert svc is not None and svc.hostname == "httpbin.default.svc.cluster.local"
    assert [e.address for e in svc.endpoints] == ["10.0.0.1", "10.0.0.2", "10.0.0.4"]
    v2 = select_endpoints(svc, {"version": "v2"})
    assert [e.address for e in v2] == ["10.0.0.2"]
    port = svc.port(8000)
    assert port is not None and svc.endpoint_port(v2[0], port) == 80
    assert v2[0].workload_name == "httpbin-v2"
    assert [i for i in validate([res]) if i.is_error] == []


def test_endpoints_in_several_slices_with_their_own_ports() -> None:
    slices = [endpoint_slice("a", "httpbin", [endpoint("10.0.0.1", "httpbin-v1-a")], port=8081),
              endpoint_slice("b", "httpbin", [endpoint("10.0.0.2", "httpbin-v2-a")], port=8082)]
    res = service_entry(service("httpbin"), slices, PODS)
    assert res is not None
    svc = ServiceRegistry.from_resources([res]).lookup("httpbin")
    assert svc is not None
    port = svc.port(8000)
    assert port is not None
    assert {e.address: svc.endpoint_port(e, port) for e in svc.endpoints} == {
        "10.0.0.1": 8081, "10.0.0.2": 8082}


def test_unnamed_port_and_numeric_target() -> None:
    svc = service("web", port=80, target=8080, port_name="")
    entry = _entry(svc, [endpoint_slice("w", "web", [endpoint("10.0.0.9", None)], port=8080,
                                        port_name="")])
    assert [(p.number, p.name, p.target_port) for p in entry.ports] == [(80, "port-80", 8080)]
    assert entry.endpoints is not None and dict(entry.endpoints[0].ports or {}) == {
        "port-80": 8080}


def test_external_name_service_resolves_by_dns() -> None:
    entry = _entry(service("ext", type="ExternalName", externalName="api.example.com"), [])
    assert entry.resolution == "DNS"
    assert entry.endpoints is not None and entry.endpoints[0].address == "api.example.com"


def test_udp_only_service_is_skipped() -> None:
    svc = service("dns")
    svc["spec"]["ports"][0]["protocol"] = "UDP"
    assert service_entry(svc, [], PODS) is None


@pytest.mark.parametrize(("name", "app_protocol", "expected"), [
    ("http", None, "HTTP"), ("http-web", None, "HTTP"), ("grpc-api", None, "GRPC"),
    ("tcp-db", None, "TCP"), ("web", None, "HTTP"), ("web", "kubernetes.io/h2c", "HTTP2"),
    ("tcp", "http", "HTTP"),
])
def test_port_protocol_selection(name: str, app_protocol: str | None, expected: str) -> None:
    assert port_protocol(name, app_protocol) == expected


def test_custom_resource_goes_through_the_loader_with_istio_messages() -> None:
    vs_kind = ISTIO_KINDS[0]
    good = istio("VirtualService", "httpbin", {"hosts": ["httpbin"], "http": [
        {"route": [{"destination": {"host": "httpbin"}}]}]})
    good["metadata"].update(resourceVersion="7", uid="u", managedFields=[{"manager": "kubectl"}])
    good["status"] = {"observedGeneration": 1}
    loaded = custom_resource(vs_kind, "v1", good)
    assert loaded.ok and [r.label for r in loaded.resources] == ["VirtualService default/httpbin"]
    bad = istio("VirtualService", "broken", {"hosts": ["httpbin"], "http": [
        {"route": [{"destination": {"host": "httpbin"}, "weight": -1}]}]})
    loaded = custom_resource(vs_kind, "v1", bad)
    assert not loaded.ok  # the source applies nothing of a resource that is not ok
    assert any("weight" in issue.message for issue in loaded.errors), loaded.errors


def test_unknown_custom_kind_is_set_aside_not_an_error() -> None:
    from shadowmesh.kubernetes.kinds import COMPARISONS

    obj = {"apiVersion": "shadowmesh.io/v1alpha1", "kind": "Comparison",
           "metadata": {"name": "httpbin", "namespace": "default"},
           "spec": {"host": "httpbin"}}
    loaded = custom_resource(COMPARISONS, "v1alpha1", obj)
    assert loaded.ok  # passes through the normal loader; modelled once config/ knows it
    assert loaded.resources or loaded.ignored


def test_pod_label_helper_ignores_non_strings() -> None:
    from shadowmesh.kubernetes.translate import pod_labels

    assert pod_labels(pod("p", {"version": "v1"})) == {"version": "v1"}
    assert pod_labels({"metadata": {"labels": None}}) == {}
