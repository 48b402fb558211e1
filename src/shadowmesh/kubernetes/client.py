"""Talking to the Kubernetes API server through `kubernetes_asyncio`: list pages and watch streams.

The library does the transport (kubeconfig or the pod's service account, TLS, bearer tokens
and their rotation); this module asks it for raw responses (`_preload_content=False`) and
decodes the JSON itself, because the generated model classes cost tens of microseconds per
object, which matters when 5,000 endpoints churn. Errors are mapped once, here:

    ApiError                 a Status the server answered, or a transport failure
     +-- Gone                410: resourceVersion too old (watch) or continue token expired
     +-- NotFound            404: e.g. a custom resource whose CRD is not installed
     +-- Unauthorized        401: the token is missing, wrong or expired
     +-- Forbidden           403: RBAC does not allow the verb
     +-- StreamBroken        the watch stream was cut, stalled, or the server was unreachable
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config

from shadowmesh.kubernetes.kinds import ENDPOINT_SLICES, PODS, SERVICES, WatchedKind

log = logging.getLogger("shadowmesh.kubernetes")

Object = dict[str, Any]


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}" if status else message)
        self.status = status
        self.reason = reason
        self.message = message


class Gone(ApiError):
    pass


class NotFound(ApiError):
    pass


class Unauthorized(ApiError):
    pass


class Forbidden(ApiError):
    pass


class StreamBroken(ApiError):
    pass


_BY_STATUS: dict[int, type[ApiError]] = {
    401: Unauthorized, 403: Forbidden, 404: NotFound, 410: Gone,
}


def status_error(status: Object | None, http_status: int = 0) -> ApiError:
    """The error a Kubernetes `Status` object (or a bare HTTP status) stands for."""
    status = status if isinstance(status, dict) else {}
    code = status.get("code")
    code = code if isinstance(code, int) else http_status
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or reason or f"HTTP {code}")
    return _BY_STATUS.get(code, ApiError)(code, reason, message)


@dataclass(frozen=True, slots=True)
class ListPage:
    items: list[Object]
    resource_version: str
    continue_token: str | None


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED | BOOKMARK
    object: Object


class KubeClient:
    def __init__(self, api: k8s.ApiClient) -> None:
        self.api = api
        self._core: Any = k8s.CoreV1Api(api)
        self._discovery: Any = k8s.DiscoveryV1Api(api)
        self._custom: Any = k8s.CustomObjectsApi(api)

    @classmethod
    async def connect(cls, kubeconfig: str | None = None,
                      context: str | None = None) -> KubeClient:
        """The pod's service account, or a kubeconfig file when one is named."""
        configuration = k8s.Configuration()
        if kubeconfig:
            await k8s_config.load_kube_config(config_file=kubeconfig, context=context,
                                              client_configuration=configuration)
        else:
            k8s_config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration)
        return cls(k8s.ApiClient(configuration))

    async def close(self) -> None:
        await self.api.close()

    def _lister(self, kind: WatchedKind, version: str,
                namespace: str | None) -> Callable[..., Awaitable[Any]]:
        core, discovery, custom = self._core, self._discovery, self._custom
        fn: Callable[..., Awaitable[Any]]
        if kind is SERVICES:
            fn = (core.list_service_for_all_namespaces if namespace is None
                  else lambda **kw: core.list_namespaced_service(namespace, **kw))
        elif kind is PODS:
            fn = (core.list_pod_for_all_namespaces if namespace is None
                  else lambda **kw: core.list_namespaced_pod(namespace, **kw))
        elif kind is ENDPOINT_SLICES:
            fn = (discovery.list_endpoint_slice_for_all_namespaces if namespace is None
                  else lambda **kw: discovery.list_namespaced_endpoint_slice(namespace, **kw))
        elif namespace is None:
            fn = lambda **kw: custom.list_cluster_custom_object(  # noqa: E731
                kind.group, version, kind.plural, **kw)
        else:
            fn = lambda **kw: custom.list_namespaced_custom_object(  # noqa: E731
                kind.group, version, namespace, kind.plural, **kw)
        return fn

    async def list(self, kind: WatchedKind, version: str, namespace: str | None, *,
                   limit: int = 500, continue_token: str | None = None,
                   timeout: float = 60.0) -> ListPage:
        """One page of a consistent list (no resourceVersion: the latest, from etcd)."""
        kwargs: dict[str, Any] = {"limit": limit}
        if continue_token:
            kwargs["_continue"] = continue_token
        try:
            resp = await self._lister(kind, version, namespace)(
                _preload_content=False, _request_timeout=timeout, **kwargs)
            async with resp:
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise StreamBroken(0, "", f"list {kind.name}: {exc!r}") from exc
        data = _json(body)
        if not 200 <= status < 300:
            raise status_error(data, status)
        if not isinstance(data, dict) or not isinstance(data.get("items"), list):
            raise ApiError(status, "BadResponse", f"list {kind.name}: not a list")
        meta = data.get("metadata") or {}
        return ListPage([item for item in data["items"] if isinstance(item, dict)],
                        str(meta.get("resourceVersion") or ""),
                        meta.get("continue") or None)

    async def watch(self, kind: WatchedKind, version: str, namespace: str | None,
                    resource_version: str, *, timeout_seconds: int,
                    stall_timeout: float) -> AsyncGenerator[WatchEvent, None]:
        """Events after `resource_version`, with bookmarks, until the server ends the watch.

        An ERROR event ends the stream with the error its Status stands for (410 Gone: the
        version is too old, relist); a stream cut mid-way or silent for `stall_timeout`
        raises StreamBroken (watch again from the last version seen).
        """
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=stall_timeout)
        try:
            resp = await self._lister(kind, version, namespace)(
                watch=True, resource_version=resource_version, allow_watch_bookmarks=True,
                timeout_seconds=timeout_seconds, _preload_content=False,
                _request_timeout=timeout)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise StreamBroken(0, "", f"watch {kind.name}: {exc!r}") from exc
        async with resp:
            if not 200 <= resp.status < 300:
                try:
                    body = await resp.read()
                except (aiohttp.ClientError, TimeoutError):
                    body = b""
                raise status_error(_json(body), resp.status)
            buffer = b""
            while True:
                try:
                    chunk = await resp.content.readany()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    raise StreamBroken(0, "", f"watch {kind.name}: {exc!r}") from exc
                if not chunk:
                    if buffer.strip():  # a line cut short by a closed connection
                        raise StreamBroken(0, "", f"watch {kind.name}: stream ended mid-event")
                    return
                buffer += chunk
                if b"\n" not in chunk:
                    continue
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield _event(kind, line)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _event(kind: WatchedKind, line: bytes) -> WatchEvent:
    data = _json(line)
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise StreamBroken(0, "", f"watch {kind.name}: malformed event {line[:200]!r}")
    event_type = str(data.get("type") or "")
    if event_type == "ERROR":
        raise status_error(data["object"])
    if event_type not in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK"):
        raise StreamBroken(0, "", f"watch {kind.name}: unknown event type {event_type!r}")
    return WatchEvent(event_type, data["object"])


async def sleep_or_stop(delay: float, stop: asyncio.Event) -> bool:
    """Sleep `delay` seconds; True when `stop` was set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), delay)
    except TimeoutError:
        return False
    return True
