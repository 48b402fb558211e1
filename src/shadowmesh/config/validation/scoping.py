"""Checks on the fields that scope a resource: gateways, exportTo, workload selectors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shadowmesh.config.validation.checks import is_dns1123_label, validate_fqdn
from shadowmesh.config.validation.gofmt import quote

# (level, message) pairs, for checks that can warn as well as refuse
Findings = list[tuple[str, str]]


def validate_gateway_names(names: Sequence[str]) -> Findings:
    """`namespace/name`, or a bare name (legacy `name.namespace` warns)."""
    findings: Findings = []
    for name in names:
        namespace, slash, gateway = name.partition("/")
        if not slash:
            if "." in name:
                parts = name.split(".")
                recommended = f"{parts[1]}/{parts[0]}"
                findings.append(
                    (
                        "warning",
                        f"using legacy gatewayName format {quote(name)}; "
                        f"prefer the <namespace>/<name> format: {quote(recommended)}",
                    )
                )
            problem = validate_fqdn(name)
            if problem:
                findings.append(("error", problem))
            # Istio stops at the first name without a slash
            return findings
        if not namespace or not gateway:
            findings.append(("error", "config namespace and gateway name cannot be empty"))
        if not is_dns1123_label(namespace):
            findings.append(("error", f"invalid value for namespace: {quote(namespace)}"))
        if not is_dns1123_label(gateway):
            findings.append(("error", f"invalid value for gateway name: {quote(gateway)}"))
    return findings


def validate_export_to(
    namespace: str,
    export_to: Sequence[str],
    *,
    service_entry: bool = False,
    selector: bool = False,
) -> list[str]:
    problems: list[str] = []
    if not export_to:
        return problems
    seen: set[str] = set()
    for entry in export_to:
        key = namespace if entry == "." else entry
        if key in seen:
            if key != entry:
                problems.append(
                    f"duplicate entries in exportTo: . and current namespace {namespace}"
                )
            else:
                problems.append(f"duplicate entries in exportTo for entry {entry}")
        elif service_entry and entry == "~":
            # a ServiceEntry may hide itself from everyone but its own proxies
            seen.add(key)
        else:
            problem = _visibility_problem(key)
            if problem:
                problems.append(problem)
            else:
                seen.add(key)
    if selector and seen:
        if namespace in seen:
            if len(seen) > 1:
                problems.append(
                    "destination rule with workload selector cannot have multiple entries "
                    "in exportTo"
                )
        else:
            problems.append(
                "destination rule with workload selector cannot have exportTo beyond "
                "current namespace"
            )
    if "*" in seen and len(export_to) > 1:
        problems.append("cannot have both public (*) and non-public exportTo values for a resource")
    if "~" in seen and len(export_to) > 1:
        problems.append("cannot export service entry to no one (~) and someone")
    return problems


def _visibility_problem(value: str) -> str | None:
    if value in (".", "*"):
        return None
    if value == "~":
        return "exportTo ~ (none) is not allowed for Istio configuration objects"
    if not is_dns1123_label(value):
        return "only .,*, or a valid DNS 1123 label is allowed as exportTo entry"
    return None


def validate_selector_labels(labels: Mapping[str, str] | None, *, what: str) -> Findings:
    """A workload selector's labels: no empty keys, no wildcards; empty warns.

    `what` prefixes the warning as Istio does ("service entry", ...); None means the
    plain `workload selector specified without labels` of the typed selectors.
    """
    findings: Findings = []
    for key, value in (labels or {}).items():
        pair = quote(f"{key}={value}")
        if key == "":
            findings.append(("error", f"empty key is not supported in selector: {pair}"))
        if "*" in key or "*" in value:
            findings.append(("error", f"wildcard is not supported in selector: {pair}"))
    if not labels:
        warning = "workload selector specified without labels"
        if what:
            warning = f"{what}: {warning}, will be applied to all services in namespace"
        findings.append(("warning", warning))
    return findings
