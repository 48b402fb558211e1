"""`shadowmesh run --kubernetes`: Services, EndpointSlices, Pod labels and Istio's (and
shadowmesh's) custom resources from the API server, as a configuration layer.

kinds.py      what is watched, and where the API serves it
client.py     kubernetes_asyncio underneath: list pages, watch streams, errors mapped once
reflector.py  one resource's list+watch loop: resourceVersion, bookmarks, 410, backoff
store.py      what the watches have seen, and what an event makes dirty
translate.py  Service + EndpointSlices + Pod labels -> ServiceEntry; custom resources -> loader
source.py     coalescing events into pushes to the control plane; status; readiness
"""

from shadowmesh.kubernetes.source import KubernetesOptions, KubernetesSource, start_kubernetes

__all__ = ["KubernetesOptions", "KubernetesSource", "start_kubernetes"]
