"""The admin API's OpenAPI 3.1 description, served at /openapi.json.

Written by hand: the routes are few and stable, and a hand-written schema documents the
request bodies (YAML) and error shapes that a generator would guess wrong.
"""

from __future__ import annotations

from typing import Any

from shadowmesh.admin.kinds import KINDS


def _json(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _text(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _path(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


_KIND_NAMES = sorted(
    {name for k in KINDS for name in (k.kind, k.singular, k.plural, k.short)}, key=str.lower
)
_ERROR = _json("Error", "error")
_FORBIDDEN = _json("Error", "writes refused: not same-origin (Host, Origin), not loopback "
                   "without a token, or wrong token")
_WRITE_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {}]

_APPLY = {
    "summary": "Apply resources (kubectl apply): all or nothing",
    "parameters": [_query("source", "name shown in issues (e.g. the file)", {"type": "string"})],
    "requestBody": {
        "required": True,
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object"}},
        },
    },
    "security": _WRITE_SECURITY,
    "responses": {
        "200": _json("ApplyResult", "applied (issues may hold warnings)"),
        "400": _ERROR,
        "403": _FORBIDDEN,
        "413": _json("Error", "the body is larger than --admin-body-limit"),
        "415": _json("Error", "Content-Type is not application/yaml, application/x-yaml, "
                     "text/yaml or application/json"),
        "422": _json("ApplyResult", "rejected with Istio's messages; nothing changed"),
        "429": _json("Error", "too many configuration changes in progress"),
    },
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "shadowmesh admin API",
        "version": "1",
        "description": "Health, Prometheus metrics, effective configuration, Istio resources, "
        "access logs and the traffic graph of a running shadowmesh.",
    },
    "paths": {
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": _text("ok")}}},
        "/ready": {
            "get": {
                "summary": "Readiness: configuration loaded and listeners up; then one "
                           "`degraded: <task> failing (...)` line per failing background task",
                "responses": {"200": _text("ready"), "503": _text("not ready")},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (Istio's names, plus shadowmesh_*)",
                "responses": {"200": _text("Prometheus text exposition format 0.0.4")},
            }
        },
        "/config_dump": {
            "get": {
                "summary": "Effective configuration and resolved endpoints",
                "responses": {
                    "200": {"description": "JSON document", "content": {"application/json": {}}}
                },
            }
        },
        "/openapi.json": {
            "get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI"}}}
        },
        "/api/v1/resources": {
            "get": {
                "summary": "List resources in force",
                "parameters": [
                    _query("kind", "kind, plural or short name", {"enum": _KIND_NAMES}),
                    _query("namespace", "only this namespace", {"type": "string"}),
                ],
                "responses": {
                    "200": _json("ResourceList", "a Kubernetes-style List"),
                    "400": _ERROR,
                },
            },
            "post": _APPLY,
            "put": _APPLY,
        },
        "/api/v1/resources/{kind}/{namespace}/{name}": {
            "parameters": [
                _path("kind", "kind, plural or short name (vs, dr, se, we, gw)"),
                _path("namespace", "namespace"),
                _path("name", "name"),
            ],
            "get": {
                "summary": "One resource",
                "responses": {
                    "200": _json("Resource", "the resource"),
                    "400": _ERROR,
                    "404": _ERROR,
                },
            },
            "delete": {
                "summary": "Delete one resource",
                "security": _WRITE_SECURITY,
                "responses": {
                    "200": _json("ApplyResult", "deleted"),
                    "403": _FORBIDDEN,
                    "404": _ERROR,
                    "422": _json("ApplyResult", "refused; nothing changed"),
                },
            },
        },
        "/api/v1/logs": {
            "get": {
                "summary": "Recent access-log lines of a workload (like kubectl logs)",
                "parameters": [
                    _query(
                        "workload",
                        "destination workload, e.g. httpbin-v2; all if absent",
                        {"type": "string"},
                    ),
                    _query("since", "only lines newer than this (30s, 1m, 1h)", {"type": "string"}),
                    _query("tail", "only the last N lines", {"type": "integer", "minimum": 0}),
                    _query(
                        "after",
                        "cursor from a previous answer: only newer lines",
                        {"type": "number"},
                    ),
                ],
                "responses": {"200": _json("Logs", "lines, oldest first"), "400": _ERROR},
            }
        },
        "/api/v1/graph": {
            "get": {
                "summary": "Traffic graph in Kiali's model, with mirror edges",
                "parameters": [
                    _query("window", "rate window, e.g. 60s (at most 15m)", {"type": "string"})
                ],
                "responses": {"200": _json("Graph", "nodes and edges"), "400": _ERROR},
            }
        },
        "/api/v1/kubernetes": {
            "get": {
                "summary": "With `run --kubernetes`: each watch (resource version, state, "
                "events, relists, last error), the custom resources rejected and why, pushes "
                "and the last event-to-table delay (`shadowmesh get kubernetes`)",
                "responses": {
                    "200": {"description": "JSON document", "content": {"application/json": {}}},
                    "404": _ERROR,
                },
            }
        },
        "/api/v1/mirror-stats": {
            "get": {
                "summary": "Shadow copies per destination service since start: sent, "
                "succeeded, failed, timed out, skipped by reason (the dashboard's numbers)",
                "responses": {
                    "200": {"description": "JSON document", "content": {"application/json": {}}}
                },
            }
        },
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
                "required": ["error", "message"],
            },
            "Issue": {
                "type": "object",
                "properties": {
                    "level": {"enum": ["error", "warning"]},
                    "message": {"type": "string", "description": "Istio's wording"},
                    "file": {"type": ["string", "null"]},
                    "document": {"type": ["string", "null"]},
                    "path": {"type": ["string", "null"]},
                    "code": {"type": ["string", "null"]},
                    "line": {"type": ["integer", "null"]},
                    "text": {"type": "string", "description": "one printable line"},
                },
            },
            "ApplyResult": {
                "type": "object",
                "properties": {
                    "ok": {"type": "boolean"},
                    "changed": {
                        "type": "array",
                        "items": {"type": "string"},
                        "examples": [["virtualservice.networking.istio.io/httpbin configured"]],
                    },
                    "issues": {"type": "array", "items": {"$ref": "#/components/schemas/Issue"}},
                },
            },
            "Resource": {
                "type": "object",
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "metadata": {"type": "object"},
                    "spec": {"type": "object"},
                },
            },
            "ResourceList": {
                "type": "object",
                "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Resource"}}
                },
            },
            "Logs": {
                "type": "object",
                "properties": {
                    "workload": {"type": ["string", "null"]},
                    "lines": {"type": "array", "items": {"type": "string"}},
                    "cursor": {"type": "number"},
                    "workloads": {"type": "array", "items": {"type": "string"}},
                },
            },
            "Graph": {
                "type": "object",
                "properties": {
                    "nodes": {"type": "array", "items": {"type": "object"}},
                    "edges": {"type": "array", "items": {"type": "object"}},
                },
            },
        },
    },
}
