"""Checks across the whole set of resources, as `istioctl analyze` does.

The webhook validates one resource at a time; a route to a subset no DestinationRule
defines, or to a host nothing declares, only shows when the set is looked at together.
Istio reports these as analyzer messages (IST0101, IST0109, IST0112); shadowmesh reports
them as warnings, because a partial set (one file of many) is normal when validating.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from shadowmesh.config.annotations import KNOWN_ANNOTATIONS, is_shadowmesh_annotation
from shadowmesh.config.hosts import is_wildcard, resolve_host
from shadowmesh.config.models import Destination, DestinationRule, ServiceEntry, VirtualService
from shadowmesh.config.resource import Resource
from shadowmesh.config.validation.gofmt import quote, slice_v
from shadowmesh.config.validation.report import SPEC, FieldPath, Report

REFERENCED_RESOURCE_NOT_FOUND = "IST0101"
CONFLICTING_MESH_GATEWAY_HOSTS = "IST0109"
DESTINATION_PORT_SELECTOR_REQUIRED = "IST0112"


@dataclass(frozen=True, slots=True)
class _Reference:
    """A destination a VirtualService sends traffic to (a route or a mirror)."""

    destination: Destination
    path: FieldPath
    mirror: bool


def analyze(reports: Sequence[Report]) -> None:
    """Add cross-resource findings to each resource's report."""
    _duplicates(reports)
    _annotations(reports)
    services = [r for r in reports if isinstance(r.resource.spec, ServiceEntry)]
    rules = [r for r in reports if isinstance(r.resource.spec, DestinationRule)]
    gateways = {r.resource.key for r in reports if r.resource.kind == "Gateway"}
    subsets = _subsets(rules)
    for report in reports:
        vs = report.resource.spec
        if not isinstance(vs, VirtualService):
            continue
        for reference in _references(vs):
            _check_subset(report, reference, subsets)
            if services:  # without any ServiceEntry, hosts are assumed to be Kubernetes Services
                _check_host(report, reference, services)
        _check_gateways(report, vs, gateways)
    _mesh_host_conflicts(reports)


def _duplicates(reports: Sequence[Report]) -> None:
    first: dict[tuple[str, str, str], Resource] = {}
    for report in reports:
        resource = report.resource
        earlier = first.setdefault(resource.key, resource)
        if earlier is not resource:
            where = f"{earlier.source.file}, document {earlier.source.index + 1}"
            report.error(None, f"duplicate {resource.label} (first defined in {where})")


def _annotations(reports: Sequence[Report]) -> None:
    # The values are parsed where they are used; imported here to keep config free of
    # import-time dependencies on the data plane.
    from shadowmesh.mirror.settings import annotation_errors

    for report in reports:
        annotations = report.resource.metadata.annotations
        for key, message in annotation_errors(annotations):
            path = FieldPath("metadata.annotations").key(key)
            report.error(path, f"invalid value for {quote(key)}: {message}")
        for key in annotations:
            if is_shadowmesh_annotation(key) and key not in KNOWN_ANNOTATIONS:
                close = difflib.get_close_matches(key, KNOWN_ANNOTATIONS, n=1, cutoff=0.8)
                hint = (
                    f" (did you mean {quote(close[0])}?)"
                    if close
                    else f"; known: {', '.join(sorted(KNOWN_ANNOTATIONS))}"
                )
                path = FieldPath("metadata.annotations").key(key)
                report.warning(path, f"unknown shadowmesh annotation {quote(key)}{hint}")


def _references(vs: VirtualService) -> Iterator[_Reference]:
    for index, route in enumerate(vs.http):
        path = SPEC.field(vs, "http").at(index)
        for dest_index, dest in enumerate(route.route):
            if dest.destination is not None:
                dest_path = path.field(route, "route").at(dest_index).field(dest, "destination")
                yield _Reference(dest.destination, dest_path, mirror=False)
        if route.mirror is not None:
            yield _Reference(route.mirror, path.field(route, "mirror"), mirror=True)
        for mirror_index, policy in enumerate(route.mirrors):
            if policy.destination is not None:
                mirror_path = (
                    path.field(route, "mirrors").at(mirror_index).field(policy, "destination")
                )
                yield _Reference(policy.destination, mirror_path, mirror=True)


def _subsets(rules: Sequence[Report]) -> set[tuple[str, str]]:
    """(host FQDN, subset name) for every subset a DestinationRule defines."""
    found: set[tuple[str, str]] = set()
    for report in rules:
        rule = report.resource.spec
        assert isinstance(rule, DestinationRule)
        host = resolve_host(rule.host or "", report.resource.namespace)
        found.update((host, subset.name or "") for subset in rule.subsets)
    return found


def _covers(pattern: str, host: str) -> bool:
    return host.endswith(pattern[1:]) if is_wildcard(pattern) else pattern == host


def _check_subset(report: Report, reference: _Reference, subsets: set[tuple[str, str]]) -> None:
    destination = reference.destination
    if not destination.subset:
        return
    host = resolve_host(destination.host or "", report.resource.namespace)
    if any(name == destination.subset and _covers(pattern, host) for pattern, name in subsets):
        return
    what = "mirror+subset" if reference.mirror else "host+subset"
    report.warning(
        reference.path.field(destination, "subset"),
        f"Referenced {what} in destinationrule not found: "
        + quote(f"{destination.host}+{destination.subset}"),
        REFERENCED_RESOURCE_NOT_FOUND,
    )


def _check_host(report: Report, reference: _Reference, services: Sequence[Report]) -> None:
    destination = reference.destination
    host = resolve_host(destination.host or "", report.resource.namespace)
    entry: ServiceEntry | None = None
    for service in services:
        spec = service.resource.spec
        assert isinstance(spec, ServiceEntry)
        if any(_covers(resolve_host(h, service.resource.namespace), host) for h in spec.hosts):
            entry = spec
            break
    host_path = reference.path.field(destination, "host")
    if entry is None:
        what = "mirror host" if reference.mirror else "host"
        report.warning(
            host_path,
            f"Referenced {what} not found: {quote(destination.host or '')}",
            REFERENCED_RESOURCE_NOT_FOUND,
        )
        return
    numbers = [port.number for port in entry.ports]
    if destination.port is None:
        if len(numbers) > 1:
            report.warning(
                reference.path,
                f"This VirtualService routes to a service {quote(destination.host or '')} "
                f"that exposes multiple ports {slice_v(numbers)}. Specifying a port in the "
                "destination is required to disambiguate.",
                DESTINATION_PORT_SELECTOR_REQUIRED,
            )
    elif destination.port.number not in numbers:
        report.warning(
            reference.path.field(destination, "port"),
            "Referenced host:port not found: "
            + quote(f"{destination.host}:{destination.port.number}"),
            REFERENCED_RESOURCE_NOT_FOUND,
        )


def _check_gateways(
    report: Report, vs: VirtualService, gateways: set[tuple[str, str, str]]
) -> None:
    for index, name in enumerate(vs.gateways):
        if name == "mesh":
            continue
        namespace, slash, gateway = name.partition("/")
        if not slash:
            gateway, dot, namespace = name.partition(".")
            if not dot:
                namespace = report.resource.namespace
            namespace = namespace.split(".")[0]  # legacy name.namespace.svc.cluster.local
        if ("Gateway", namespace, gateway) not in gateways:
            report.warning(
                SPEC.field(vs, "gateways").at(index),
                f"Referenced gateway not found: {quote(name)}",
                REFERENCED_RESOURCE_NOT_FOUND,
            )


def _mesh_host_conflicts(reports: Sequence[Report]) -> None:
    """Two VirtualServices for one host on the mesh gateway: which one applies is undefined."""
    by_host: dict[str, list[Report]] = defaultdict(list)
    for report in reports:
        vs = report.resource.spec
        if not isinstance(vs, VirtualService) or (vs.gateways and "mesh" not in vs.gateways):
            continue
        for host in dict.fromkeys(resolve_host(h, report.resource.namespace) for h in vs.hosts):
            by_host[host].append(report)
    for host, group in by_host.items():
        # the same object twice is a duplicate, reported as such, not a conflict
        names = ",".join(dict.fromkeys(f"{r.resource.namespace}/{r.resource.name}" for r in group))
        if "," not in names:
            continue
        for report in group:
            assert isinstance(report.resource.spec, VirtualService)
            report.warning(
                SPEC.field(report.resource.spec, "hosts"),
                f"The VirtualServices {names} associated with mesh gateway define the same host "
                f"{host} which can lead to undefined behavior. This can be fixed by merging the "
                "conflicting VirtualServices into a single resource.",
                CONFLICTING_MESH_GATEWAY_HOSTS,
            )
