"""Kubernetes objects -> the Istio resources the control plane consumes.

A Service and its EndpointSlices become one ServiceEntry, as Istio's own registry sees a
Service: host `name.namespace.svc.cluster.local`, the Service's ports, and one inline
endpoint per ready address, labelled with its Pod's labels, so `subset: v2` selects the
`version: v2` pods. From there on it is the same path as a ServiceEntry read from a file:
validation, the registry, compiling, `shadowmesh get se`, `/config_dump`.

Custom resources (VirtualService, ..., Comparison) go through the ordinary loader, so they
are decoded and validated exactly as files and admin applies are.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from shadowmesh.config import LoadResult, Metadata, Resource, Source, load_text
from shadowmesh.config.hosts import CLUSTER_DOMAIN
from shadowmesh.config.models import ServiceEntry, ServicePort, WorkloadEntry
from shadowmesh.config.models.service_entry import Resolution
from shadowmesh.kubernetes.kinds import WatchedKind

Object = dict[str, Any]
Key = tuple[str, str]  # namespace, name

SERVICE_NAME_LABEL: Final = "kubernetes.io/service-name"
SE_API_VERSION: Final = "networking.istio.io/v1"
SYNTHESIZED: Final = "kubernetes:/api/v1/namespaces/"  # source of a Service's ServiceEntry

# The protocols Istio reads from a port's appProtocol or its name's prefix (`http-web`).
_PROTOCOLS: Final = {
    "http": "HTTP", "http2": "HTTP2", "grpc": "GRPC", "grpc-web": "GRPC-WEB", "h2c": "HTTP2",
    "https": "HTTPS", "tls": "TLS", "tcp": "TCP", "mongo": "Mongo", "redis": "Redis",
    "mysql": "MySQL", "kubernetes.io/h2c": "HTTP2", "kubernetes.io/ws": "HTTP",
    "kubernetes.io/wss": "HTTPS",
}


def items(value: Any) -> list[Mapping[str, Any]]:
    """The objects of a list field; anything malformed is left out, never raised on."""
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def key_of(obj: Mapping[str, Any]) -> Key:
    meta = mapping(obj.get("metadata"))
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def service_entry_name(service: str) -> str:
    """Named `svc:httpbin`: a colon is not allowed in Kubernetes names, so this can never
    collide with a ServiceEntry of the cluster's own."""
    return f"svc:{service}"


def port_protocol(name: str, app_protocol: str | None) -> str:
    """Istio's protocol selection: appProtocol, else the name's prefix; HTTP when unknown
    (Istio would sniff; shadowmesh proxies HTTP)."""
    if app_protocol:
        found = _PROTOCOLS.get(app_protocol.lower())
        if found:
            return found
    prefix = name.split("-", 1)[0].lower()
    return _PROTOCOLS.get(prefix, "HTTP")


def _port_name(port: Mapping[str, Any]) -> str:
    # A one-port Service may leave its port unnamed; Istio's ServiceEntry needs a name.
    return str(port.get("name") or f"port-{port.get('port')}")


def pod_labels(pod: Mapping[str, Any]) -> dict[str, str]:
    labels = mapping(mapping(pod.get("metadata")).get("labels"))
    return {str(k): str(v) for k, v in labels.items()}


def port_names(service: Mapping[str, Any]) -> dict[str, str]:
    """Kubernetes port name ("" allowed for one port) -> ServiceEntry port name, TCP only."""
    return {str(port.get("name") or ""): _port_name(port)
            for port in items(mapping(service.get("spec")).get("ports"))
            if (port.get("protocol") or "TCP") == "TCP" and isinstance(port.get("port"), int)}


def service_entry(service: Mapping[str, Any], slices: Iterable[Mapping[str, Any]],
                  pods: Mapping[Key, Mapping[str, str]]) -> Resource | None:
    """The ServiceEntry standing for `service` and its EndpointSlices, or None for a Service
    shadowmesh cannot use (no TCP port)."""
    namespace = key_of(service)[0]
    names = port_names(service)
    return build_service_entry(service, [slice_endpoints(namespace, eps, names, pods)
                                         for eps in slices])


def build_service_entry(service: Mapping[str, Any],
                        endpoint_groups: Iterable[Sequence[WorkloadEntry]]) -> Resource | None:
    """The ServiceEntry from the Service and its slices' endpoints (`slice_endpoints`, which
    the caller may cache per slice: most events change one slice of many)."""
    namespace, name = key_of(service)
    spec = mapping(service.get("spec"))
    ports: list[ServicePort] = []
    for port in items(spec.get("ports")):
        if (port.get("protocol") or "TCP") != "TCP" or not isinstance(port.get("port"), int):
            continue
        port_name = _port_name(port)
        target = port.get("targetPort")
        ports.append(ServicePort.model_construct(
            number=port["port"], name=port_name,
            protocol=port_protocol(port_name, port.get("appProtocol")),
            target_port=target if isinstance(target, int) else 0))
    if not ports:
        return None
    host = f"{name}.{namespace}.svc.{CLUSTER_DOMAIN}"
    endpoints: tuple[WorkloadEntry, ...]
    resolution: Resolution
    if spec.get("type") == "ExternalName" and spec.get("externalName"):
        external = str(spec["externalName"])
        endpoints = (WorkloadEntry.model_construct(address=external, labels={}, ports={},
                                                   weight=0),)
        resolution = "DNS"
    else:
        endpoints = tuple(_unique(endpoint_groups))
        resolution = "STATIC"
    entry = ServiceEntry.model_construct(
        hosts=(host,), ports=tuple(ports), location="MESH_INTERNAL", resolution=resolution,
        endpoints=endpoints, addresses=(), export_to=(), subject_alt_names=(),
        workload_selector=None)
    return Resource(
        api_version=SE_API_VERSION,
        kind="ServiceEntry",
        metadata=Metadata(name=service_entry_name(name), namespace=namespace,
                          labels={str(k): str(v) for k, v in mapping(
                              mapping(service.get("metadata")).get("labels")).items()}),
        spec=entry,
        source=Source(f"{SYNTHESIZED}{namespace}/services/{name}", 0),
    )


def _unique(groups: Iterable[Sequence[WorkloadEntry]]) -> Iterable[WorkloadEntry]:
    # An endpoint may show up in two slices while the controller moves it between them.
    seen: set[tuple[str | None, tuple[tuple[str, int], ...]]] = set()
    for group in groups:
        for entry in group:
            ident = (entry.address, tuple(sorted((entry.ports or {}).items())))
            if ident not in seen:
                seen.add(ident)
                yield entry


def slice_endpoints(namespace: str, eps: Mapping[str, Any], names: Mapping[str, str],
                    pods: Mapping[Key, Mapping[str, str]]) -> tuple[WorkloadEntry, ...]:
    """One EndpointSlice's ready endpoints, each labelled with its Pod's labels."""
    ports = {names[str(p.get("name") or "")]: p["port"]
             for p in items(eps.get("ports"))
             if str(p.get("name") or "") in names and isinstance(p.get("port"), int)}
    out = []
    for endpoint in items(eps.get("endpoints")):
        # `ready` unset means ready (API conventions); terminating pods are not ready.
        if mapping(endpoint.get("conditions")).get("ready") is False:
            continue
        addresses = endpoint.get("addresses")
        if not isinstance(addresses, list) or not addresses:
            continue
        ref = mapping(endpoint.get("targetRef"))
        labels: Mapping[str, str] = {}
        if ref.get("kind") == "Pod":
            labels = pods.get((str(ref.get("namespace") or namespace),
                               str(ref.get("name") or "")), {})
        out.append(WorkloadEntry.model_construct(
            address=str(addresses[0]), ports=ports, labels=dict(labels), weight=0,
            locality=None, network=None, service_account=None))
    return tuple(out)


def is_synthesized(resource: Resource) -> bool:
    """A ServiceEntry this package made from a Service (not a user's resource)."""
    return resource.source.file.startswith(SYNTHESIZED) and resource.kind == "ServiceEntry"


def validation_view(resource: Resource) -> Resource:
    """What the control plane validates of `resource`.

    A Service's ServiceEntry is validated without its endpoints: their addresses, ports and
    labels were validated by the API server already (as EndpointSlices and Pods), the
    analyzers read only hosts and ports, and checking 5,000 endpoints again on every push
    would cost more than everything else a push does.
    """
    if not is_synthesized(resource):
        return resource
    spec = resource.spec
    assert isinstance(spec, ServiceEntry)
    return Resource(resource.api_version, resource.kind, resource.metadata,
                    spec.model_copy(update={"endpoints": ()}), resource.source)


def custom_resource(kind: WatchedKind, version: str, obj: Mapping[str, Any]) -> LoadResult:
    """Decode and validate one custom resource from the API server with the ordinary loader.

    Only what the loader reads is kept (the server adds managedFields, status, uid...);
    JSON is YAML, so the loader's strict YAML reader takes it as is.
    """
    meta = mapping(obj.get("metadata"))
    namespace, name = key_of(obj)
    document: Object = {
        "apiVersion": obj.get("apiVersion") or f"{kind.group}/{version}",
        "kind": obj.get("kind") or kind.kind,
        "metadata": {k: meta[k] for k in ("name", "namespace", "labels", "annotations")
                     if k in meta},
        "spec": obj.get("spec"),
    }
    source = f"kubernetes:/apis/{kind.group}/{version}/namespaces/{namespace}/{kind.plural}/{name}"
    return load_text(json.dumps(document, ensure_ascii=False), source, default_namespace=namespace)
