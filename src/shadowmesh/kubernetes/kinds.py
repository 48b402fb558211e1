"""The Kubernetes resources shadowmesh lists and watches, and where the API serves them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class WatchedKind:
    kind: str  # Service
    group: str  # "" for the core group
    versions: tuple[str, ...]  # tried in order: the first one the server serves is used
    plural: str  # services
    optional: bool = False  # a custom resource whose CRD may not be installed

    @property
    def name(self) -> str:
        """`services`, `endpointslices.discovery.k8s.io`: kubectl's resource name."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, version: str, namespace: str | None) -> str:
        """The collection's URL path, e.g. `/apis/discovery.k8s.io/v1/namespaces/default/...`."""
        root = f"/apis/{self.group}/{version}" if self.group else f"/api/{version}"
        where = f"/namespaces/{namespace}" if namespace else ""
        return f"{root}{where}/{self.plural}"


SERVICES: Final = WatchedKind("Service", "", ("v1",), "services")
ENDPOINT_SLICES: Final = WatchedKind("EndpointSlice", "discovery.k8s.io", ("v1",), "endpointslices")
PODS: Final = WatchedKind("Pod", "", ("v1",), "pods")

_ISTIO: Final = "networking.istio.io"
_ISTIO_VERSIONS: Final = ("v1", "v1beta1", "v1alpha3")

# Istio's CRDs, when installed, in the order Istio itself prefers their versions.
ISTIO_KINDS: Final = (
    WatchedKind("VirtualService", _ISTIO, _ISTIO_VERSIONS, "virtualservices", optional=True),
    WatchedKind("DestinationRule", _ISTIO, _ISTIO_VERSIONS, "destinationrules", optional=True),
    WatchedKind("ServiceEntry", _ISTIO, _ISTIO_VERSIONS, "serviceentries", optional=True),
    WatchedKind("WorkloadEntry", _ISTIO, _ISTIO_VERSIONS, "workloadentries", optional=True),
    WatchedKind("Gateway", _ISTIO, _ISTIO_VERSIONS, "gateways", optional=True),
)

# shadowmesh's own kinds (deploy/crds/): watched as documents and handed to the normal loader.
COMPARISONS: Final = WatchedKind(
    "Comparison", "shadowmesh.io", ("v1alpha1",), "comparisons", optional=True
)

CUSTOM_KINDS: Final = (*ISTIO_KINDS, COMPARISONS)
ALL_KINDS: Final = (SERVICES, ENDPOINT_SLICES, PODS, *CUSTOM_KINDS)
