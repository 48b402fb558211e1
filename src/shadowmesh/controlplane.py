"""The control plane: which Istio resources are in force, and pushing them to the data planes.

Configuration comes from files (`-f`, re-read on change or SIGHUP) and from the admin API
(`apply`/`delete`, kept as an overlay on top of the files, like objects applied to a cluster).
Every change is validated as a whole set first; a set with any error is rejected with Istio's
messages and the configuration in force does not change. Accepted sets are compiled and pushed
to every data plane (in-process, or worker processes through a pipe).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shadowmesh.admin.contract import ApplyResult
from shadowmesh.config import Issue, Resource, load_paths, load_text, validate
from shadowmesh.config.documents import expand_paths
from shadowmesh.routing.compile import CompileOptions, compile_table
from shadowmesh.routing.table import RoutingTable
from shadowmesh.telemetry.snapshot import TelemetrySnapshot

log = logging.getLogger("shadowmesh")

Key = tuple[str, str, str]  # kind, namespace, name


class DataPlaneLink(Protocol):
    """A data plane the control plane feeds: in this process, or a worker process."""

    def push(self, resources: Sequence[Resource], table: RoutingTable) -> None: ...
    async def snapshot(self) -> TelemetrySnapshot: ...


@dataclass(frozen=True)
class _Change:
    ok: bool
    issues: list[Issue]


def _key(res: Resource) -> Key:
    return (res.kind, res.metadata.namespace, res.metadata.name)


def _dedupe(issues: Sequence[Issue]) -> list[Issue]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for issue in issues:
        ident = (issue.level, issue.message, issue.file, issue.document, issue.path)
        if ident not in seen:
            seen.add(ident)
            out.append(issue)
    return out


def _kubectl_name(res: Resource) -> str:
    group = res.api_version.rpartition("/")[0] or "networking.istio.io"  # Comparison: shadowmesh.io
    return f"{res.kind.lower()}.{group}/{res.metadata.name}"


class ControlPlane:
    def __init__(self, paths: Sequence[str], options: CompileOptions) -> None:
        self.paths = list(paths)
        self.options = options
        self.links: list[DataPlaneLink] = []
        self._files: dict[Key, Resource] = {}
        self._applied: dict[Key, Resource] = {}
        self._deleted: set[Key] = set()
        self._counts = {"ok": 0, "rejected": 0}
        self._ready = False
        self._mtimes: dict[str, float] = {}
        self.table: RoutingTable | None = None
        self.on_issues: Callable[[list[Issue]], None] = _log_issues
        # called with the resources in force after each accepted change (comparisons)
        self.on_change: list[Callable[[list[Resource]], None]] = []
        self.compare: Any = None  # the comparison reports (shadowmesh.compare), when on

    # -- ControlPlaneAPI ------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self._ready

    def set_ready(self) -> None:
        self._ready = True

    def resources(self) -> list[Resource]:
        return list(self._effective().values())

    def reload_counts(self) -> dict[str, int]:
        return dict(self._counts)

    def apply_text(self, text: str, source: str) -> ApplyResult:
        # The whole resulting set is validated in _commit; validating the posted documents
        # alone would report references to resources that live in the files.
        loaded = load_text(text, source, validate=False)
        if not loaded.ok:
            self._counts["rejected"] += 1
            return ApplyResult(ok=False, issues=loaded.issues)
        effective = self._effective()
        changed = []
        applied = dict(self._applied)
        deleted = set(self._deleted)
        for res in loaded.resources:
            key = _key(res)
            old = effective.get(key)
            if old is None:
                verb = "created"
            elif old.spec == res.spec and old.metadata == res.metadata:
                verb = "unchanged"
            else:
                verb = "configured"
            changed.append(f"{_kubectl_name(res)} {verb}")
            applied[key] = res
            deleted.discard(key)
        change = self._commit(self._files, applied, deleted)
        issues = _dedupe([*loaded.issues, *change.issues])
        return ApplyResult(ok=change.ok, issues=issues, changed=changed if change.ok else [])

    def delete(self, kind: str, namespace: str, name: str) -> ApplyResult:
        key = (kind, namespace, name)
        if key not in self._effective():
            issue = Issue("error", f'{kind} "{name}" not found in namespace "{namespace}"')
            return ApplyResult(ok=False, issues=[issue])
        applied = dict(self._applied)
        applied.pop(key, None)
        deleted = set(self._deleted) | {key}
        change = self._commit(self._files, applied, deleted)
        res_name = f"{kind.lower()}.networking.istio.io/{name} deleted"
        return ApplyResult(ok=change.ok, issues=change.issues,
                           changed=[res_name] if change.ok else [])

    def config_dump(self) -> dict[str, Any]:
        table = self.table
        clusters = []
        if table is not None:
            for spec in table.clusters.values():
                clusters.append({
                    "name": spec.name,
                    "service": spec.service,
                    "subset": spec.subset,
                    "port": spec.port,
                    "policy": _plain(spec.policy),
                    "endpoints": [
                        {"address": ep.host_port, "workload": ep.workload,
                         "labels": dict(ep.labels)}
                        for ep in spec.endpoints
                    ],
                })
        return {
            "version": table.version if table is not None else 0,
            "resources": [
                {
                    "apiVersion": res.api_version,
                    "kind": res.kind,
                    "metadata": {"name": res.metadata.name, "namespace": res.metadata.namespace,
                                 "annotations": dict(res.metadata.annotations)},
                    "spec": res.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
                    "source": res.source.file,
                }
                for res in self.resources()
            ],
            "clusters": clusters,
            "listeners": [
                {"context": ls.context, "address": f"{ls.host}:{ls.port}"}
                for ls in (table.gateway_listeners if table is not None else ())
            ],
        }

    async def telemetry_snapshots(self) -> list[TelemetrySnapshot]:
        return [await link.snapshot() for link in self.links]

    # -- files ------------------------------------------------------------------------------
    def load_files(self) -> _Change:
        """(Re)read the `-f` paths; on success they replace the file layer."""
        loaded = load_paths(self.paths, validate=False)
        self._mtimes = self._scan()
        if not loaded.ok:
            self._counts["rejected"] += 1
            self.on_issues(loaded.issues)
            return _Change(False, loaded.issues)
        files = {_key(res): res for res in loaded.resources}
        change = self._commit(files, self._applied, self._deleted)
        if change.ok:
            self.on_issues([i for i in _dedupe([*loaded.issues, *change.issues])])
        return _Change(change.ok, _dedupe([*loaded.issues, *change.issues]))

    def files_changed(self) -> bool:
        return self._scan() != self._mtimes

    def _scan(self) -> dict[str, float]:
        seen: dict[str, float] = {}
        files, _ = expand_paths(self.paths)
        for f in files:
            try:
                seen[str(f)] = os.stat(f).st_mtime_ns
            except OSError:
                continue
        return seen

    # -- committing -------------------------------------------------------------------------
    def _effective(self, files: dict[Key, Resource] | None = None,
                   applied: dict[Key, Resource] | None = None,
                   deleted: set[Key] | None = None) -> dict[Key, Resource]:
        files = self._files if files is None else files
        applied = self._applied if applied is None else applied
        deleted = self._deleted if deleted is None else deleted
        merged = {k: v for k, v in files.items() if k not in deleted}
        merged.update(applied)
        return merged

    def _commit(self, files: dict[Key, Resource], applied: dict[Key, Resource],
                deleted: set[Key]) -> _Change:
        merged = self._effective(files, applied, deleted)
        resources = list(merged.values())
        issues = _dedupe(validate(resources))
        if any(issue.is_error for issue in issues):
            self._counts["rejected"] += 1
            self.on_issues(issues)
            return _Change(False, issues)
        try:
            table = compile_table(resources, self.options)
        except Exception as exc:  # a compile bug must never take down the config in force
            log.exception("compiling the configuration failed")
            self._counts["rejected"] += 1
            return _Change(False, [Issue("error", f"internal error compiling config: {exc}")])
        self._files, self._applied, self._deleted = files, applied, deleted
        self.table = table
        for link in self.links:
            link.push(resources, table)
        for listener in self.on_change:
            listener(resources)
        self._counts["ok"] += 1
        return _Change(True, issues)


def _plain(obj: Any) -> Any:
    from dataclasses import asdict, is_dataclass

    if is_dataclass(obj) and not isinstance(obj, type):
        return {k: v for k, v in asdict(obj).items() if v is not None}
    return obj


def _log_issues(issues: list[Issue]) -> None:
    for issue in issues:
        log.log(logging.ERROR if issue.is_error else logging.WARNING, "%s", issue)
