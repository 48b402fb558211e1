"""Messages shared by several resources: string matches, destinations, header operations."""

from __future__ import annotations

from collections.abc import Mapping

from shadowmesh.config.models.base import IstioModel


class StringMatch(IstioModel):
    """`exact` and `prefix` are case-sensitive; `regex` is RE2 and must match the whole value.

    An empty StringMatch (`{}`) is a presence test where Istio allows one (headers,
    query parameters).
    """

    oneofs = (("exact", "prefix", "regex"),)

    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None

    @property
    def kind(self) -> str | None:
        """ "exact", "prefix", "regex", or None for an empty match."""
        for name in ("exact", "prefix", "regex"):
            if getattr(self, name) is not None:
                return name
        return None


class Percent(IstioModel):
    value: float = 0.0


class PortSelector(IstioModel):
    number: int = 0


class Destination(IstioModel):
    host: str | None = None
    subset: str | None = None
    port: PortSelector | None = None


class HeaderOperations(IstioModel):
    set: Mapping[str, str] | None = None
    add: Mapping[str, str] | None = None
    remove: tuple[str, ...] = ()


class Headers(IstioModel):
    request: HeaderOperations | None = None
    response: HeaderOperations | None = None


class WorkloadSelector(IstioModel):
    """`workloadSelector` of a ServiceEntry (networking.istio.io `labels`)."""

    labels: Mapping[str, str] | None = None


class TypedWorkloadSelector(IstioModel):
    """`workloadSelector` of a DestinationRule (istio.type.v1beta1, `matchLabels`)."""

    match_labels: Mapping[str, str] | None = None
