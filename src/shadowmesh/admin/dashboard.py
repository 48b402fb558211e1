"""The dashboard page, served by the admin server itself, and the mirror statistics it shows.

`GET /` and `GET /ui/` answer one static page; its stylesheet and JavaScript modules are
plain files under `admin/static/` served at `/ui/<file>` (no build step, nothing fetched
from anywhere but this server, which the page's Content-Security-Policy enforces). The page
reads the admin API (`/api/v1/graph`, `/api/v1/logs`, `/api/v1/resources`) and one endpoint
defined here, `GET /api/v1/mirror-stats`: shadow copies per destination service, computed
from the same merged telemetry snapshots as `/metrics`, so the two always agree.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from shadowmesh.telemetry.snapshot import Gauge, TelemetrySnapshot

STATIC_DIR = Path(__file__).with_name("static")

# Outcomes of a copy that was sent, as the telemetry counts them (`sent` is their sum).
OUTCOMES: tuple[str, ...] = ("sent", "succeeded", "failed", "timed_out")

# Worst first: with several workers, a circuit open in any of them is what a user must see.
_CIRCUIT_SEVERITY = {"open": 2, "half_open": 1, "closed": 0}

# Everything the page loads comes from this server; inline script and style are not needed.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def _service_of_cluster(cluster: str) -> str:
    """`outbound|8000|v2|httpbin.default.svc.cluster.local` -> the service FQDN."""
    return cluster.rsplit("|", 1)[-1]


def _circuits(gauges: Iterable[Gauge]) -> dict[str, dict[str, str]]:
    """service -> cluster -> circuit state (the worst across workers)."""
    out: dict[str, dict[str, str]] = {}
    for name, labels, value in gauges:
        if name != "shadowmesh_mirror_circuit_state" or value != 1.0:
            continue
        cluster, state = labels.get("cluster", ""), labels.get("state", "")
        by_cluster = out.setdefault(_service_of_cluster(cluster), {})
        known = by_cluster.get(cluster)
        if known is None or _CIRCUIT_SEVERITY.get(state, 0) > _CIRCUIT_SEVERITY.get(known, 0):
            by_cluster[cluster] = state
    return out


def _gauge_total(gauges: Iterable[Gauge], name: str) -> int:
    return int(sum(value for gauge, _, value in gauges if gauge == name))


def _empty_counts() -> dict[str, Any]:
    return {**dict.fromkeys(OUTCOMES, 0), "skipped": {}, "skipped_total": 0}


def mirror_stats(snapshot: TelemetrySnapshot) -> dict[str, Any]:
    """Shadow copies per destination service since start: sent, succeeded (any answer),
    failed, timed out, and those not sent by reason; plus the mirror queue right now."""
    services: dict[str, dict[str, Any]] = {}

    def entry(service: str) -> dict[str, Any]:
        if service not in services:
            services[service] = {"destination_service": service, **_empty_counts()}
        return services[service]

    for (service, outcome), n in snapshot.mirror.items():
        if outcome in OUTCOMES:
            entry(service)[outcome] += n
    for (service, reason), n in snapshot.mirror_skipped.items():
        counts = entry(service)
        counts["skipped"][reason] = counts["skipped"].get(reason, 0) + n
        counts["skipped_total"] += n
    circuits = _circuits(snapshot.gauges)
    for service in circuits:
        entry(service)
    totals = _empty_counts()
    for service in sorted(services):
        counts = services[service]
        counts["skipped"] = dict(sorted(counts["skipped"].items()))
        counts["circuits"] = [
            {"cluster": cluster, "state": state}
            for cluster, state in sorted(circuits.get(service, {}).items())
        ]
        for outcome in OUTCOMES:
            totals[outcome] += counts[outcome]
        for reason, n in counts["skipped"].items():
            totals["skipped"][reason] = totals["skipped"].get(reason, 0) + n
        totals["skipped_total"] += counts["skipped_total"]
    totals["skipped"] = dict(sorted(totals["skipped"].items()))
    return {
        "taken_at": snapshot.taken_at,
        "workers": snapshot.workers,
        "services": [services[s] for s in sorted(services)],
        "totals": totals,
        "queue_depth": _gauge_total(snapshot.gauges, "shadowmesh_mirror_queue_depth"),
        "inflight": _gauge_total(snapshot.gauges, "shadowmesh_mirror_inflight"),
    }


def dashboard_routes(snapshot: Callable[[], Awaitable[TelemetrySnapshot]]) -> list[BaseRoute]:
    """The page at `/` and `/ui/`, its files under `/ui/`, and `/api/v1/mirror-stats`
    (from `snapshot()`, the merged telemetry of every data plane)."""
    page = STATIC_DIR / "index.html"

    async def index(request: Request) -> Response:
        return FileResponse(page, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    async def to_index(request: Request) -> Response:
        return RedirectResponse("/ui/", status_code=308)

    async def stats(request: Request) -> Response:
        return JSONResponse(mirror_stats(await snapshot()))

    return [
        Route("/", index, methods=["GET"]),
        Route("/ui", to_index, methods=["GET"]),
        Route("/ui/", index, methods=["GET"]),
        Route("/api/v1/mirror-stats", stats, methods=["GET"]),
        Mount("/ui", app=StaticFiles(directory=STATIC_DIR), name="ui"),
    ]
