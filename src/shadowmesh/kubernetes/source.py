"""The Kubernetes API server as a source of configuration, next to files and admin applies.

    source = KubernetesSource(control, client, options)
    task = tasks.spawn(source.run(stop))
    await source.synced.wait()        # every resource listed once and pushed: now /ready

Watch events only update the store and mark what they touch; a single pusher turns a burst
of them into one table push, as istiod debounces: it waits until events have been quiet for
`debounce` seconds, but never more than `debounce_max` after the first one, then translates
only the Services (and of them, the EndpointSlices) and custom resources that changed, and
hands the whole Kubernetes layer to the control plane, which validates the merged set and
compiles one table. Under endless churn, pushes are spaced so that they take at most
`push_cpu_share` of a core: the proxy's CPU stays bounded whatever the event rate.

A custom resource that fails validation is rejected on its own, with Istio's messages (log,
`shadowmesh_kubernetes_rejections_total`, `shadowmesh get kubernetes`): its previous valid
version, if any, stays in force, and nothing of the invalid one is applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from shadowmesh.config import Issue, Resource
from shadowmesh.config.models import WorkloadEntry
from shadowmesh.kubernetes.client import KubeClient, Object
from shadowmesh.kubernetes.kinds import WatchedKind
from shadowmesh.kubernetes.metrics import KubeMetrics
from shadowmesh.kubernetes.options import KubernetesOptions
from shadowmesh.kubernetes.reflector import Reflector
from shadowmesh.kubernetes.store import CustomKey, Store
from shadowmesh.kubernetes.translate import (
    Key,
    build_service_entry,
    custom_resource,
    port_names,
    slice_endpoints,
)

log = logging.getLogger("shadowmesh.kubernetes")


class Change(Protocol):
    ok: bool
    issues: list[Issue]


class KubernetesLayer(Protocol):
    """What the source needs from the control plane."""

    def set_kubernetes(self, resources: Sequence[Resource]) -> Change: ...


@dataclass
class Rejection:
    kind: str
    namespace: str
    name: str
    issues: list[Issue]
    since: float = field(default_factory=time.time)


class KubernetesSource:
    def __init__(self, control: KubernetesLayer, client: KubeClient,
                 options: KubernetesOptions, metrics: KubeMetrics | None = None) -> None:
        self.control = control
        self.client = client
        self.options = options
        self.metrics = metrics or KubeMetrics()
        self.store = Store()
        self.synced = asyncio.Event()
        self.reflectors = [Reflector(client, kind, options.namespace, self, options.watch,
                                     self.metrics) for kind in options.kinds]
        self.entries: dict[Key, Resource] = {}
        # EndpointSlice -> (the Service's port names, its endpoints): most events touch one
        # slice of many, so only that one is translated again.
        self._slice_cache: dict[Key, tuple[tuple[tuple[str, str], ...],
                                           tuple[WorkloadEntry, ...]]] = {}
        self.accepted: dict[CustomKey, list[Resource]] = {}
        self.rejected: dict[CustomKey, Rejection] = {}
        self.pushes = {"ok": 0, "rejected": 0}
        self.last_delay: float | None = None
        self._changed = asyncio.Event()
        self._first_event: float | None = None
        self._last_event = 0.0
        self._not_before = 0.0  # earliest next push (the CPU share)
        self.last_build: float | None = None  # how long the last push took

    def __repr__(self) -> str:
        state = "synced" if self.synced.is_set() else "syncing"
        return f"<KubernetesSource {state} {self.store!r} pushes={self.pushes}>"

    # -- Handler (called by the reflectors) -----------------------------------------------
    def replace(self, kind: WatchedKind, objects: list[Object]) -> None:
        self.store.replace(kind, objects)
        self._mark()

    def event(self, kind: WatchedKind, event_type: str, obj: Object) -> None:
        self.store.apply(kind, event_type, obj)
        self._mark()

    def _mark(self) -> None:
        now = time.monotonic()
        if self._first_event is None:
            self._first_event = now
        self._last_event = now
        self._changed.set()

    # -- running ----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        tasks = [asyncio.create_task(r.run(stop), name=f"watch {r.kind.name}")
                 for r in self.reflectors]
        try:
            waiting: asyncio.Future[Any] = asyncio.gather(
                *(r.synced.wait() for r in self.reflectors))
            stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
            await asyncio.wait([waiting, stopping], return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting
                return
            stopping.cancel()
            self.push()
            self.metrics.synced.set(1)
            self.synced.set()
            while not stop.is_set():
                await self._debounced(stop)
                if not stop.is_set():
                    self.push()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _debounced(self, stop: asyncio.Event) -> None:
        """Return once a batch of events is complete (quiet, or the ceiling reached)."""
        stopping = asyncio.ensure_future(stop.wait())
        changed = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait([stopping, changed], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            changed.cancel()
        first = self._first_event if self._first_event is not None else time.monotonic()
        while not stop.is_set():
            deadline = max(min(self._last_event + self.options.debounce,
                               first + self.options.debounce_max), self._not_before)
            wait = deadline - time.monotonic()
            if wait <= 0:
                return
            await asyncio.sleep(wait)

    # -- pushing ----------------------------------------------------------------------------
    def push(self) -> bool:
        """Translate what changed and hand the whole Kubernetes layer to the control plane."""
        started = self._first_event
        began = time.monotonic()
        self._changed.clear()
        self._first_event = None
        services, custom, slices = self.store.take_dirty()
        for key in slices:
            self._slice_cache.pop(key, None)
        for key in services:
            try:
                self._translate_service(key)
            except Exception:  # a malformed object must not stop every other update
                log.exception("Service %s/%s: cannot translate it; its previous state stays",
                              *key)
        for custom_key in custom:
            self._translate_custom(custom_key)
        change = self.control.set_kubernetes(self._resources())
        if not change.ok and self._reject_offenders(change.issues):
            change = self.control.set_kubernetes(self._resources())
        self.metrics.rejected.set(len(self.rejected))
        done = time.monotonic()
        self.last_build = done - began
        share = min(max(self.options.push_cpu_share, 0.01), 1.0)
        self._not_before = done + self.last_build * (1 / share - 1)
        result = "ok" if change.ok else "rejected"
        self.pushes[result] += 1
        self.metrics.pushes.labels(result).inc()
        if started is not None:
            delay = done - started
            self.last_delay = delay
            self.metrics.delay.observe(delay)
        return change.ok

    def _resources(self) -> list[Resource]:
        resources = list(self.entries.values())
        for accepted in self.accepted.values():
            resources.extend(accepted)
        return resources

    def _translate_service(self, key: Key) -> None:
        service = self.store.services.get(key)
        entry = None
        if service is not None:
            names = port_names(service)
            frozen = tuple(sorted(names.items()))
            groups = []
            for slice_key, eps in self.store.slices_of(key):
                cached = self._slice_cache.get(slice_key)
                if cached is None or cached[0] != frozen:
                    cached = (frozen, slice_endpoints(key[0], eps, names, self.store.pods))
                    self._slice_cache[slice_key] = cached
                groups.append(cached[1])
            entry = build_service_entry(service, groups)
        if entry is None:
            self.entries.pop(key, None)
        else:
            self.entries[key] = entry

    def _translate_custom(self, key: CustomKey) -> None:
        found = self.store.custom.get(key)
        if found is None:
            self.accepted.pop(key, None)
            self.rejected.pop(key, None)
            return
        kind, obj = found
        version = str(obj.get("apiVersion") or "").rpartition("/")[2] or kind.versions[0]
        loaded = custom_resource(kind, version, obj)
        # Only errors count here: warnings about references (a subset, a gateway) need the
        # whole set, which the control plane validates on every push.
        if loaded.ok:
            self.accepted[key] = loaded.resources
            self.rejected.pop(key, None)
            if not loaded.resources and loaded.ignored:
                log.info("%s", loaded.ignored[0].note)
            return
        self._reject(key, loaded.errors)

    def _reject(self, key: CustomKey, errors: list[Issue]) -> None:
        previous = self.rejected.get(key)
        if previous is None or previous.issues != errors:
            kept = "the previous version stays" if key in self.accepted else "not applied"
            log.error("%s %s/%s rejected (%s):", key[0], key[1], key[2], kept)
            for issue in errors:
                log.error("  %s", issue)
            self.metrics.rejections.labels(key[0]).inc()
        self.rejected[key] = Rejection(*key, issues=errors)

    def _reject_offenders(self, issues: list[Issue]) -> bool:
        """After a rejected push: reject the custom resources the errors name, so that one bad
        object cannot hold every other change back. True if there were any."""
        named = {issue.document for issue in issues if issue.is_error and issue.document}
        offenders = [key for key, resources in self.accepted.items()
                     if any(r.label in named for r in resources)]
        for key in offenders:
            errors = [i for i in issues if i.is_error and i.document in
                      {r.label for r in self.accepted[key]}]
            del self.accepted[key]
            self._reject(key, errors)
        return bool(offenders)

    # -- status -----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {
            "synced": self.synced.is_set(),
            "namespace": self.options.namespace,
            "watches": [asdict(r.status) for r in self.reflectors],
            "services": len(self.entries),
            "endpoints": sum(len(getattr(e.spec, "endpoints", None) or ())
                             for e in self.entries.values()),
            "pushes": dict(self.pushes),
            "lastEventToTableSeconds": self.last_delay,
            "lastBuildSeconds": self.last_build,
            "rejected": [
                {"kind": r.kind, "namespace": r.namespace, "name": r.name, "since": r.since,
                 "issues": [{"level": i.level, "message": i.message, "path": i.path,
                             "text": str(i)} for i in r.issues]}
                for r in sorted(self.rejected.values(),
                                key=lambda r: (r.kind, r.namespace, r.name))
            ],
        }
