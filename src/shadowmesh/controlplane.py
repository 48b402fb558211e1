"""The control plane: which Istio resources are in force, and pushing them to the data planes.

Configuration comes from files (`-f`, re-read on change or SIGHUP) and from the admin API
(`apply`/`delete`, kept as an overlay on top of the files, like objects applied to a cluster).
Every change is validated as a whole set first; a set with any error is rejected with Istio's
messages and the configuration in force does not change. Accepted sets are compiled and pushed
to every data plane (in-process, or worker processes through a pipe), and only when every
one of them has taken it is it recorded as the configuration in force; if any data plane
fails or does not answer, all of them are handed the previous set again and the change is
rejected, so data planes never serve different configurations.

Changes may come from several threads (the admin's, the reload task's): they are serialized
by a lock, and readers see one immutable `_State` at a time. Changes block while the data
planes take them, so they must never be made on a data plane's own event loop thread other
than the one `LocalLink` recognises (the start-up load).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from shadowmesh.admin.contract import ApplyResult
from shadowmesh.config import Issue, Resource, load_paths, load_text, validate
from shadowmesh.config.documents import expand_paths
from shadowmesh.kubernetes.translate import validation_view
from shadowmesh.routing.compile import CompileOptions, compile_table
from shadowmesh.routing.table import RoutingTable
from shadowmesh.telemetry.snapshot import TelemetrySnapshot
from shadowmesh.tls import TLSConfigError, fingerprint

log = logging.getLogger("shadowmesh")

Key = tuple[str, str, str]  # kind, namespace, name


# How long every data plane together may take to install a new configuration.
PUSH_TIMEOUT_S = 10.0
# How long a data plane may take to answer a telemetry request.
SNAPSHOT_TIMEOUT_S = 5.0


class DataPlaneLink(Protocol):
    """A data plane the control plane feeds: in this process, or a worker process.

    Both calls return at once (from any thread); the future completes when the data plane
    has installed the configuration (or failed to), or with its snapshot."""

    def push(self, resources: Sequence[Resource],
             table: RoutingTable) -> concurrent.futures.Future[None]: ...
    def request_snapshot(self) -> concurrent.futures.Future[TelemetrySnapshot]: ...


@dataclass(frozen=True)
class _Change:
    ok: bool
    issues: list[Issue]


@dataclass(frozen=True)
class _State:
    files: dict[Key, Resource]
    applied: dict[Key, Resource]
    deleted: frozenset[Key]
    table: RoutingTable | None
    # from the API server (`run --kubernetes`), between the files and the applies
    kube: dict[Key, Resource] = field(default_factory=dict)


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


FileSignature = dict[str, tuple[int, int, int]]  # path -> (mtime_ns, size, inode)
# Certificate files are watched too, under this prefix: a renewed certificate (a mounted
# Kubernetes secret is swapped by a symlink rename, hence the inode) re-reads the set.
TLS_KEY = "tls:"
_CHANGED = (-1, -1, -1)


class ControlPlane:
    def __init__(self, paths: Sequence[str], options: CompileOptions) -> None:
        self.paths = list(paths)
        self.options = options
        self.links: list[DataPlaneLink] = []
        self.push_timeout = PUSH_TIMEOUT_S
        self._state = _State({}, {}, frozenset(), None)
        self._lock = threading.RLock()
        self.kubernetes: Any = None  # `run --kubernetes`: its source (status, metrics)
        self._counts = {"ok": 0, "rejected": 0}
        self._ready = False
        self._signature: FileSignature = {}
        self.on_issues: Callable[[list[Issue]], None] = _log_issues
        # called with the resources in force after each accepted change (comparisons)
        self.on_change: list[Callable[[list[Resource]], None]] = []
        self.compare: Any = None  # the comparison reports (shadowmesh.compare), when on

    @property
    def table(self) -> RoutingTable | None:
        return self._state.table

    # -- ControlPlaneAPI ------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self._ready

    def set_ready(self) -> None:
        self._ready = True

    def resources(self) -> list[Resource]:
        return list(self._effective(self._state).values())

    def reload_counts(self) -> dict[str, int]:
        return dict(self._counts)

    def apply_text(self, text: str, source: str) -> ApplyResult:
        # The whole resulting set is validated in _commit; validating the posted documents
        # alone would report references to resources that live in the files.
        loaded = load_text(text, source, validate=False)
        if not loaded.ok:
            self._counts["rejected"] += 1
            return ApplyResult(ok=False, issues=loaded.issues)
        with self._lock:
            return self._apply_loaded(loaded.resources, loaded.issues)

    def _apply_loaded(self, resources: list[Resource], load_issues: list[Issue]) -> ApplyResult:
        state = self._state
        effective = self._effective(state)
        changed = []
        applied = dict(state.applied)
        deleted = set(state.deleted)
        for res in resources:
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
        change = self._commit(state.files, applied, deleted)
        issues = _dedupe([*load_issues, *change.issues])
        return ApplyResult(ok=change.ok, issues=issues, changed=changed if change.ok else [])

    def delete(self, kind: str, namespace: str, name: str) -> ApplyResult:
        with self._lock:
            return self._delete(kind, namespace, name)

    def _delete(self, kind: str, namespace: str, name: str) -> ApplyResult:
        key = (kind, namespace, name)
        state = self._state
        if key not in self._effective(state):
            issue = Issue("error", f'{kind} "{name}" not found in namespace "{namespace}"')
            return ApplyResult(ok=False, issues=[issue])
        applied = dict(state.applied)
        applied.pop(key, None)
        deleted = set(state.deleted) | {key}
        change = self._commit(state.files, applied, deleted)
        res_name = f"{kind.lower()}.networking.istio.io/{name} deleted"
        return ApplyResult(ok=change.ok, issues=change.issues,
                           changed=[res_name] if change.ok else [])

    def config_dump(self) -> dict[str, Any]:
        state = self._state
        table = state.table
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
                for res in self._effective(state).values()
            ],
            "clusters": clusters,
            "listeners": [
                {"context": ls.context, "address": f"{ls.host}:{ls.port}"}
                for ls in (table.gateway_listeners if table is not None else ())
            ],
        }

    async def telemetry_snapshots(self) -> list[TelemetrySnapshot]:
        """One snapshot per data plane, all requested at once; one that does not answer
        in time counts as empty (taken_at 0)."""
        futures = [asyncio.wrap_future(link.request_snapshot()) for link in self.links]
        if not futures:
            return []
        done, _ = await asyncio.wait(futures, timeout=SNAPSHOT_TIMEOUT_S)
        out = []
        for future in futures:
            if future in done and not future.cancelled() and future.exception() is None:
                out.append(future.result())
            else:
                future.cancel()
                out.append(TelemetrySnapshot())
        return out

    # -- files ------------------------------------------------------------------------------
    def load_files(self) -> _Change:
        """(Re)read the `-f` paths as one set; on success they replace the file layer. A set
        that does not parse or validate is rejected as a whole (its messages logged) and the
        configuration in force stays."""
        with self._lock:
            signature = self.scan()
            loaded = load_paths(self.paths, validate=False)
            self._signature = signature
            if not loaded.ok:
                self._counts["rejected"] += 1
                self.on_issues(loaded.issues)
                return _Change(False, loaded.issues)
            files = {_key(res): res for res in loaded.resources}
            state = self._state
            change = self._commit(files, state.applied, set(state.deleted))
            if change.ok:
                self.on_issues([i for i in _dedupe([*loaded.issues, *change.issues])])
            return _Change(change.ok, _dedupe([*loaded.issues, *change.issues]))

    def files_changed(self) -> bool:
        return self.scan() != self._signature

    def scan(self) -> FileSignature:
        """Every configuration file's and every certificate file's (mtime, size, inode): what
        a change is detected by."""
        seen: FileSignature = {}
        files, _ = expand_paths(self.paths)
        for f in files:
            _stat_into(seen, str(f), str(f))
        for key in [k for k in self._signature if k.startswith(TLS_KEY)]:
            _stat_into(seen, key, key[len(TLS_KEY):])
        return seen

    def _watch_tls(self, table: RoutingTable) -> None:
        """After a change is in force: watch the files its TLS was built from. A file that no
        longer holds what was loaded (renewed between the read and now) is marked changed, so
        the next scan reloads rather than missing the renewal."""
        signature = {k: v for k, v in self._signature.items() if not k.startswith(TLS_KEY)}
        for files, loaded in table.tls_sources():
            try:
                stale = fingerprint(files) != loaded
            except TLSConfigError:
                stale = True
            for f in files:
                if f:
                    _stat_into(signature, TLS_KEY + f, f)
                    if stale:
                        signature[TLS_KEY + f] = _CHANGED
        self._signature = signature

    # -- Kubernetes -------------------------------------------------------------------------
    def set_kubernetes(self, resources: Sequence[Resource]) -> _Change:
        """Replace the layer that comes from the API server (between files and applies),
        all or nothing like every other change."""
        with self._lock:
            state = self._state
            kube = {_key(res): res for res in resources}
            return self._commit(state.files, state.applied, set(state.deleted), kube)

    # -- committing -------------------------------------------------------------------------
    @staticmethod
    def _effective(state: _State) -> dict[Key, Resource]:
        return _merge(state.files, state.applied, state.deleted, state.kube)

    def _commit(self, files: dict[Key, Resource], applied: dict[Key, Resource],
                deleted: set[Key], kube: dict[Key, Resource] | None = None) -> _Change:
        if kube is None:
            kube = self._state.kube
        merged = _merge(files, applied, deleted, kube)
        resources = list(merged.values())
        issues = _dedupe(validate([validation_view(r) for r in resources]))
        if any(issue.is_error for issue in issues):
            self._counts["rejected"] += 1
            self.on_issues(issues)
            return _Change(False, issues)
        try:
            table = compile_table(resources, self.options)
        except TLSConfigError as exc:  # a certificate file missing or unreadable
            self._counts["rejected"] += 1
            issues = [Issue("error", str(exc))]
            self.on_issues(issues)
            return _Change(False, issues)
        except Exception as exc:  # a compile bug must never take down the config in force
            log.exception("compiling the configuration failed")
            self._counts["rejected"] += 1
            return _Change(False, [Issue("error", f"internal error compiling config: {exc}")])
        failures = self._push(resources, table)
        if failures:
            previous = self._state
            if previous.table is not None:
                undo = self._push(list(self._effective(previous).values()), previous.table)
                for failure in undo:
                    log.error("restoring the previous configuration: %s", failure)
            self._counts["rejected"] += 1
            message = ("the configuration could not be installed on every data plane ("
                       + "; ".join(failures) + "); the previous configuration was restored "
                       "everywhere")
            log.error("%s", message)
            return _Change(False, [Issue("error", message)])
        self._state = _State(files, applied, frozenset(deleted), table, kube)
        self._watch_tls(table)
        for listener in self.on_change:
            try:
                listener(resources)
            except Exception:  # a listener's bug must not undo a change already in force
                log.exception("a configuration listener failed")
        self._counts["ok"] += 1
        return _Change(True, issues)

    def _push(self, resources: list[Resource], table: RoutingTable) -> list[str]:
        """Hand the set to every data plane at once and wait for all of them; what failed."""
        pending = []
        failures = []
        for index, link in enumerate(self.links):
            try:
                pending.append((index, link, link.push(resources, table)))
            except Exception as exc:
                failures.append(f"data plane {index}: {exc}")
        deadline = time.monotonic() + self.push_timeout
        for index, link, future in pending:
            try:
                future.result(timeout=max(0.0, deadline - time.monotonic()))
            except concurrent.futures.TimeoutError:
                future.cancel()
                failures.append(f"data plane {index} ({link!r}) did not answer within "
                                f"{self.push_timeout:g}s")
            except Exception as exc:
                failures.append(f"data plane {index} ({link!r}): {exc}")
        return failures


def _merge(files: dict[Key, Resource], applied: dict[Key, Resource],
           deleted: set[Key] | frozenset[Key],
           kube: dict[Key, Resource] | None = None) -> dict[Key, Resource]:
    merged = {k: v for k, v in files.items() if k not in deleted}
    if kube:
        merged.update((k, v) for k, v in kube.items() if k not in deleted)
    merged.update(applied)
    return merged


def _plain(obj: Any) -> Any:
    from dataclasses import asdict, is_dataclass

    if is_dataclass(obj) and not isinstance(obj, type):
        return {k: v for k, v in asdict(obj).items() if v is not None}
    return obj


def _log_issues(issues: list[Issue]) -> None:
    for issue in issues:
        log.log(logging.ERROR if issue.is_error else logging.WARNING, "%s", issue)


def _stat_into(signature: FileSignature, key: str, path: str) -> None:
    try:
        st = os.stat(path)  # follows symlinks: a swapped link shows as a new inode
    except OSError:
        return
    signature[key] = (st.st_mtime_ns, st.st_size, st.st_ino)
