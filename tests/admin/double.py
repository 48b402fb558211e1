"""An in-memory `ControlPlaneAPI` for driving the admin app without a data plane.

It stores resources as simple stand-ins with the attributes the admin reads, validates one
rule the way Istio words it (mirror percentage above 100), and applies all or nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import yaml

from shadowmesh.admin.contract import ApplyResult
from shadowmesh.admin.kinds import UnknownKind, resolve_kind
from shadowmesh.telemetry.observer import Telemetry
from shadowmesh.telemetry.snapshot import TelemetrySnapshot


@dataclass(frozen=True)
class FakeMetadata:
    name: str
    namespace: str = "default"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FakeResource:
    api_version: str
    kind: str
    metadata: FakeMetadata
    spec: dict[str, Any]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.metadata.namespace, self.metadata.name)


@dataclass(frozen=True)
class FakeIssue:
    level: str
    message: str
    file: str | None = None
    document: str | None = None
    path: str | None = None
    code: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        parts = [self.level, *(p for p in (self.file, self.document, self.path) if p)]
        return ": ".join(parts) + ": " + self.message


def _validate(resource: FakeResource, source: str) -> list[FakeIssue]:
    issues = []
    label = f"{resource.kind} {resource.metadata.namespace}/{resource.metadata.name}"
    for i, rule in enumerate(resource.spec.get("http") or []):
        value = (rule.get("mirrorPercentage") or {}).get("value")
        if value is not None and value > 100:
            issues.append(
                FakeIssue(
                    "error",
                    f"mirror_percentage must have a max value of 100 (it has {value:f})",
                    source,
                    label,
                    f"spec.http[{i}].mirrorPercentage.value",
                )
            )
        if rule.get("mirrorPercent") is not None:
            issues.append(
                FakeIssue(
                    "warning",
                    'using deprecated setting "mirrorPercent", use "mirrorPercentage" instead',
                    source,
                    label,
                    f"spec.http[{i}].mirrorPercent",
                )
            )
    return issues


class FakeControlPlane:
    def __init__(self, telemetry: Telemetry | None = None) -> None:
        self.store: dict[tuple[str, str, str], FakeResource] = {}
        self.is_ready = True
        self.telemetry = telemetry or Telemetry()
        self.reloads = {"ok": 0, "rejected": 0}
        self.applied_sources: list[str] = []

    @property
    def ready(self) -> bool:
        return self.is_ready

    def resources(self) -> list[FakeResource]:
        return list(self.store.values())

    def apply_text(self, text: str, source: str) -> ApplyResult:
        self.applied_sources.append(source)
        parsed: list[FakeResource] = []
        issues: list[FakeIssue] = []
        for doc in yaml.safe_load_all(text):
            if not doc:
                continue
            try:
                kind = resolve_kind(doc["kind"]).kind
            except UnknownKind:
                issues.append(FakeIssue("error", f"unknown kind {doc['kind']}", source))
                continue
            meta = doc.get("metadata") or {}
            resource = FakeResource(
                doc["apiVersion"],
                kind,
                FakeMetadata(meta["name"], meta.get("namespace", "default")),
                doc.get("spec") or {},
            )
            issues += _validate(resource, source)
            parsed.append(resource)
        if any(issue.level == "error" for issue in issues):
            self.reloads["rejected"] += 1
            return ApplyResult(False, issues, [])  # type: ignore[arg-type]
        changed = []
        for resource in parsed:
            old = self.store.get(resource.key)
            verb = "created" if old is None else "unchanged" if old == resource else "configured"
            self.store[resource.key] = resource
            changed.append(f"{resolve_kind(resource.kind).ref(resource.metadata.name)} {verb}")
        self.reloads["ok"] += 1
        return ApplyResult(True, issues, changed)  # type: ignore[arg-type]

    def delete(self, kind: str, namespace: str, name: str) -> ApplyResult:
        resource = self.store.pop((kind, namespace, name), None)
        if resource is None:
            return ApplyResult(False, [FakeIssue("error", "not found")], [])  # type: ignore[list-item]
        return ApplyResult(True, [], [f"{resolve_kind(kind).ref(name)} deleted"])

    def config_dump(self) -> dict[str, Any]:
        return {"resources": len(self.store), "generated": time.time()}

    def reload_counts(self) -> dict[str, int]:
        return dict(self.reloads)

    async def telemetry_snapshots(self) -> list[TelemetrySnapshot]:
        # two "workers" seeing the same traffic, to exercise the merge
        snapshot = self.telemetry.snapshot()
        return [snapshot, snapshot]
