"""A local Kubernetes API server simulator: what shadowmesh uses of the API, on 127.0.0.1.

It follows the API conventions (https://kubernetes.io/docs/reference/using-api/api-concepts/)
for the parts a list+watch client relies on, and lets a test break them on purpose:

- one global resourceVersion (etcd's revision), bumped by every write, stamped on objects;
- list: the latest state with the list's resourceVersion; `limit` + `continue` pages of one
  consistent snapshot; an expired continue token answers HTTP 410 `Expired`;
- watch (`?watch=true&resourceVersion=N`): a chunked stream of newline-delimited JSON
  events after N (ADDED/MODIFIED/DELETED), BOOKMARK events when `allowWatchBookmarks` is
  set, the stream ended cleanly after `timeoutSeconds`; a version older than the compacted
  history answers an ERROR event carrying a 410 `Expired` Status (or, with
  `gone_as_http`, HTTP 410); no resourceVersion means "ADDED for everything, then changes";
- bearer-token authentication (401) and per-resource authorization (403), with the
  Status objects and messages the real server sends; 404 for resources no CRD serves;
- faults a test turns on: drop every open watch (optionally mid-event), stall streams, slow
  each event down, fail the next requests with a status.

The server runs its own event loop in a thread, so synchronous tests and subprocesses can
both use it; every method a test calls is thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

Object = dict[str, Any]
ResourceId = tuple[str, str]  # group, plural


@dataclass
class ServedResource:
    group: str
    versions: tuple[str, ...]
    plural: str
    kind: str
    namespaced: bool = True


CORE_RESOURCES = (
    ServedResource("", ("v1",), "services", "Service"),
    ServedResource("", ("v1",), "pods", "Pod"),
    ServedResource("discovery.k8s.io", ("v1",), "endpointslices", "EndpointSlice"),
)

ISTIO_CRDS = (
    ("virtualservices", "VirtualService"), ("destinationrules", "DestinationRule"),
    ("serviceentries", "ServiceEntry"), ("workloadentries", "WorkloadEntry"),
    ("gateways", "Gateway"),
)


@dataclass
class Event:
    rv: int
    rid: ResourceId
    namespace: str
    type: str
    obj: Object


@dataclass(eq=False)  # hashed by identity: one per open stream
class Watcher:
    rid: ResourceId
    namespace: str | None
    transport: Any
    queue: asyncio.Queue[Event | None] = field(
        default_factory=lambda: asyncio.Queue[Event | None]())


def parse_bool(value: str | None) -> bool:
    """Go's strconv.ParseBool, which the API server uses for query parameters."""
    return value in ("1", "t", "T", "TRUE", "true", "True")


def status(code: int, reason: str, message: str) -> Object:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class ApiServerSim:
    def __init__(self, token: str = "sim-token") -> None:
        self.token = token
        self.resources: dict[ResourceId, ServedResource] = {}
        for served in CORE_RESOURCES:
            self.resources[(served.group, served.plural)] = served
        self.objects: dict[ResourceId, dict[tuple[str, str], Object]] = {}
        self.history: list[Event] = []
        self.revision = 1000
        self.compacted = 0  # watches from a version below this get 410
        self.forbidden: set[str] = set()  # plurals
        self.fail_next: list[tuple[int, str]] = []  # (code, reason) for the next requests
        self.gone_as_http = False
        self.expire_continues = 0  # the next N continue tokens presented are expired (410)
        self.bookmark_interval: float | None = None
        self.event_delay = 0.0
        self.stalled = False
        self.requests: list[tuple[str, str]] = []  # (path, query string)
        self._snapshots: dict[str, tuple[int, list[Object]]] = {}
        self._watchers: set[Watcher] = set()
        self._uids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> ApiServerSim:
        ready = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self._start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._stop())
            loop.close()

        self._thread = threading.Thread(target=main, name="apiserver-sim", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the API server simulator did not start")
        return self

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/{version}/{plural}", self._collection)
        app.router.add_get("/api/{version}/namespaces/{namespace}/{plural}", self._collection)
        app.router.add_get("/apis/{group}/{version}/{plural}", self._collection)
        app.router.add_get("/apis/{group}/{version}/namespaces/{namespace}/{plural}",
                           self._collection)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _stop(self) -> None:
        for watcher in list(self._watchers):
            watcher.queue.put_nowait(None)
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> ApiServerSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_kubeconfig(self, path: Path, token: str | None = None) -> Path:
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "sim",
            "clusters": [{"name": "sim", "cluster": {"server": self.url}}],
            "users": [{"name": "sim", "user": {"token": token or self.token}}],
            "contexts": [{"name": "sim", "context": {"cluster": "sim", "user": "sim"}}],
        }))
        return path

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on the server's loop (all state lives there) and return its result."""
        assert self._loop is not None
        done = asyncio.run_coroutine_threadsafe(_call(fn), self._loop)
        return done.result(10)

    # -- what tests change ----------------------------------------------------------------
    def install_crds(self, group: str, versions: tuple[str, ...],
                     kinds: tuple[tuple[str, str], ...]) -> None:
        def do() -> None:
            for plural, kind in kinds:
                self.resources[(group, plural)] = ServedResource(group, versions, plural, kind)
        self.call(do)

    def install_istio(self, versions: tuple[str, ...] = ("v1", "v1beta1", "v1alpha3")) -> None:
        self.install_crds("networking.istio.io", versions, ISTIO_CRDS)

    def apply(self, obj: Object) -> int:
        """Create or replace an object (by apiVersion/kind/namespace/name); its new version."""
        return int(self.call(lambda: self._write(copy.deepcopy(obj), deleted=False)))

    def delete(self, obj: Object) -> int:
        return int(self.call(lambda: self._write(copy.deepcopy(obj), deleted=True)))

    def apply_many(self, objects: list[Object]) -> int:
        def do() -> int:
            rv = 0
            for obj in objects:
                rv = self._write(copy.deepcopy(obj), deleted=False)
            return rv
        return int(self.call(do))

    def compact(self) -> None:
        """Forget the history up to now, as etcd compaction does: older versions get 410."""
        def do() -> None:
            self.compacted = self.revision + 1
            self.history.clear()
            self._snapshots.clear()
        self.call(do)

    def drop_watches(self, mid_event: bool = False) -> int:
        """Cut every open watch connection; with `mid_event`, after half an event line."""
        def do() -> int:
            watchers = list(self._watchers)
            for watcher in watchers:
                if mid_event:
                    with contextlib.suppress(Exception):
                        watcher.transport.write(b'7\r\n{"type"\r\n')  # a chunk: half an event
                watcher.transport.abort()
            return len(watchers)
        return int(self.call(do))

    def open_watches(self, plural: str | None = None) -> int:
        return int(self.call(lambda: sum(
            1 for w in self._watchers if plural is None or w.rid[1] == plural)))

    def set(self, **settings: Any) -> None:
        def do() -> None:
            for name, value in settings.items():
                assert hasattr(self, name), name
                setattr(self, name, value)
        self.call(do)

    def watch_requests(self, plural: str) -> list[str]:
        """Query strings of the watch requests made for `plural`."""
        return list(self.call(lambda: [q for p, q in self.requests
                                       if p.endswith("/" + plural) and is_watch(q)]))

    # -- writes -----------------------------------------------------------------------------
    def _rid_of(self, obj: Object) -> ResourceId:
        group = obj["apiVersion"].rpartition("/")[0]
        for rid, served in self.resources.items():
            if served.group == group and served.kind == obj["kind"]:
                return rid
        raise KeyError(f"no resource serves {obj['apiVersion']} {obj['kind']}")

    def _write(self, obj: Object, deleted: bool) -> int:
        rid = self._rid_of(obj)
        meta = obj.setdefault("metadata", {})
        namespace = meta.setdefault("namespace", "default")
        key = (namespace, meta["name"])
        store = self.objects.setdefault(rid, {})
        old = store.get(key)
        if deleted and old is None:
            raise KeyError(f"{rid} {key} not found")
        self.revision += 1
        if deleted:
            obj = store.pop(key)
            obj["metadata"]["resourceVersion"] = str(self.revision)
            kind = "DELETED"
        else:
            meta["resourceVersion"] = str(self.revision)
            meta["uid"] = old["metadata"]["uid"] if old else f"uid-{next(self._uids)}"
            meta.setdefault("creationTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ"))
            store[key] = obj
            kind = "MODIFIED" if old else "ADDED"
        event = Event(self.revision, rid, namespace, kind, obj)
        self.history.append(event)
        for watcher in list(self._watchers):
            if watcher.rid == rid and watcher.namespace in (None, namespace):
                watcher.queue.put_nowait(event)
        return self.revision

    # -- serving ----------------------------------------------------------------------------
    def _check(self, request: web.Request) -> tuple[ServedResource, str, str | None] | web.Response:
        m = request.match_info
        self.requests.append((request.path, request.query_string))
        if self.fail_next:
            code, reason = self.fail_next.pop(0)
            return web.json_response(status(code, reason, f"simulated {reason}"), status=code)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response(status(401, "Unauthorized", "Unauthorized"), status=401)
        group = m.get("group", "")
        served = self.resources.get((group, m["plural"]))
        if served is None or m["version"] not in served.versions:
            return web.json_response(
                status(404, "NotFound", "the server could not find the requested resource"),
                status=404)
        namespace = m.get("namespace")
        if served.plural in self.forbidden:
            where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
            message = (f'{served.plural}{"." + group if group else ""} is forbidden: User '
                       f'"system:serviceaccount:shadowmesh:shadowmesh" cannot '
                       f'{"watch" if request.query.get("watch") else "list"} resource '
                       f'"{served.plural}" in API group "{group}"{where}')
            return web.json_response(status(403, "Forbidden", message), status=403)
        return served, m["version"], namespace

    def _as_version(self, served: ServedResource, version: str, obj: Object) -> Object:
        api_version = f"{served.group}/{version}" if served.group else version
        if obj.get("apiVersion") == api_version:
            return obj
        return {**obj, "apiVersion": api_version}

    async def _collection(self, request: web.Request) -> web.StreamResponse:
        checked = self._check(request)
        if isinstance(checked, web.Response):
            return checked
        served, version, namespace = checked
        if parse_bool(request.query.get("watch")):
            return await self._watch(request, served, version, namespace)
        return self._list(request, served, version, namespace)

    def _current(self, served: ServedResource, namespace: str | None) -> list[Object]:
        store = self.objects.get((served.group, served.plural), {})
        return [obj for key, obj in sorted(store.items())
                if namespace is None or key[0] == namespace]

    def _list(self, request: web.Request, served: ServedResource, version: str,
              namespace: str | None) -> web.Response:
        limit = int(request.query.get("limit") or 0)
        token = request.query.get("continue")
        if token:
            snap_id, _, offset_text = token.partition(":")
            snapshot = self._snapshots.get(snap_id)
            expired = self.expire_continues > 0
            self.expire_continues = max(0, self.expire_continues - 1)
            if snapshot is None or snapshot[0] < self.compacted or expired:
                return web.json_response(status(
                    410, "Expired", "The provided continue parameter is too old to display a "
                    "consistent list result. You can start a new list without the continue "
                    "parameter."), status=410)
            rv, items = snapshot
            offset = int(offset_text)
        else:
            rv, items, offset = self.revision, self._current(served, namespace), 0
            snap_id = str(len(self._snapshots) + 1)
            if limit and len(items) > limit:
                self._snapshots[snap_id] = (rv, items)
        page = items[offset: offset + limit] if limit else items[offset:]
        more = bool(limit) and offset + limit < len(items)
        meta: Object = {"resourceVersion": str(rv)}
        if more:
            meta["continue"] = f"{snap_id}:{offset + limit}"
        api_version = f"{served.group}/{version}" if served.group else version
        body = {"kind": f"{served.kind}List", "apiVersion": api_version, "metadata": meta,
                "items": [self._as_version(served, version, obj) for obj in page]}
        return web.json_response(body)

    async def _watch(self, request: web.Request, served: ServedResource, version: str,
                     namespace: str | None) -> web.StreamResponse:
        rv_text = request.query.get("resourceVersion") or ""
        since = int(rv_text) if rv_text.isdigit() else 0
        if since and since < self.compacted - 1 and self.gone_as_http:
            return web.json_response(status(410, "Gone", "too old resource version"),
                                     status=410)
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        rid = (served.group, served.plural)
        watcher = Watcher(rid, namespace, request.transport)
        self._watchers.add(watcher)
        timeout = float(request.query.get("timeoutSeconds") or 1800)
        bookmarks = parse_bool(request.query.get("allowWatchBookmarks"))
        deadline = time.monotonic() + timeout
        try:
            if since and since < self.compacted - 1:
                message = (f"too old resource version: {since} "
                           f"({self.compacted - 1})")
                await self._send(resp, "ERROR", status(410, "Expired", message))
                return resp
            if since:
                backlog = [e for e in self.history if e.rv > since and e.rid == rid
                           and namespace in (None, e.namespace)]
            else:  # no version: the current state as ADDED, then what follows
                backlog = [Event(int(o["metadata"]["resourceVersion"]), rid, "", "ADDED", o)
                           for o in self._current(served, namespace)]
            for event in backlog:
                await self._send(resp, event.type, self._as_version(served, version, event.obj))
            sent_rv = max([since, *(e.rv for e in backlog)])
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                wait = min(left, self.bookmark_interval or left)
                try:
                    item = await asyncio.wait_for(watcher.queue.get(), wait)
                except TimeoutError:
                    if bookmarks and self.bookmark_interval and not self.stalled:
                        await self._send(resp, "BOOKMARK", {
                            "kind": served.kind, "apiVersion": f"{served.group}/{version}",
                            "metadata": {"resourceVersion": str(self.revision)}})
                    continue
                if item is None:
                    break
                if item.rv <= sent_rv:
                    continue  # already in the backlog
                while self.stalled:
                    await asyncio.sleep(0.05)
                if self.event_delay:
                    await asyncio.sleep(self.event_delay)
                await self._send(resp, item.type, self._as_version(served, version, item.obj))
            with contextlib.suppress(ConnectionError):
                await resp.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._watchers.discard(watcher)
        return resp

    async def _send(self, resp: web.StreamResponse, event_type: str, obj: Object) -> None:
        line = json.dumps({"type": event_type, "object": obj}, separators=(",", ":")) + "\n"
        await resp.write(line.encode())


def is_watch(query_string: str) -> bool:
    return any(parse_bool(v) for k, _, v in (p.partition("=") for p in query_string.split("&"))
               if k == "watch")


async def _call(fn: Callable[[], Any]) -> Any:
    return fn()
