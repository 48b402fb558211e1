"""What the watches have seen: Services, EndpointSlices, Pod labels and custom resources,
indexed so one event tells which Services (or custom resources) need translating again."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from shadowmesh.kubernetes.kinds import ENDPOINT_SLICES, PODS, SERVICES, WatchedKind
from shadowmesh.kubernetes.translate import (
    SERVICE_NAME_LABEL,
    Key,
    items,
    key_of,
    mapping,
    pod_labels,
)

Object = dict[str, Any]
CustomKey = tuple[str, str, str]  # kind, namespace, name


class Store:
    def __init__(self) -> None:
        self.services: dict[Key, Object] = {}
        self.slices: dict[Key, Object] = {}
        self.pods: dict[Key, dict[str, str]] = {}  # only the labels are kept
        self.custom: dict[CustomKey, tuple[WatchedKind, Object]] = {}
        self._slice_service: dict[Key, Key] = {}
        self._service_slices: dict[Key, set[Key]] = {}
        self._pod_slices: dict[Key, set[Key]] = {}
        self._slice_pods: dict[Key, tuple[Key, ...]] = {}
        # what changed since the last `take_dirty`
        self.dirty_services: set[Key] = set()
        self.dirty_custom: set[CustomKey] = set()
        self.dirty_slices: set[Key] = set()  # whose endpoints must be translated again

    def __repr__(self) -> str:
        return (f"<Store services={len(self.services)} slices={len(self.slices)} "
                f"pods={len(self.pods)} custom={len(self.custom)} "
                f"dirty={len(self.dirty_services)}+{len(self.dirty_custom)}>")

    def slices_of(self, service: Key) -> Iterator[tuple[Key, Object]]:
        for key in sorted(self._service_slices.get(service, ())):
            yield key, self.slices[key]

    # -- changes ------------------------------------------------------------------------
    def apply(self, kind: WatchedKind, event_type: str, obj: Object) -> None:
        key = key_of(obj)
        deleted = event_type == "DELETED"
        if kind is SERVICES:
            if deleted:
                self.services.pop(key, None)
            else:
                self.services[key] = obj
            self.dirty_services.add(key)
        elif kind is ENDPOINT_SLICES:
            self._set_slice(key, None if deleted else obj)
        elif kind is PODS:
            self._set_pod(key, None if deleted else pod_labels(obj))
        else:
            custom_key = (kind.kind, *key)
            if deleted:
                self.custom.pop(custom_key, None)
            else:
                self.custom[custom_key] = (kind, obj)
            self.dirty_custom.add(custom_key)

    def replace(self, kind: WatchedKind, objects: list[Object]) -> None:
        """A relist: the objects not in `objects` were deleted meanwhile."""
        fresh = {key_of(obj): obj for obj in objects}
        if kind is SERVICES:
            self.dirty_services.update(self.services.keys() | fresh.keys())
            self.services = fresh
        elif kind is ENDPOINT_SLICES:
            for key in self.slices.keys() - fresh.keys():
                self._set_slice(key, None)
            for key, obj in fresh.items():
                self._set_slice(key, obj)
        elif kind is PODS:
            for key in self.pods.keys() - fresh.keys():
                self._set_pod(key, None)
            for key, obj in fresh.items():
                self._set_pod(key, pod_labels(obj))
        else:
            old = {k for k, (watched, _) in self.custom.items() if watched.kind == kind.kind}
            for custom_key in old:
                del self.custom[custom_key]
            for key, obj in fresh.items():
                self.custom[(kind.kind, *key)] = (kind, obj)
            self.dirty_custom.update(old | {(kind.kind, *key) for key in fresh})

    def _set_slice(self, key: Key, obj: Object | None) -> None:
        self.dirty_slices.add(key)
        old_service = self._slice_service.pop(key, None)
        if old_service is not None:
            self._service_slices[old_service].discard(key)
            if not self._service_slices[old_service]:
                del self._service_slices[old_service]
            self.dirty_services.add(old_service)
        for pod in self._slice_pods.pop(key, ()):
            slices = self._pod_slices.get(pod)
            if slices is not None:
                slices.discard(key)
                if not slices:
                    del self._pod_slices[pod]
        if obj is None:
            self.slices.pop(key, None)
            return
        self.slices[key] = obj
        labels = mapping(mapping(obj.get("metadata")).get("labels"))
        service_name = labels.get(SERVICE_NAME_LABEL)
        if not service_name:
            return  # a slice no Service owns is not routable
        service = (key[0], str(service_name))
        self._slice_service[key] = service
        self._service_slices.setdefault(service, set()).add(key)
        self.dirty_services.add(service)
        pods = tuple(
            (str(ref.get("namespace") or key[0]), str(ref.get("name") or ""))
            for endpoint in items(obj.get("endpoints"))
            if (ref := mapping(endpoint.get("targetRef"))).get("kind") == "Pod"
        )
        self._slice_pods[key] = pods
        for pod in pods:
            self._pod_slices.setdefault(pod, set()).add(key)

    def _set_pod(self, key: Key, labels: dict[str, str] | None) -> None:
        if labels is None:
            if self.pods.pop(key, None) is None:
                return
        elif self.pods.get(key) == labels:
            return  # status updates (most pod events) change nothing routing reads
        else:
            self.pods[key] = labels
        for slice_key in self._pod_slices.get(key, ()):
            self.dirty_slices.add(slice_key)
            service = self._slice_service.get(slice_key)
            if service is not None:
                self.dirty_services.add(service)

    def take_dirty(self) -> tuple[set[Key], set[CustomKey], set[Key]]:
        """(Services, custom resources, EndpointSlices) changed since the last call."""
        dirty = self.dirty_services, self.dirty_custom, self.dirty_slices
        self.dirty_services, self.dirty_custom, self.dirty_slices = set(), set(), set()
        return dirty
