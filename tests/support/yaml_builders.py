"""Istio YAML for a handful of named backends on loopback, so a test states only what it checks.

Conventions: a service `host` (a Kubernetes-style short name, port 8000 unless told) is a
ServiceEntry selecting `app: <host>`; each backend is a WorkloadEntry named `<host>-<version>`
with labels `app: <host>, version: <version>`; the DestinationRule has one subset per version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

Doc = dict[str, Any]
API = "networking.istio.io/v1"


def _meta(name: str, annotations: Mapping[str, str] | None = None) -> Doc:
    meta: Doc = {"name": name}
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def service_entry(
    host: str,
    port: int = 8000,
    port_name: str = "http",
    endpoints: Sequence[Doc] | None = None,
    name: str | None = None,
) -> Doc:
    spec: Doc = {
        "hosts": [host],
        "ports": [{"number": port, "name": port_name, "protocol": "HTTP"}],
        "resolution": "STATIC",
    }
    if endpoints is None:
        spec["workloadSelector"] = {"labels": {"app": host}}
    else:
        spec["endpoints"] = list(endpoints)
    return {"apiVersion": API, "kind": "ServiceEntry", "metadata": _meta(name or host),
            "spec": spec}


def endpoint(port: int, labels: Mapping[str, str] | None = None, port_name: str = "http") -> Doc:
    """An inline ServiceEntry endpoint on 127.0.0.1."""
    ep: Doc = {"address": "127.0.0.1", "ports": {port_name: port}}
    if labels:
        ep["labels"] = dict(labels)
    return ep


def workload_entry(name: str, port: int, labels: Mapping[str, str], port_name: str = "http") -> Doc:
    return {"apiVersion": API, "kind": "WorkloadEntry", "metadata": _meta(name),
            "spec": {"address": "127.0.0.1", "ports": {port_name: port}, "labels": dict(labels)}}


def workloads(host: str, ports: Mapping[str, int], port_name: str = "http") -> list[Doc]:
    """One WorkloadEntry per version: {"v1": 18081, "v2": 18082}."""
    return [workload_entry(f"{host}-{v}", p, {"app": host, "version": v}, port_name)
            for v, p in ports.items()]


def destination_rule(
    host: str,
    versions: Sequence[str] = (),
    traffic_policy: Doc | None = None,
    subset_policies: Mapping[str, Doc] | None = None,
    name: str | None = None,
) -> Doc:
    spec: Doc = {"host": host}
    if traffic_policy:
        spec["trafficPolicy"] = traffic_policy
    if versions:
        subsets = []
        for v in versions:
            subset: Doc = {"name": v, "labels": {"version": v}}
            if subset_policies and v in subset_policies:
                subset["trafficPolicy"] = subset_policies[v]
            subsets.append(subset)
        spec["subsets"] = subsets
    return {"apiVersion": API, "kind": "DestinationRule", "metadata": _meta(name or host),
            "spec": spec}


def virtual_service(
    host: str,
    http: Sequence[Doc],
    hosts: Sequence[str] | None = None,
    name: str | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Doc:
    return {"apiVersion": API, "kind": "VirtualService",
            "metadata": _meta(name or host, annotations),
            "spec": {"hosts": list(hosts or [host]), "http": list(http)}}


def dest(host: str, subset: str | None = None, port: int | None = None) -> Doc:
    """A Destination."""
    d: Doc = {"host": host}
    if subset:
        d["subset"] = subset
    if port:
        d["port"] = {"number": port}
    return d


def route(host: str, subset: str | None = None, weight: int | None = None,
          port: int | None = None, headers: Doc | None = None) -> Doc:
    """A HTTPRouteDestination."""
    r: Doc = {"destination": dest(host, subset, port)}
    if weight is not None:
        r["weight"] = weight
    if headers:
        r["headers"] = headers
    return r


def to(host: str, subset: str | None = None, **rule: Any) -> Doc:
    """An HTTPRoute sending everything it matches to one destination, plus `rule` fields."""
    return {"route": [route(host, subset)], **rule}


def service(
    host: str,
    ports: Mapping[str, int],
    port: int = 8000,
    http: Sequence[Doc] | None = None,
    traffic_policy: Doc | None = None,
    subset_policies: Mapping[str, Doc] | None = None,
    vs_annotations: Mapping[str, str] | None = None,
) -> list[Doc]:
    """SE + WorkloadEntries + DR with a subset per version (+ a VS if `http` is given)."""
    docs = [service_entry(host, port), *workloads(host, ports)]
    docs.append(destination_rule(host, list(ports), traffic_policy, subset_policies))
    if http is not None:
        docs.append(virtual_service(host, http, annotations=vs_annotations))
    return docs


def dump(*docs: Doc | Sequence[Doc]) -> str:
    """Multi-document YAML; arguments may be documents or lists of documents."""
    flat: list[Doc] = []
    for d in docs:
        if isinstance(d, dict):
            flat.append(d)
        else:
            flat.extend(d)
    return yaml.safe_dump_all(flat, sort_keys=False)
