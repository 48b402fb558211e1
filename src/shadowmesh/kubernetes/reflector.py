"""One resource's list+watch loop, with the Kubernetes API conventions clients must follow.

- List in pages (limit + continue), remember the list's resourceVersion, then watch from it
  with `allowWatchBookmarks`: every event and BOOKMARK moves the version forward, so a watch
  that ends (the server's timeoutSeconds, a cut connection, a stall) resumes where it stopped
  without a relist and without losing an event.
- 410 Gone (as an ERROR event carrying a Status, or as the HTTP status of a list page whose
  continue token expired) means the version is no longer in the server's window: relist and
  replace the whole store (objects deleted meanwhile disappear).
- Any other failure (401/403, 5xx, unreachable) backs off exponentially with jitter, so a
  fleet of replicas does not reconnect in lockstep, and keeps the last known state in force.
- A custom resource whose CRD is not installed (404) counts as synced and empty, and is looked
  for again now and then, so installing Istio's CRDs later is picked up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Protocol

from shadowmesh.kubernetes.client import (
    ApiError,
    Gone,
    KubeClient,
    NotFound,
    Object,
    sleep_or_stop,
)
from shadowmesh.kubernetes.kinds import WatchedKind
from shadowmesh.kubernetes.metrics import KubeMetrics
from shadowmesh.kubernetes.options import WatchOptions

log = logging.getLogger("shadowmesh.kubernetes")


class Handler(Protocol):
    def replace(self, kind: WatchedKind, objects: list[Object]) -> None: ...
    def event(self, kind: WatchedKind, event_type: str, obj: Object) -> None: ...


class Backoff:
    """Exponential backoff with 'equal jitter': a delay in [d/2, d], d doubling to a cap."""

    def __init__(self, initial: float, cap: float, rand: random.Random | None = None) -> None:
        self.initial, self.cap = initial, cap
        self.failures = 0
        self.rand = rand or random.Random()

    def next(self) -> float:
        ceiling = min(self.cap, self.initial * (2 ** min(self.failures, 30)))
        self.failures += 1
        return self.rand.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.failures = 0


@dataclass
class WatchStatus:
    """What `shadowmesh get kubernetes` shows for one watched resource."""

    resource: str
    version: str = ""
    resource_version: str = ""
    state: str = "starting"  # listing | watching | backoff | absent | stopped
    last_error: str = ""
    events: int = 0
    relists: int = 0
    errors: int = 0
    synced: bool = False
    since: float = field(default_factory=time.time)

    def set_state(self, state: str) -> None:
        if state != self.state:
            self.state, self.since = state, time.time()


class Reflector:
    def __init__(self, client: KubeClient, kind: WatchedKind, namespace: str | None,
                 handler: Handler, options: WatchOptions, metrics: KubeMetrics) -> None:
        self.client = client
        self.kind = kind
        self.namespace = namespace
        self.handler = handler
        self.options = options
        self.metrics = metrics
        self.synced = asyncio.Event()
        self.status = WatchStatus(kind.name)
        self.version = kind.versions[0]
        self.resource_version = ""
        self.backoff = Backoff(options.backoff_initial, options.backoff_max)

    def __repr__(self) -> str:
        s = self.status
        return f"<Reflector {s.resource} {s.state} rv={self.resource_version or '-'}>"

    async def run(self, stop: asyncio.Event) -> None:
        need_list, reason = True, "initial"
        while not stop.is_set():
            try:
                if need_list:
                    if not await self._list(reason):
                        self._absent()
                        if await sleep_or_stop(self.options.absent_recheck, stop):
                            return
                        reason = "absent"
                        continue
                    need_list = False
                if await self._watch(stop):
                    self.backoff.reset()
                # The server ended the watch (its timeoutSeconds): resume from the version.
                # One that ends at once with nothing in it is a fault: do not spin on it.
                elif await sleep_or_stop(self.backoff.next(), stop):
                    return
            except Gone as exc:
                # The version (or a continue token) left the server's window: only a relist
                # can tell what happened meanwhile.
                log.info("%s: %s; relisting", self.kind.name, exc.message)
                self._error("Gone", exc)
                need_list, reason = True, "gone"
                continue
            except ApiError as exc:
                self._error(type(exc).__name__, exc)
                delay = self.backoff.next()
                log.warning("%s: %s; retrying in %.1fs", self.kind.name, exc, delay)
                self.status.set_state("backoff")
                if await sleep_or_stop(delay, stop):
                    return
            except Exception as exc:  # an object we could not digest: start from a clean list
                log.exception("%s: unexpected failure; relisting", self.kind.name)
                self._error("Internal", ApiError(0, "Internal", repr(exc)))
                need_list, reason = True, "error"
                if await sleep_or_stop(self.backoff.next(), stop):
                    return
        self.status.set_state("stopped")

    def _error(self, reason: str, exc: ApiError) -> None:
        self.status.errors += 1
        self.status.last_error = f"{reason}: {exc.message}"[:500]
        self.metrics.errors.labels(self.kind.name, reason).inc()

    def _absent(self) -> None:
        self.status.set_state("absent")
        self.resource_version = ""
        self.handler.replace(self.kind, [])
        self._mark_synced()

    def _mark_synced(self) -> None:
        self.status.synced = True
        self.synced.set()

    async def _list(self, reason: str) -> bool:
        """A full, consistent list into the store; False when no version is served (404)."""
        self.status.set_state("listing")
        for version in self.kind.versions:
            try:
                items, resource_version = await self._pages(version)
            except NotFound:
                continue
            self.version = version
            self.resource_version = resource_version
            self.status.version = version
            self.status.resource_version = resource_version
            self.status.relists += 1
            self.metrics.relists.labels(self.kind.name, reason).inc()
            self.handler.replace(self.kind, items)
            self._mark_synced()
            return True
        if not self.kind.optional:
            raise NotFound(404, "NotFound", f"the server does not serve {self.kind.name}")
        return False

    async def _pages(self, version: str) -> tuple[list[Object], str]:
        items: list[Object] = []
        token: str | None = None
        for _ in range(100_000):  # bounded: a misbehaving server cannot loop us forever
            page = await self.client.list(self.kind, version, self.namespace,
                                          limit=self.options.page_size, continue_token=token)
            items.extend(page.items)
            if not page.continue_token:
                return items, page.resource_version
            token = page.continue_token
        raise ApiError(0, "TooManyPages", f"list {self.kind.name}: more than 100000 pages")

    async def _watch(self, stop: asyncio.Event) -> bool:
        """Watch until the server ends the stream; True if it delivered anything."""
        self.status.set_state("watching")
        low, high = self.options.watch_timeout
        delivered = False
        events = self.client.watch(
            self.kind, self.version, self.namespace, self.resource_version,
            timeout_seconds=random.randint(low, high), stall_timeout=self.options.stall_timeout)
        counter = self.metrics.events
        async with contextlib.aclosing(events):  # a break must release the connection
            async for event in events:
                if stop.is_set():
                    break
                delivered = True
                obj = event.object
                version = (obj.get("metadata") or {}).get("resourceVersion")
                counter.labels(self.kind.name, event.type).inc()
                self.status.events += 1
                if event.type != "BOOKMARK":
                    self.handler.event(self.kind, event.type, obj)
                # After the handler: a version is only remembered once its event is applied.
                if isinstance(version, str) and version:
                    self.resource_version = version
                    self.status.resource_version = version
        return delivered
