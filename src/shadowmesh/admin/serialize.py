"""Resources, issues and apply results as the JSON the admin API speaks.

A resource comes out as Kubernetes would print it (`apiVersion`, `kind`, `metadata`,
`spec` with Istio's JSON field names), holding only the fields that were written, so the
output of `shadowmesh get -o yaml` can be applied again. Durations are held as float seconds
by the models; they go back out as Go duration strings (`10s`), the only form Istio accepts.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, get_args

from pydantic import BaseModel

from shadowmesh.admin.contract import ApplyResult

if TYPE_CHECKING:
    from shadowmesh.config import Issue, Resource

ISSUE_FIELDS = ("level", "message", "file", "document", "path", "code", "line")


def format_duration(seconds: float) -> str:
    text = f"{seconds:.9f}".rstrip("0").rstrip(".")
    return f"{text}s"


def _is_duration(annotation: Any) -> bool:
    from shadowmesh.config.durations import Duration

    return bool(annotation == Duration or any(arg == Duration for arg in get_args(annotation)))


def dump_value(value: Any) -> Any:
    """JSON-able data from a spec model (only the fields set), mapping, sequence or scalar."""
    if isinstance(value, BaseModel):
        out: dict[str, Any] = {}
        fields = type(value).model_fields
        for name in fields:
            if name not in value.model_fields_set:
                continue
            info = fields[name]
            item = getattr(value, name)
            key = info.alias or name
            if isinstance(item, float) and _is_duration(info.annotation):
                out[key] = format_duration(item)
            else:
                out[key] = dump_value(item)
        return out
    if isinstance(value, Mapping):
        return {str(k): dump_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [dump_value(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value


def resource_to_dict(resource: Resource, created: float | None = None) -> dict[str, Any]:
    meta = resource.metadata
    metadata: dict[str, Any] = {"name": meta.name, "namespace": meta.namespace}
    if meta.labels:
        metadata["labels"] = dict(meta.labels)
    if meta.annotations:
        metadata["annotations"] = dict(meta.annotations)
    if created is not None:
        metadata["creationTimestamp"] = rfc3339(created)
    return {
        "apiVersion": resource.api_version,
        "kind": resource.kind,
        "metadata": metadata,
        "spec": dump_value(resource.spec),
    }


def rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def issue_to_dict(issue: Issue) -> dict[str, Any]:
    out = {name: getattr(issue, name, None) for name in ISSUE_FIELDS}
    out["text"] = str(issue)
    return out


def apply_result_to_dict(result: ApplyResult) -> dict[str, Any]:
    return {
        "ok": result.ok,
        "changed": list(result.changed),
        "issues": [issue_to_dict(issue) for issue in result.issues],
    }
