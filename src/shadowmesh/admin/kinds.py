"""Resource kinds as kubectl names them: `virtualservice`, `virtualservices`, `vs`, ..."""

from __future__ import annotations

from dataclasses import dataclass

GROUP = "networking.istio.io"


@dataclass(frozen=True)
class KindInfo:
    kind: str  # VirtualService
    singular: str  # virtualservice
    plural: str  # virtualservices
    short: str  # vs

    def ref(self, name: str) -> str:
        """kubectl's `virtualservice.networking.istio.io/httpbin`."""
        return f"{self.singular}.{GROUP}/{name}"


KINDS: tuple[KindInfo, ...] = (
    KindInfo("VirtualService", "virtualservice", "virtualservices", "vs"),
    KindInfo("DestinationRule", "destinationrule", "destinationrules", "dr"),
    KindInfo("ServiceEntry", "serviceentry", "serviceentries", "se"),
    KindInfo("WorkloadEntry", "workloadentry", "workloadentries", "we"),
    KindInfo("Gateway", "gateway", "gateways", "gw"),
    KindInfo("Comparison", "comparison", "comparisons", "cmp"),
)

_BY_NAME: dict[str, KindInfo] = {}
for _info in KINDS:
    for _alias in (_info.kind, _info.singular, _info.plural, _info.short):
        _BY_NAME[_alias.lower()] = _info
        _BY_NAME[f"{_alias.lower()}.{GROUP}"] = _info


class UnknownKind(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f'the server doesn\'t have a resource type "{name}"')
        self.name = name


def resolve_kind(name: str) -> KindInfo:
    """Any of kubectl's spellings (case-insensitive, optionally with the API group)."""
    info = _BY_NAME.get(name.lower())
    if info is None:
        raise UnknownKind(name)
    return info
