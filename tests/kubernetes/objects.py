"""Kubernetes objects as the API server returns them (the fields shadowmesh reads, and a few
it must ignore), for the simulator and the translation tests."""

from __future__ import annotations

from typing import Any

Object = dict[str, Any]


def service(name: str, namespace: str = "default", port: int = 8000,
            target: int | str = "http", port_name: str = "http",
            app_protocol: str | None = None, **spec: Any) -> Object:
    svc_port: Object = {"name": port_name, "port": port, "targetPort": target,
                        "protocol": "TCP"}
    if app_protocol:
        svc_port["appProtocol"] = app_protocol
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"selector": {"app": name}, "ports": [svc_port], "type": "ClusterIP",
                 "clusterIP": "10.96.0.10", **spec},
    }


def pod(name: str, labels: dict[str, str], namespace: str = "default",
        ip: str = "127.0.0.1") -> Object:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels,
                     "ownerReferences": [{"kind": "ReplicaSet", "name": name.rsplit("-", 1)[0]}]},
        "spec": {"containers": [{"name": "app", "image": "kennethreitz/httpbin"}]},
        "status": {"phase": "Running", "podIP": ip},
    }


def endpoint(ip: str, pod_name: str | None, ready: bool | None = True,
             namespace: str = "default") -> Object:
    ep: Object = {"addresses": [ip], "conditions": {}}
    if ready is not None:
        ep["conditions"] = {"ready": ready, "serving": ready, "terminating": not ready}
    if pod_name:
        ep["targetRef"] = {"kind": "Pod", "name": pod_name, "namespace": namespace}
    return ep


def endpoint_slice(name: str, service_name: str, endpoints: list[Object], port: int,
                   port_name: str = "http", namespace: str = "default") -> Object:
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"kubernetes.io/service-name": service_name,
                                "endpointslice.kubernetes.io/managed-by":
                                    "endpointslice-controller.k8s.io"}},
        "addressType": "IPv4",
        "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
        "endpoints": endpoints,
    }


def istio(kind: str, name: str, spec: Object, namespace: str = "default",
          version: str = "v1") -> Object:
    return {"apiVersion": f"networking.istio.io/{version}", "kind": kind,
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def subsets_rule(host: str = "httpbin") -> Object:
    return istio("DestinationRule", host, {"host": host, "subsets": [
        {"name": "v1", "labels": {"version": "v1"}},
        {"name": "v2", "labels": {"version": "v2"}}]})


def route_to(subset: str, host: str = "httpbin") -> Object:
    return istio("VirtualService", host, {"hosts": [host], "http": [
        {"route": [{"destination": {"host": host, "subset": subset}}]}]})
