"""Locality load balancing: Istio's `ValidateLocalityLbSetting` and `ValidateZoneAwareLbSetting`.

A locality is `region/zone/subzone`; `distribute` weights traffic across localities and
`failover` / `failoverPriority` order them when endpoints fail (which needs outlier detection
to notice the failures).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from shadowmesh.config.models.destination_rule import (
    LocalityLoadBalancerSetting,
    OutlierDetection,
    ZoneAwareLoadBalancerSetting,
)
from shadowmesh.config.validation.scoping import Findings

TOPOLOGY_LABELS: Final = (
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
    "topology.istio.io/subzone",
)
NEEDS_OUTLIER_DETECTION: Final = "outlier detection policy must be provided for failover"


def locality_lb_findings(
    setting: LocalityLoadBalancerSetting, outlier: OutlierDetection | None
) -> Findings:
    if setting.distribute and setting.failover:
        return [("error", "can not simultaneously specify 'distribute' and 'failover'")]
    if setting.failover:
        for label in setting.failover_priority:
            if label in TOPOLOGY_LABELS:
                return [
                    (
                        "error",
                        "can not simultaneously set 'failover' and topology label "
                        f"'{label}' in 'failover_priority'",
                    )
                ]
    findings: Findings = []
    for entry in setting.distribute:
        weights = dict(entry.to or {})
        if any(weight <= 0 or weight > 100 for weight in weights.values()):
            return [*findings, ("error", "locality weight must be in range [1, 100]")]
        total = sum(weights.values())
        if total != 100:
            return [*findings, ("error", f"total locality weight {total} != 100")]
        findings += _localities(list(weights))
    findings += _localities([entry.from_ for entry in setting.distribute])
    if (setting.failover or setting.failover_priority) and outlier is None:
        findings.append(("warning", NEEDS_OUTLIER_DETECTION))
    for failover in setting.failover:
        if failover.from_ == failover.to:
            findings.append(
                ("error", "locality lb failover settings must specify different regions")
            )
        if "/" in failover.from_ or "/" in failover.to:
            findings.append(("error", "locality lb failover only specify region"))
        if "*" in failover.from_ or "*" in failover.to:
            findings.append(
                ("error", "locality lb failover region should not contain '*' wildcard")
            )
    return findings


def zone_aware_lb_findings(
    setting: ZoneAwareLoadBalancerSetting, outlier: OutlierDetection | None
) -> Findings:
    findings: Findings = []
    for label in setting.failover_priority:
        if label in TOPOLOGY_LABELS:
            findings.append(
                (
                    "error",
                    f"'failover_priority' for zone aware lb must not use topology label '{label}'; "
                    "region- and zone-level routing are handled automatically",
                )
            )
    if (setting.failover or setting.failover_priority) and outlier is None:
        findings.append(("warning", NEEDS_OUTLIER_DETECTION))
    for failover in setting.failover:
        if failover.from_ == failover.to:
            findings.append(
                ("error", "zone aware lb failover settings must specify different regions")
            )
        if "/" in failover.from_ or "/" in failover.to:
            findings.append(
                (
                    "error",
                    "zone aware lb failover only specifies region; zone and subzone failover "
                    "are handled automatically",
                )
            )
        if "*" in failover.from_ or "*" in failover.to:
            findings.append(
                ("error", "zone aware lb failover region should not contain '*' wildcard")
            )
    return findings


def _localities(localities: Sequence[str]) -> Findings:
    """Istio's `validateLocalities`: well formed, one trailing `*` at most, no overlaps."""
    # region -> zone -> subzones; "*" stands for "all of them"
    seen: dict[str, dict[str, set[str]]] = {}
    for locality in localities:
        overlap = [("error", f"locality {locality} overlap with previous specified ones")]
        stars = locality.count("*")
        if stars and (stars > 1 or not locality.endswith("*")):
            return [
                (
                    "error",
                    f"locality {locality} wildcard '*' number can not exceed 1 and must be in "
                    "the end",
                )
            ]
        if "*" in seen:
            return overlap
        parts = locality.split("/", 2)
        if any(part == "" for part in parts):
            return [
                ("error", f"locality {locality} must not contain empty region/zone/subzone info")
            ]
        region = parts[0]
        zones = seen.get(region)
        if len(parts) == 1:
            if zones is not None:
                return overlap
            seen[region] = {"*": {"*"}}
            continue
        zone = parts[1]
        if zones is None:
            seen[region] = {zone: {parts[2] if len(parts) == 3 else "*"}}
            continue
        if "*" in zones:
            return overlap
        if len(parts) == 2:
            if zone in zones:
                return overlap
            zones[zone] = {"*"}
            continue
        subzones = zones.get(zone)
        if subzones is None:
            zones[zone] = {parts[2]}
        elif "*" in subzones or parts[2] in subzones:
            return overlap
        else:
            subzones.add(parts[2])
    return []
