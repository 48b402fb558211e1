"""The comparison report over the admin API (documents: compare/report.py), plus metrics.

    GET  /api/v1/comparisons                                  every Comparison's summary
    GET  /api/v1/comparisons/{namespace}/{name}               one summary
    GET  /api/v1/comparisons/{namespace}/{name}/fields        fields by classification
    GET  /api/v1/comparisons/{namespace}/{name}/samples       redacted sample pairs
    GET  /api/v1/comparisons/{namespace}/{name}/latency       latency histograms
    POST /api/v1/comparisons/reset[?namespace=&name=]          forget reports (a write)

Reports are read from the comparison store in a worker thread, never on the event loop.
The control plane carries the store as `control.compare` (`compare.runtime.CompareReports`)
when the proxy runs; without it these routes answer 404, as a server without the engine
does (the dashboard and the demo take that to mean "this server does not compare"), and
503 is kept for a store that cannot be reached.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shadowmesh.admin.contract import ControlPlaneAPI
from shadowmesh.admin.guard import WriteGuard
from shadowmesh.admin.openapi import OPENAPI
from shadowmesh.telemetry.logquery import parse_duration

MAX_SAMPLES = 100


def _error(status: int, reason: str, message: str) -> Response:
    return JSONResponse({"error": reason, "message": message}, status_code=status)


class _BadRequest(Exception):
    pass


def _number(request: Request, name: str, default: float) -> float:
    text = request.query_params.get(name)
    if not text:
        return default
    try:
        return float(text.rstrip("%")) / (100.0 if text.endswith("%") else 1.0)
    except ValueError as exc:
        raise _BadRequest(f"{name} must be a number or a percentage, not {text!r}") from exc


def verdict_options(request: Request) -> Any:
    from shadowmesh.compare.verdict import VerdictOptions

    base = VerdictOptions()
    return VerdictOptions(
        max_diff_rate=_number(request, "max_diff_rate", base.max_diff_rate),
        max_latency_regression=_number(request, "max_latency_regression",
                                       base.max_latency_regression),
        min_pairs=int(_number(request, "min_pairs", base.min_pairs)),
    )


def _since(request: Request) -> float | None:
    text = request.query_params.get("since")
    if not text:
        return None
    try:
        return time.time() - parse_duration(text)
    except ValueError as exc:
        raise _BadRequest(f"since: {exc}") from exc


class CompareHandlers:
    def __init__(self, control: ControlPlaneAPI, guard: WriteGuard) -> None:
        self.control = control
        self.guard = guard

    def _reports(self) -> Any:
        return getattr(self.control, "compare", None)

    def _active(self) -> set[tuple[str, str]]:
        return {(r.metadata.namespace, r.metadata.name) for r in self.control.resources()
                if r.kind == "Comparison"}

    async def _call(self, work: Callable[[Any], Any]) -> Response:
        reports = self._reports()
        if reports is None:
            return _error(404, "NotFound", "comparison is not running in this process")
        from shadowmesh.compare.store import StoreUnavailable

        try:
            body = await asyncio.to_thread(lambda: work(reports.store))
        except StoreUnavailable as exc:
            return _error(503, "Unavailable", f"the comparison store is unreachable: {exc}")
        except _BadRequest as exc:
            return _error(400, "BadRequest", str(exc))
        if body is None:
            return _error(404, "NotFound", "no such comparison report")
        return JSONResponse(body)

    async def list(self, request: Request) -> Response:
        from shadowmesh.compare.report import build_report

        try:
            options, since = verdict_options(request), _since(request)
        except _BadRequest as exc:
            return _error(400, "BadRequest", str(exc))
        endpoint = request.query_params.get("endpoint") or None
        active = self._active()
        return await self._call(lambda store: build_report(
            store, options, endpoint=endpoint, since=since, active=active))

    async def one(self, request: Request) -> Response:
        from shadowmesh.compare.report import build_report

        ns, name = request.path_params["namespace"], request.path_params["name"]
        try:
            options, since = verdict_options(request), _since(request)
        except _BadRequest as exc:
            return _error(400, "BadRequest", str(exc))
        endpoint = request.query_params.get("endpoint") or None
        active = self._active()

        def work(store: Any) -> Any:
            found = build_report(store, options, ns, name, endpoint, since, active)
            return found["comparisons"][0] if found["comparisons"] else None

        return await self._call(work)

    async def fields(self, request: Request) -> Response:
        from shadowmesh.compare.report import field_rows

        ns, name = request.path_params["namespace"], request.path_params["name"]
        endpoint = request.query_params.get("endpoint") or None
        try:
            since = _since(request)
        except _BadRequest as exc:
            return _error(400, "BadRequest", str(exc))

        def work(store: Any) -> Any:
            stored = store.load(ns, name, since)
            return None if stored is None else {"fields": field_rows(stored, endpoint)}

        return await self._call(work)

    async def samples(self, request: Request) -> Response:
        ns, name = request.path_params["namespace"], request.path_params["name"]
        endpoint = request.query_params.get("endpoint") or None
        path = request.query_params.get("path") or None
        try:
            limit = max(1, min(MAX_SAMPLES, int(request.query_params.get("limit") or 20)))
        except ValueError:
            return _error(400, "BadRequest", "limit must be an integer")
        return await self._call(lambda store: {
            "samples": store.samples(ns, name, endpoint, path, limit)})

    async def latency(self, request: Request) -> Response:
        from shadowmesh.compare.report import latency_histogram

        ns, name = request.path_params["namespace"], request.path_params["name"]
        endpoint = request.query_params.get("endpoint")
        if not endpoint:
            return _error(400, "BadRequest", "endpoint is required, e.g. ?endpoint=GET%20/")

        def work(store: Any) -> Any:
            stored = store.load(ns, name)
            return None if stored is None else latency_histogram(stored, endpoint)

        return await self._call(work)

    async def reset(self, request: Request) -> Response:
        refusal = self.guard.refusal(request.headers.get("authorization"))
        if refusal is not None:
            return _error(403, "Forbidden", refusal)
        ns = request.query_params.get("namespace") or None
        name = request.query_params.get("name") or None
        if (ns is None) != (name is None):
            return _error(400, "BadRequest", "give both namespace and name, or neither")

        def work(store: Any) -> Any:
            store.reset(ns, name)
            return {"reset": f"{ns}/{name}" if ns else "all"}

        return await self._call(work)


def compare_routes(control: ControlPlaneAPI, guard: WriteGuard) -> list[Route]:
    h = CompareHandlers(control, guard)
    one = "/api/v1/comparisons/{namespace}/{name}"
    return [
        Route("/api/v1/comparisons", h.list, methods=["GET"]),
        Route("/api/v1/comparisons/reset", h.reset, methods=["POST"]),
        Route(one, h.one, methods=["GET"]),
        Route(f"{one}/fields", h.fields, methods=["GET"]),
        Route(f"{one}/samples", h.samples, methods=["GET"]),
        Route(f"{one}/latency", h.latency, methods=["GET"]),
    ]


async def compare_metrics(control: ControlPlaneAPI) -> bytes:
    """The comparison's Prometheus families; empty unless a Comparison is in force or its
    store is already open (a scrape must not create a store nobody asked for)."""
    reports = getattr(control, "compare", None)
    if reports is None:
        return b""
    in_force = any(r.kind == "Comparison" for r in control.resources())
    if not in_force and getattr(reports, "_store", None) is None:
        return b""
    from shadowmesh.compare.metrics import render_compare_metrics
    from shadowmesh.compare.store import StoreUnavailable

    try:
        body: bytes = await asyncio.to_thread(lambda: render_compare_metrics(reports.store))
    except StoreUnavailable:
        return b""
    return body


def _get(summary: str, params: list[dict[str, Any]], ok: str) -> dict[str, Any]:
    return {"get": {"summary": summary, "parameters": params, "responses": {
        "200": {"description": ok, "content": {"application/json": {"schema": {
            "type": "object"}}}},
        "404": {"description": "no such comparison report, or comparison not running"},
        "503": {"description": "the comparison store is unreachable"}}}}


def _q(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": "string"}}


def _p(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


_VERDICT_PARAMS = [_q("endpoint", "only this endpoint, e.g. `GET /users/{id}`"),
                   _q("since", "only pairs of the last DURATION (e.g. 10m)"),
                   _q("max_diff_rate", "verdict: largest difference rate (0.01 or 1%)"),
                   _q("max_latency_regression", "verdict: largest median slowdown (10%)"),
                   _q("min_pairs", "verdict: pairs needed (200)")]
_ONE = "/api/v1/comparisons/{namespace}/{name}"
COMPARE_PATHS: dict[str, Any] = {
    "/api/v1/comparisons": _get("Comparison reports: a summary per Comparison, endpoints ranked",
                                _VERDICT_PARAMS, "{comparisons: [...]}"),
    "/api/v1/comparisons/reset": {"post": {
        "summary": "Forget comparison reports (all, or ?namespace=&name=)",
        "parameters": [_q("namespace", "namespace"), _q("name", "name")],
        "security": [{"bearer": []}, {}],
        "responses": {"200": {"description": "reset"}, "403": {"description": "refused"}}}},
    _ONE: _get("One comparison report", [_p("namespace"), _p("name"), *_VERDICT_PARAMS],
               "ComparisonSummary"),
    f"{_ONE}/fields": _get("Fields that differ, raw vs noise rate, classification",
                           [_p("namespace"), _p("name"), _q("endpoint", "endpoint")],
                           "{fields: [...]}"),
    f"{_ONE}/samples": _get("Redacted sample pairs with the differences marked",
                            [_p("namespace"), _p("name"), _q("endpoint", "endpoint"),
                             _q("path", "field path, e.g. $.user.name"),
                             _q("limit", "at most this many (20, max 100)")],
                            "{samples: [...]}"),
    f"{_ONE}/latency": _get("Latency histograms, primary and candidate",
                            [_p("namespace"), _p("name"), _q("endpoint", "endpoint (required)")],
                            "{endpoint, bounds_ms, primary, candidate}"),
}
OPENAPI["paths"].update(COMPARE_PATHS)  # listed in /openapi.json with the other routes
