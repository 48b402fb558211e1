"""Sample pairs as stored: redacted (headers by name, JSON fields by JSONPath) first.

A sample is the admin API's sample document. Values shown in its differences are read back
from the redacted documents, so a redacted field never reaches the store, even as the
value of a difference.
"""

from __future__ import annotations

import base64
import copy
import re
from typing import Any

from shadowmesh.compare import bodies
from shadowmesh.compare.diff import Prepared, _decoded
from shadowmesh.compare.jsondiff import Difference, shown
from shadowmesh.compare.paths import REDACTED, redact_paths
from shadowmesh.compare.spec import CompareSpec

_TOKEN = re.compile(r'\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')
_MISSING = object()
SAMPLE_BODY_CHARS = 64 << 10


def value_at(doc: Any, path: str) -> Any:
    """The value at a jsondiff path (`$.a["b c"][2]`), or _MISSING."""
    import orjson

    if not path.startswith("$"):
        return _MISSING
    node = doc
    for match in _TOKEN.finditer(path, 1):
        key, index, quoted = match.groups()
        if index is not None:
            if not isinstance(node, list) or int(index) >= len(node):
                return _MISSING
            node = node[int(index)]
        else:
            name = key if key is not None else orjson.loads(quoted)
            if not isinstance(node, dict) or name not in node:
                return _MISSING
            node = node[name]
    return node


def _redacted_json(side: Prepared, spec: CompareSpec) -> Any:
    """The side's JSON document (fields not ignored) with the redacted fields replaced."""
    if side.parse_state != 1:
        return _MISSING
    return redact_paths(copy.deepcopy(side.parsed), spec.redacted_fields)


def _side(side: Prepared, doc: Any, spec: CompareSpec, latency_ms: float) -> dict[str, Any]:
    side.normalize(spec)
    assert side.headers is not None
    headers = [[name, REDACTED if name in spec.redacted_headers else value]
               for name, value in side.headers.items()]
    import orjson

    if doc is not _MISSING:
        body, encoding = orjson.dumps(doc).decode(), "text"
    else:
        data = _decoded(side)
        if spec.redacted_fields and bodies.media_kind(side.content_type) == bodies.JSON:
            body, encoding = "", "text"  # unparsed JSON could hold a redacted field
        else:
            try:
                body, encoding = data[:SAMPLE_BODY_CHARS].decode("utf-8"), "text"
            except UnicodeDecodeError:
                body = base64.b64encode(data[:SAMPLE_BODY_CHARS]).decode()
                encoding = "base64"
    return {"status": side.status, "headers": headers, "body": body,
            "body_encoding": encoding, "truncated": side.truncated, "latency_ms": latency_ms}


def build_sample(spec: CompareSpec, endpoint: str, when: str, method: str, target: str,
                 primary: Prepared, candidate: Prepared, differences: list[Difference],
                 primary_ms: float, candidate_ms: float) -> dict[str, Any]:
    doc_a, doc_b = _redacted_json(primary, spec), _redacted_json(candidate, spec)
    shown_diffs = []
    for d in differences:
        a, b = d.primary, d.candidate
        if d.path.startswith("header:"):
            if d.path[7:] in spec.redacted_headers:
                a, b = (REDACTED if a else ""), (REDACTED if b else "")
        elif d.path.startswith("$") and spec.redacted_fields:
            va = value_at(doc_a, d.path) if doc_a is not _MISSING else _MISSING
            vb = value_at(doc_b, d.path) if doc_b is not _MISSING else _MISSING
            a = "" if va is _MISSING else shown(va)
            b = "" if vb is _MISSING else shown(vb)
        shown_diffs.append({"path": d.path, "field": d.field, "kind": d.kind,
                            "primary": a, "candidate": b})
    return {
        "endpoint": endpoint,
        "time": when,
        "request": {"method": method, "target": target},
        "primary": _side(primary, doc_a, spec, primary_ms),
        "candidate": _side(candidate, doc_b, spec, candidate_ms),
        "differences": shown_diffs,
    }
