"""Fixed COMPARE-API.md documents for the surfaces that render them (the dashboard's Compare
view, `shadowmesh compare --html`): the demo's planted change, as the engine reports it.

httpbin v2 answers `GET /json` with `slideshow.author` renamed to `slideshow.owner` (a
regression, no noise), is 40 ms slower on `GET /get`, and `GET /uuid` differs on every pair
on both the candidate and the noise copy (noise). The verdict is HOLD.
"""

from __future__ import annotations

import copy
import json
from typing import Any

NAMESPACE = "default"
NAME = "httpbin"
SVC = "httpbin.default.svc.cluster.local"
JSON_EP = "GET /json"
GET_EP = "GET /get"
UUID_EP = "GET /uuid"
PLANTED = "$.slideshow.author"
PLANTED_NEW = "$.slideshow.owner"
BOUNDS = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]

COMPARISON_RESOURCE: dict[str, Any] = {
    "apiVersion": "shadowmesh.io/v1alpha1",
    "kind": "Comparison",
    "metadata": {"name": NAME, "namespace": NAMESPACE, "creationTimestamp": "2026-11-28T07:29:00Z"},
    "spec": {
        "host": "httpbin",
        "candidate": {"subset": "v2"},
        "noise": {"subset": "v1", "percentage": 100},
        "ignore": {"fields": ["$.origin"]},
    },
}


def _latency(p50: tuple[float, float], p99: tuple[float, float], change: float,
             regression: bool) -> dict[str, Any]:  # fmt: skip
    return {
        "primary": {"p50": p50[0], "p90": p50[0] * 1.4, "p99": p99[0], "count": 120},
        "candidate": {"p50": p50[1], "p90": p50[1] * 1.2, "p99": p99[1], "count": 120},
        "p50_change": change,
        "regression": regression,
        "test": "mann-whitney-u",
        "p_value": 1e-30 if regression else 0.41,
        "effect": 0.97 if regression else 0.04,
    }


def _endpoint(endpoint: str, different: int, noise: int, latency: dict[str, Any],
              decision: str, reasons: list[str]) -> dict[str, Any]:  # fmt: skip
    pairs = 120
    return {
        "endpoint": endpoint,
        "pairs": pairs, "different": different, "noise": noise,
        "same": pairs - different - noise,
        "diff_rate": different / pairs, "noise_rate": noise / pairs,
        "status_mismatches": 0,
        "errors": {"primary_5xx": 0, "candidate_5xx": 0, "candidate_failed": 0,
                   "candidate_timed_out": 0},
        "latency": latency,
        "size": {"primary_mean": 429.0, "candidate_mean": 428.0},
        "verdict": {"decision": decision, "reasons": reasons},
    }  # fmt: skip


SUMMARY: dict[str, Any] = {
    "name": NAME,
    "namespace": NAMESPACE,
    "host": SVC,
    "candidate": {"service": SVC, "subset": "v2"},
    "noise": {"service": SVC, "subset": "v1", "percentage": 100.0},
    "active": True,
    "since": "2026-11-28T07:30:00Z",
    "pairs": 360,
    "skipped": {"backlog": 0, "candidate_missing": 0, "candidate_timed_out": 0,
                "decode_error": 0, "body_truncated": 0, "store_unavailable": 0},
    "verdict": {
        "decision": "HOLD",
        "reasons": [
            "GET /json: $.slideshow.author removed in 100.0% of pairs (noise 0.0%)",
            "GET /get: p50 41.3 ms vs 1.3 ms (+3077%), mann-whitney-u p<1e-12",
        ],
    },
    "endpoints": [
        _endpoint(JSON_EP, 120, 0, _latency((1.2, 1.3), (3.1, 3.3), 0.083, False), "HOLD",
                  ["$.slideshow.author removed in 100.0% of pairs (noise 0.0%)"]),
        _endpoint(GET_EP, 0, 0, _latency((1.3, 41.3), (3.0, 44.9), 30.77, True), "HOLD",
                  ["p50 41.3 ms vs 1.3 ms (+3077%), mann-whitney-u p<1e-12"]),
        _endpoint(UUID_EP, 0, 120, _latency((1.1, 1.2), (2.9, 3.0), 0.09, False), "PROMOTE",
                  []),
    ],
}  # fmt: skip

FIELDS: dict[str, list[dict[str, Any]]] = {
    JSON_EP: [
        {"endpoint": JSON_EP, "path": PLANTED, "kind": "removed", "diffs": 120, "raw_rate": 1.0,
         "noise_rate": 0.0, "classification": "regression"},
        {"endpoint": JSON_EP, "path": PLANTED_NEW, "kind": "added", "diffs": 120,
         "raw_rate": 1.0, "noise_rate": 0.0, "classification": "regression"},
        {"endpoint": JSON_EP, "path": "header:x-served-by", "kind": "header", "diffs": 7,
         "raw_rate": 0.058, "noise_rate": 0.06, "classification": "noise"},
    ],
    GET_EP: [],
    UUID_EP: [
        {"endpoint": UUID_EP, "path": "$.uuid", "kind": "changed", "diffs": 120, "raw_rate": 1.0,
         "noise_rate": 1.0, "classification": "noise"},
        {"endpoint": UUID_EP, "path": "$.generated_at", "kind": "changed", "diffs": 120,
         "raw_rate": 1.0, "noise_rate": 0.0, "classification": "volatile"},
    ],
}  # fmt: skip

SLIDESHOW: dict[str, Any] = {
    "slideshow": {
        "author": "Yours Truly",
        "date": "date of publication",
        "slides": [
            {"title": "Wake up to WonderWidgets!", "type": "all"},
            {"items": ["Why <em>WonderWidgets</em> are great", "Who <em>buys</em> WonderWidgets"],
             "title": "Overview", "type": "all"},
        ],
        "title": "Sample Slide Show",
    }
}  # fmt: skip


def _renamed(doc: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    show = out["slideshow"]
    out["slideshow"] = {("owner" if k == "author" else k): v for k, v in show.items()}
    return out


def _side(body: dict[str, Any], latency: float, served_by: str) -> dict[str, Any]:
    return {
        "status": 200,
        "headers": [["content-type", "application/json"], ["x-served-by", served_by],
                    ["authorization", "[redacted]"]],
        "body": json.dumps(body, indent=2),
        "body_encoding": "text",
        "truncated": False,
        "latency_ms": latency,
    }  # fmt: skip


SAMPLES: dict[str, list[dict[str, Any]]] = {
    JSON_EP: [
        {
            "endpoint": JSON_EP,
            "time": "2026-11-28T07:31:02Z",
            "request": {"method": "GET", "target": "/json"},
            "primary": _side(SLIDESHOW, 1.3, "a"),
            "candidate": _side(_renamed(SLIDESHOW), 1.4, "b"),
            "differences": [
                {"path": PLANTED, "kind": "removed", "primary": '"Yours Truly"',
                 "candidate": None},
                {"path": PLANTED_NEW, "kind": "added", "primary": None,
                 "candidate": '"Yours Truly"'},
                {"path": "header:x-served-by", "kind": "header", "primary": '"a"',
                 "candidate": '"b"'},
            ],
        }
    ],
    GET_EP: [],
    UUID_EP: [
        {
            "endpoint": UUID_EP,
            "time": "2026-11-28T07:31:04Z",
            "request": {"method": "GET", "target": "/uuid"},
            "primary": _side({"uuid": "5b1e4a52-6c1a-4b7e-9d35-1f0f0f0f0f01"}, 1.1, "a"),
            "candidate": _side({"uuid": "0c3d2b1a-3a4b-4c5d-8e9f-2a2a2a2a2a02"}, 1.2, "a"),
            "differences": [
                {"path": "$.uuid", "kind": "changed",
                 "primary": '"5b1e4a52-6c1a-4b7e-9d35-1f0f0f0f0f01"',
                 "candidate": '"0c3d2b1a-3a4b-4c5d-8e9f-2a2a2a2a2a02"'},
            ],
        }
    ],
}  # fmt: skip


def _buckets(values_ms: list[float]) -> list[int]:
    counts = [0] * (len(BOUNDS) + 1)
    for v in values_ms:
        i = next((i for i, b in enumerate(BOUNDS) if v <= b), len(BOUNDS))
        counts[i] += 1
    return counts


def _latency_doc(endpoint: str, primary: list[float], candidate: list[float]) -> dict[str, Any]:
    return {"endpoint": endpoint, "bounds_ms": BOUNDS, "primary": _buckets(primary),
            "candidate": _buckets(candidate)}  # fmt: skip


LATENCY: dict[str, dict[str, Any]] = {
    JSON_EP: _latency_doc(JSON_EP, [0.8] * 20 + [1.5] * 90 + [3.0] * 10,
                          [0.9] * 18 + [1.6] * 92 + [3.2] * 10),
    GET_EP: _latency_doc(GET_EP, [0.9] * 25 + [1.6] * 85 + [3.0] * 10,
                         [41.0] * 110 + [60.0] * 10),
    UUID_EP: _latency_doc(UUID_EP, [0.7] * 30 + [1.5] * 85 + [2.5] * 5,
                          [0.8] * 28 + [1.5] * 86 + [2.6] * 6),
}  # fmt: skip
