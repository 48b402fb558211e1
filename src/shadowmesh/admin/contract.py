"""What the admin API needs from the control plane, and what an apply answers.

`shadowmesh.controlplane.ControlPlane` provides `ControlPlaneAPI`; the admin app is typed
against this Protocol only, so tests can drive it with a small in-memory double.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from shadowmesh.config import Issue, Resource
    from shadowmesh.telemetry.snapshot import TelemetrySnapshot


@dataclass(frozen=True)
class ApplyResult:
    """The outcome of an apply or delete, all or nothing.

    `changed` reads like kubectl: `virtualservice.networking.istio.io/httpbin configured`
    (or `created`, `unchanged`, `deleted`). When `ok` is false nothing changed and `issues`
    holds at least one error; when true it may still hold warnings.
    """

    ok: bool
    issues: list[Issue] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


class ControlPlaneAPI(Protocol):
    @property
    def ready(self) -> bool:
        """Configuration loaded and listeners up."""
        ...

    def resources(self) -> list[Resource]:
        """The configuration in force."""
        ...

    def apply_text(self, text: str, source: str) -> ApplyResult:
        """Validate YAML/JSON documents and, only if valid, create or replace them."""
        ...

    def delete(self, kind: str, namespace: str, name: str) -> ApplyResult: ...

    def config_dump(self) -> dict[str, Any]:
        """The effective configuration and the resolved endpoints, as JSON-able data."""
        ...

    def reload_counts(self) -> dict[str, int]:
        """{"ok": n, "rejected": m}: configuration changes taken and refused so far."""
        ...

    async def telemetry_snapshots(self) -> list[TelemetrySnapshot]:
        """One snapshot per worker process."""
        ...
