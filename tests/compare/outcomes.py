"""Building mirror outcomes and Comparison specs for the engine's tests."""

from __future__ import annotations

import itertools
import time
from typing import Any

import orjson

from shadowmesh.compare.spec import CompareSpec, build_spec
from shadowmesh.config import load_text
from shadowmesh.mirror.outcomes import (
    ANSWERED,
    ROLE_MIRROR,
    Captured,
    CopyOutcome,
    PrimaryOutcome,
)

SERVICE = "httpbin.default.svc.cluster.local"
_CIDS = itertools.count(1)

COMPARISON = """
apiVersion: shadowmesh.io/v1alpha1
kind: Comparison
metadata: {name: httpbin, namespace: default}
spec:
  host: httpbin
  candidate: {subset: v2}
"""


def spec(extra: str = "", text: str = COMPARISON) -> CompareSpec:
    loaded = load_text(text + extra, "test.yaml", validate=False)
    assert loaded.ok, loaded.issues
    (res,) = loaded.resources
    return build_spec(res, loaded.resources)


def captured(body: Any = b"{}", status: int = 200, headers: list[tuple[bytes, bytes]] | None = None,
             content_type: bytes = b"application/json", truncated: bool = False,
             size: int | None = None) -> Captured:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    fields = [(b"content-type", content_type)] if content_type else []
    fields += headers or []
    return Captured(status, fields, data, len(data) if size is None else size, truncated)


def primary(response: Captured | None, cid: int | None = None, copies: int = 1,
            method: str = "GET", target: str = "/users/1", duration_ms: float = 1.0,
            service: str = SERVICE, start_time: float | None = None) -> PrimaryOutcome:
    return PrimaryOutcome(
        cid=next(_CIDS) if cid is None else cid, request_id="r", service=service,
        subset="v1", authority="httpbin", method=method, target=target, kind=ANSWERED,
        flags="-", response=response, copies=copies, duration_ms=duration_ms,
        start_time=time.time() if start_time is None else start_time, upstream_host=None)


def copy(cid: int, response: Captured | None, subset: str = "v2", role: str = ROLE_MIRROR,
         kind: str = ANSWERED, duration_ms: float = 1.0, reason: str = "-") -> CopyOutcome:
    return CopyOutcome(cid=cid, service=SERVICE, subset=subset, role=role, kind=kind,
                       reason=reason, response=response, duration_ms=duration_ms,
                       upstream_host=None)
