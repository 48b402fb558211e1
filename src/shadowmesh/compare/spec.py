"""A Comparison resource as the engine uses it: defaults applied, expressions compiled.

Defaults: every mirror of the host is a candidate; no noise copy; ignored headers are
`headers.DEFAULT_IGNORED` plus the spec's; array order strict; Diffy's thresholds
(relative 20%, absolute 0.03%); endpoints inferred; 256Ki of each body; 20 samples per
endpoint and field; `authorization`, `cookie`, `set-cookie` and `proxy-authorization`
redacted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from shadowmesh.compare.endpoints import EndpointRule
from shadowmesh.compare.headers import DEFAULT_IGNORED
from shadowmesh.compare.paths import compile_path
from shadowmesh.config.hosts import resolve_host
from shadowmesh.config.models import Comparison, VirtualService
from shadowmesh.config.models.comparison import byte_quantity
from shadowmesh.config.resource import Resource

DEFAULT_BODY_LIMIT: Final = 256 << 10
DEFAULT_SAMPLES: Final = 20
DEFAULT_RELATIVE: Final = 20.0
DEFAULT_ABSOLUTE: Final = 0.03
DEFAULT_NOISE_PERCENTAGE: Final = 10.0
DEFAULT_REDACTED_HEADERS: Final = frozenset(
    {"authorization", "cookie", "set-cookie", "proxy-authorization"})


@dataclass(frozen=True)
class CompareSpec:
    namespace: str
    name: str
    host: str  # FQDN
    services: frozenset[str]  # primary destination services whose outcomes this compares
    candidate_host: str | None = None  # FQDN; None: any mirror destination
    candidate_subset: str | None = None
    noise_subset: str | None = None
    noise_percentage: float = 0.0
    ignored_headers: frozenset[str] = DEFAULT_IGNORED
    ignored_fields: tuple[Any, ...] = ()
    ignore_array_order: bool = False
    relative: float = DEFAULT_RELATIVE
    absolute: float = DEFAULT_ABSOLUTE
    endpoint_rules: tuple[EndpointRule, ...] = ()
    body_limit: int = DEFAULT_BODY_LIMIT
    samples: int = DEFAULT_SAMPLES
    redacted_headers: frozenset[str] = DEFAULT_REDACTED_HEADERS
    redacted_fields: tuple[Any, ...] = ()
    document: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    def is_candidate(self, service: str, subset: str | None) -> bool:
        if self.candidate_host is not None and service != self.candidate_host:
            return False
        return self.candidate_subset is None or subset == self.candidate_subset

    def summary(self) -> dict[str, Any]:
        """What the report shows about the spec (fields of a comparison's summary)."""
        ignore = self.document.get("ignore") or {}
        return {
            "host": self.host,
            "candidate": {"service": self.candidate_host or self.host,
                          "subset": self.candidate_subset},
            "noise": None if self.noise_subset is None else {
                "service": self.host, "subset": self.noise_subset,
                "percentage": self.noise_percentage},
            "thresholds": {"relative": self.relative, "absolute": self.absolute},
            "samples": self.samples,
            # What the spec ignores now: the report leaves these out at read time, so an
            # ignore added later applies to the pairs already counted as well.
            "ignore": {"fields": [str(f) for f in ignore.get("fields") or []],
                       "headers": [str(h).lower() for h in ignore.get("headers") or []]},
        }


def _services_for(host: str, resources: Sequence[Resource]) -> frozenset[str]:
    """The host itself and every primary destination of the routes of its VirtualServices."""
    found = {host}
    for res in resources:
        vs = res.spec
        if not isinstance(vs, VirtualService):
            continue
        ns = res.metadata.namespace
        if host not in {resolve_host(h, ns) for h in vs.hosts}:
            continue
        for route in vs.http:
            for dest in route.route:
                if dest.destination is not None and dest.destination.host:
                    found.add(resolve_host(dest.destination.host, ns))
    return frozenset(found)


def build_spec(res: Resource, resources: Sequence[Resource]) -> CompareSpec:
    spec = res.spec
    assert isinstance(spec, Comparison)
    ns = res.metadata.namespace
    host = resolve_host(spec.host or "", ns)
    from shadowmesh.routing.matchers import compile_string_match

    rules = tuple(
        EndpointRule(
            name=rule.name or f"endpoint-{index}",
            method=rule.method,
            uri=compile_string_match(rule.uri) if rule.uri is not None else None,
        )
        for index, rule in enumerate(spec.endpoints)
    )
    ignore, redact, capture = spec.ignore, spec.redact, spec.capture
    thresholds, noise, candidate = spec.thresholds, spec.noise, spec.candidate
    from shadowmesh.admin.serialize import dump_value

    return CompareSpec(
        namespace=ns,
        name=res.metadata.name,
        host=host,
        services=_services_for(host, resources),
        candidate_host=resolve_host(candidate.host, ns)
        if candidate is not None and candidate.host else None,
        candidate_subset=candidate.subset if candidate is not None else None,
        noise_subset=noise.subset if noise is not None else None,
        noise_percentage=(noise.percentage or DEFAULT_NOISE_PERCENTAGE)
        if noise is not None else 0.0,
        ignored_headers=DEFAULT_IGNORED | {h.lower() for h in (ignore.headers if ignore else ())},
        ignored_fields=tuple(compile_path(f) for f in (ignore.fields if ignore else ())),
        ignore_array_order=spec.array_order == "ignore",
        relative=thresholds.relative if thresholds and thresholds.relative is not None
        else DEFAULT_RELATIVE,
        absolute=thresholds.absolute if thresholds and thresholds.absolute is not None
        else DEFAULT_ABSOLUTE,
        endpoint_rules=rules,
        body_limit=byte_quantity(capture.body_limit)
        if capture is not None and capture.body_limit is not None else DEFAULT_BODY_LIMIT,
        samples=capture.samples if capture is not None and capture.samples is not None
        else DEFAULT_SAMPLES,
        redacted_headers=DEFAULT_REDACTED_HEADERS
        | {h.lower() for h in (redact.headers if redact else ())},
        redacted_fields=tuple(compile_path(f) for f in (redact.fields if redact else ())),
        document=dump_value(spec),
    )


def build_specs(resources: Sequence[Resource]) -> list[CompareSpec]:
    return [build_spec(r, resources) for r in resources if isinstance(r.spec, Comparison)]


def capture_limits(specs: Sequence[CompareSpec]) -> dict[str, int]:
    """service FQDN -> bytes of each body to capture (the largest any Comparison asks)."""
    limits: dict[str, int] = {}
    for spec in specs:
        for service in spec.services:
            limits[service] = max(limits.get(service, 0), spec.body_limit)
    return limits
