"""Istio's validation rules and messages, plus `istioctl analyze`-style checks over a set.

    validate(resources) -> list[Issue]
    validate_webhook(resource) -> list[Issue]     one resource, as Istio's webhook sees it

Per resource: the admission webhook's checks (`pkg/config/validation`), with Istio's exact
wording. Over the set: duplicates, references to missing subsets, hosts and gateways, and
unknown `shadowmesh.io/` annotations. Last, shadowmesh's own notes on settings it accepts but
does not act on (TCP/TLS routes, localities, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from shadowmesh.config.issues import Issue
from shadowmesh.config.models import (
    Comparison,
    DestinationRule,
    Gateway,
    ServiceEntry,
    VirtualService,
    WorkloadEntry,
)
from shadowmesh.config.resource import Resource
from shadowmesh.config.validation.analyzers import analyze
from shadowmesh.config.validation.comparison import analyze_comparisons, validate_comparison
from shadowmesh.config.validation.destination_rule import validate_destination_rule
from shadowmesh.config.validation.gateway import validate_gateway
from shadowmesh.config.validation.report import Report
from shadowmesh.config.validation.service_entry import (
    validate_service_entry,
    validate_workload_entry,
)
from shadowmesh.config.validation.unsupported import unsupported
from shadowmesh.config.validation.virtual_service import validate_virtual_service

_VALIDATORS: dict[type[Any], Callable[[Report, Any], None]] = {
    VirtualService: validate_virtual_service,
    DestinationRule: validate_destination_rule,
    ServiceEntry: validate_service_entry,
    WorkloadEntry: validate_workload_entry,
    Gateway: validate_gateway,
    Comparison: validate_comparison,
}


def validate_each(resources: Sequence[Resource]) -> list[list[Issue]]:
    """The issues of each resource, in the order of `resources`."""
    reports = [Report(resource) for resource in resources]
    for report in reports:
        _VALIDATORS[type(report.resource.spec)](report, report.resource.spec)
    analyze(reports)
    unsupported(reports)
    analyze_comparisons(reports)
    return [report.issues for report in reports]


def validate_webhook(resource: Resource) -> list[Issue]:
    """The admission webhook's verdict on one resource alone: no checks across the set."""
    report = Report(resource)
    _VALIDATORS[type(resource.spec)](report, resource.spec)
    return report.issues


def validate(resources: Sequence[Resource]) -> list[Issue]:
    """Every issue of every resource, in the order of `resources`."""
    return [issue for issues in validate_each(resources) for issue in issues]


__all__ = ["Report", "validate", "validate_each", "validate_webhook"]
