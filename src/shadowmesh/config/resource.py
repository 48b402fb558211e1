"""A loaded Istio resource: kind, metadata, typed spec, and where it came from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from shadowmesh.config.models import (
    Comparison,
    DestinationRule,
    Gateway,
    IstioModel,
    ServiceEntry,
    VirtualService,
    WorkloadEntry,
)

GROUP: Final = "networking.istio.io"
VERSIONS: Final = ("v1alpha3", "v1beta1", "v1")
API_VERSIONS: Final = tuple(f"{GROUP}/{version}" for version in VERSIONS)

# kind -> spec model
SPEC_TYPES: Final[Mapping[str, type[IstioModel]]] = {
    "VirtualService": VirtualService,
    "DestinationRule": DestinationRule,
    "ServiceEntry": ServiceEntry,
    "WorkloadEntry": WorkloadEntry,
    "Gateway": Gateway,
    "Comparison": Comparison,
}

# shadowmesh's own kinds: their API group and versions (the others are Istio's)
SHADOWMESH_GROUP: Final = "shadowmesh.io"
OWN_KINDS: Final[Mapping[str, tuple[str, tuple[str, ...]]]] = {
    "Comparison": (SHADOWMESH_GROUP, ("v1alpha1",)),
}


def group_versions(kind: str) -> tuple[str, tuple[str, ...]]:
    """The API group and the versions that `kind` is served under."""
    return OWN_KINDS.get(kind, (GROUP, VERSIONS))

DEFAULT_NAMESPACE: Final = "default"


@dataclass(frozen=True, slots=True)
class Source:
    """Where a resource was read: file (or a label such as `<stdin>`), document, List item."""

    file: str
    index: int  # 0-based YAML document number in the file
    line: int | None = None  # 1-based line where the document (or List item) starts
    item: int | None = None  # index in `items:` when the document is a `kind: List`


@dataclass(frozen=True, slots=True)
class Metadata:
    name: str
    namespace: str = DEFAULT_NAMESPACE
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Resource:
    api_version: str
    kind: str
    metadata: Metadata
    spec: IstioModel
    source: Source

    @property
    def key(self) -> tuple[str, str, str]:
        """(kind, namespace, name): what Kubernetes considers the same object."""
        return (self.kind, self.metadata.namespace, self.metadata.name)

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace

    @property
    def label(self) -> str:
        """How issues name the resource: `VirtualService default/httpbin`."""
        return f"{self.kind} {self.metadata.namespace}/{self.metadata.name}"
