"""Comparison (shadowmesh.io/v1alpha1): which mirrored traffic to compare, and how.

shadowmesh's own kind, written in Istio's style (camelCase JSON names or snake_case proto
names, strict decoding, `None` for absent messages) so it is loaded, validated, applied and
listed like the Istio kinds. The defaults the engine applies live in
`shadowmesh.compare.spec`, not here: a model only says what the document wrote.
"""

from __future__ import annotations

import re

from shadowmesh.config.models.base import IstioModel
from shadowmesh.config.models.common import StringMatch


class CandidateSelector(IstioModel):
    """Which mirror destination of the host is the candidate (default: every mirror)."""

    host: str | None = None
    subset: str | None = None


class NoiseCopy(IstioModel):
    """A second copy to the primary's own version (Diffy's "secondary")."""

    subset: str | None = None
    percentage: float | None = None  # of the host's requests; default 10


class IgnoreRules(IstioModel):
    headers: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()  # JSONPath


class Thresholds(IstioModel):
    relative: float | None = None  # percent; Diffy's default 20
    absolute: float | None = None  # percent of pairs; Diffy's default 0.03


class EndpointRule(IstioModel):
    name: str | None = None
    method: str | None = None
    uri: StringMatch | None = None


class CaptureSettings(IstioModel):
    body_limit: int | str | None = None  # bytes, or a quantity such as 256Ki
    samples: int | None = None  # kept per endpoint and field


class RedactRules(IstioModel):
    headers: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()  # JSONPath


class Comparison(IstioModel):
    host: str | None = None
    candidate: CandidateSelector | None = None
    noise: NoiseCopy | None = None
    ignore: IgnoreRules | None = None
    array_order: str | None = None  # strict | ignore
    thresholds: Thresholds | None = None
    endpoints: tuple[EndpointRule, ...] = ()
    capture: CaptureSettings | None = None
    redact: RedactRules | None = None


_QUANTITY = re.compile(r"^([0-9]+)(k|M|G|Ki|Mi|Gi)?$")
_UNITS = {"": 1, "k": 1000, "M": 1000**2, "G": 1000**3, "Ki": 1024, "Mi": 1024**2,
          "Gi": 1024**3}


def byte_quantity(value: int | str) -> int:
    """Bytes from an integer or a Kubernetes quantity (`256Ki`, `1Mi`, `64k`)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _QUANTITY.match(str(value).strip())
    if match is None:
        raise ValueError(f"{value!r} is not a byte quantity (e.g. 262144, 256Ki, 1Mi)")
    return int(match[1]) * _UNITS[match[2] or ""]
