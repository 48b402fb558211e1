"""Comparison validation: each field on its own, then whether anything mirrors its host.

Messages name the field as the document spelled it, like the Istio kinds' messages. A
Comparison whose host no VirtualService mirrors is valid (the VirtualService may come
later) but compares nothing: that is a warning.
"""

from __future__ import annotations

from collections.abc import Sequence

from shadowmesh.config.hosts import resolve_host
from shadowmesh.config.models import Comparison, VirtualService
from shadowmesh.config.models.comparison import EndpointRule, byte_quantity
from shadowmesh.config.validation.checks import (
    validate_header_name,
    validate_string_match,
    validate_subset_name,
    validate_wildcard_domain,
)
from shadowmesh.config.validation.gofmt import quote
from shadowmesh.config.validation.report import SPEC, FieldPath, Report

ARRAY_ORDERS = ("strict", "ignore")
MAX_BODY_LIMIT = 64 << 20
MAX_SAMPLES = 1000
HTTP_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789"
                       "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def validate_comparison(report: Report, spec: Comparison) -> None:
    host_path = SPEC.field(spec, "host")
    if not spec.host:
        report.error(host_path, "host is required: the VirtualService host whose mirrored "
                                "traffic is compared")
    elif "*" in spec.host:
        report.error(host_path, f"host {quote(spec.host)} must not be a wildcard: a "
                                "Comparison compares one service")
    else:
        report.error(host_path, validate_wildcard_domain(spec.host))
    if spec.candidate is not None and spec.candidate.subset is not None:
        report.error(SPEC.field(spec, "candidate").field(spec.candidate, "subset"),
                     validate_subset_name(spec.candidate.subset))
    if spec.noise is not None:
        path = SPEC.field(spec, "noise")
        if not spec.noise.subset:
            report.error(path.field(spec.noise, "subset"),
                         "noise.subset is required: the primary's own version to send the "
                         "noise copy to")
        else:
            report.error(path.field(spec.noise, "subset"), validate_subset_name(spec.noise.subset))
        pct = spec.noise.percentage
        if pct is not None and not 0 < pct <= 100:
            report.error(path.field(spec.noise, "percentage"),
                         f"percentage must be in (0, 100], got {pct:g}")
    for group_name in ("ignore", "redact"):
        group = getattr(spec, group_name)
        if group is None:
            continue
        path = SPEC.field(spec, group_name)
        _header_names(report, path.field(group, "headers"), group.headers)
        _json_paths(report, path.field(group, "fields"), group.fields)
    if spec.array_order is not None and spec.array_order not in ARRAY_ORDERS:
        report.error(SPEC.field(spec, "array_order"),
                     f"arrayOrder must be one of {', '.join(ARRAY_ORDERS)}, "
                     f"got {quote(spec.array_order)}")
    if spec.thresholds is not None:
        path = SPEC.field(spec, "thresholds")
        for name in ("relative", "absolute"):
            value = getattr(spec.thresholds, name)
            if value is not None and not 0 <= value <= 100:
                report.error(path.field(spec.thresholds, name),
                             f"{name} threshold is a percentage in [0, 100], got {value:g}")
    _endpoints(report, spec)
    if spec.capture is not None:
        path = SPEC.field(spec, "capture")
        if spec.capture.body_limit is not None:
            limit_path = path.field(spec.capture, "body_limit")
            try:
                limit = byte_quantity(spec.capture.body_limit)
            except ValueError as exc:
                report.error(limit_path, str(exc))
            else:
                if not 0 < limit <= MAX_BODY_LIMIT:
                    report.error(limit_path, f"bodyLimit must be between 1 byte and 64Mi, "
                                             f"got {limit} bytes")
        samples = spec.capture.samples
        if samples is not None and not 0 <= samples <= MAX_SAMPLES:
            report.error(path.field(spec.capture, "samples"),
                         f"samples must be between 0 and {MAX_SAMPLES}, got {samples}")


def _header_names(report: Report, path: FieldPath, names: Sequence[str]) -> None:
    for index, name in enumerate(names):
        report.error(path.at(index), validate_header_name(name))


def _json_paths(report: Report, path: FieldPath, expressions: Sequence[str]) -> None:
    from shadowmesh.compare.paths import JsonPathError, compile_path

    for index, expression in enumerate(expressions):
        try:
            compile_path(expression)
        except JsonPathError as exc:
            report.error(path.at(index), str(exc))


def _endpoints(report: Report, spec: Comparison) -> None:
    path = SPEC.field(spec, "endpoints")
    seen: set[str] = set()
    for index, rule in enumerate(spec.endpoints):
        here = path.at(index)
        if not rule.name:
            report.error(here.field(rule, "name"), "endpoint name is required")
        elif rule.name in seen:
            report.error(here.field(rule, "name"), f"duplicate endpoint name {quote(rule.name)}")
        else:
            seen.add(rule.name)
        if rule.method is not None and (not rule.method or set(rule.method) - HTTP_TOKEN):
            report.error(here.field(rule, "method"), f"invalid method {quote(rule.method)}")
        _uri(report, here, rule)


def _uri(report: Report, here: FieldPath, rule: EndpointRule) -> None:
    if rule.uri is None:
        return
    report.error(here.field(rule, "uri"), validate_string_match(rule.uri, "uri"))


def analyze_comparisons(reports: Sequence[Report]) -> None:
    """Warn about Comparisons that nothing mirrors, or whose candidate is not mirrored."""
    mirrored: dict[str, set[str | None]] = {}  # host FQDN -> mirror subsets
    for report in reports:
        vs = report.resource.spec
        if not isinstance(vs, VirtualService):
            continue
        ns = report.resource.namespace
        for route in vs.http:
            targets = [route.mirror] if route.mirror is not None else []
            targets += [p.destination for p in route.mirrors if p.destination is not None]
            if not targets:
                continue
            for host in vs.hosts:
                subsets = mirrored.setdefault(resolve_host(host, ns), set())
                subsets.update(t.subset for t in targets)
    for report in reports:
        spec = report.resource.spec
        if not isinstance(spec, Comparison) or not spec.host:
            continue
        host = resolve_host(spec.host, report.resource.namespace)
        mirror_subsets = mirrored.get(host)
        if mirror_subsets is None:
            report.warning(SPEC.field(spec, "host"),
                           f"no VirtualService mirrors traffic for host {quote(spec.host)}: "
                           "nothing will be compared until one does")
        elif (spec.candidate is not None and spec.candidate.subset is not None
              and spec.candidate.subset not in mirror_subsets):
            report.warning(SPEC.field(spec, "candidate").field(spec.candidate, "subset"),
                           f"no mirror of host {quote(spec.host)} goes to subset "
                           f"{quote(spec.candidate.subset)}")
