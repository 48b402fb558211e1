"""The dashboard's server side: `/api/v1/mirror-stats` (pure, then through the app against the
in-memory control plane double) and the static page and its files."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.admin.double import FakeControlPlane
from tests.telemetry.records import primary, shadow

from shadowmesh.admin.app import build_app
from shadowmesh.admin.dashboard import PAGE_HEADERS, STATIC_DIR, mirror_stats
from shadowmesh.admin.guard import WriteGuard
from shadowmesh.telemetry.snapshot import TelemetrySnapshot, merge_snapshots

SVC = "httpbin.default.svc.cluster.local"
REVIEWS = "reviews.default.svc.cluster.local"
V2 = f"outbound|8000|v2|{SVC}"


def circuit(cluster: str, state: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        ("shadowmesh_mirror_circuit_state", {"cluster": cluster, "state": s}, float(s == state))
        for s in ("closed", "open", "half_open")
    ]


def totals(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict.fromkeys(("sent", "succeeded", "failed", "timed_out"), 0)
    return {**base, "skipped": {}, "skipped_total": 0, **kw}


def counts(**kw: Any) -> dict[str, Any]:
    """One service's row: the totals' fields plus its mirror clusters' circuit states."""
    return totals(**{"circuits": [], **kw})


@pytest.mark.parametrize(
    ("snapshot", "services", "expected_totals"),
    [
        pytest.param(TelemetrySnapshot(), [], totals(), id="nothing yet"),
        pytest.param(
            TelemetrySnapshot(
                mirror={
                    (SVC, "sent"): 5,
                    (SVC, "succeeded"): 3,
                    (SVC, "failed"): 1,
                    (SVC, "timed_out"): 1,
                },
                mirror_skipped={(SVC, "queue_full"): 2, (SVC, "body_too_large"): 1},
                gauges=circuit(V2, "closed"),
            ),
            [
                counts(
                    destination_service=SVC,
                    sent=5,
                    succeeded=3,
                    failed=1,
                    timed_out=1,
                    skipped={"body_too_large": 1, "queue_full": 2},
                    skipped_total=3,
                    circuits=[{"cluster": V2, "state": "closed"}],
                ),
            ],
            totals(
                sent=5,
                succeeded=3,
                failed=1,
                timed_out=1,
                skipped_total=3,
                skipped={"body_too_large": 1, "queue_full": 2},
            ),
            id="outcomes and skip reasons",
        ),
        pytest.param(
            TelemetrySnapshot(
                mirror={(SVC, "sent"): 1, (SVC, "succeeded"): 1},
                mirror_skipped={(REVIEWS, "circuit_open"): 4},
            ),
            [
                counts(destination_service=SVC, sent=1, succeeded=1),
                counts(destination_service=REVIEWS, skipped={"circuit_open": 4}, skipped_total=4),
            ],
            totals(sent=1, succeeded=1, skipped={"circuit_open": 4}, skipped_total=4),
            id="a service whose copies were all skipped",
        ),
        pytest.param(
            merge_snapshots(
                [
                    TelemetrySnapshot(gauges=circuit(V2, "closed")),
                    TelemetrySnapshot(gauges=circuit(V2, "open")),
                ]
            ),
            [counts(destination_service=SVC, circuits=[{"cluster": V2, "state": "open"}])],
            totals(),
            id="the worst circuit state across workers",
        ),
    ],
)
def test_mirror_stats(
    snapshot: TelemetrySnapshot, services: list[dict[str, Any]], expected_totals: dict[str, Any]
) -> None:
    stats = mirror_stats(snapshot)
    # services sorted by name, so the page's rows do not move
    assert stats["services"] == sorted(services, key=lambda s: s["destination_service"])
    assert stats["totals"] == expected_totals


def test_mirror_stats_sums_the_queue_over_workers() -> None:
    worker = TelemetrySnapshot(
        taken_at=10.0,
        gauges=[
            ("shadowmesh_mirror_queue_depth", {}, 3.0),
            ("shadowmesh_mirror_inflight", {}, 2.0),
        ],
    )
    stats = mirror_stats(merge_snapshots([worker, worker]))
    assert (stats["queue_depth"], stats["inflight"], stats["workers"]) == (6, 4, 2)
    assert stats["taken_at"] == 10.0


# -- through the app -----------------------------------------------------------------------

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client() -> AsyncIterator[tuple[FakeControlPlane, httpx.AsyncClient]]:
    control = FakeControlPlane()
    app = build_app(control, WriteGuard(loopback=True))  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as http:
        yield control, http


async def test_mirror_stats_agree_with_the_metrics(
    client: tuple[FakeControlPlane, httpx.AsyncClient],
) -> None:
    control, http = client
    for i in range(3):
        control.telemetry.on_request(primary(request_id=f"r{i}"))
        control.telemetry.on_request(shadow(request_id=f"r{i}"))
    control.telemetry.on_request(shadow(response_code=0, response_flags="UF"))
    control.telemetry.on_request(shadow(response_code=0, response_flags="UT"))
    control.telemetry.on_mirror_skipped(SVC, "body_too_large")
    answer = await http.get("/api/v1/mirror-stats")
    assert answer.status_code == 200
    (row,) = answer.json()["services"]
    # the double reports two workers with the same traffic: every count doubles
    assert row == counts(destination_service=SVC, sent=10, succeeded=6, failed=2, timed_out=2,
                         skipped={"body_too_large": 2}, skipped_total=2)  # fmt: skip
    metrics = (await http.get("/metrics")).text
    samples = {
        (s.labels.get("outcome") or s.labels.get("reason")): s.value
        for family in text_string_to_metric_families(metrics)
        if family.name in ("shadowmesh_mirror_requests", "shadowmesh_mirror_skipped")
        for s in family.samples
        if s.name.endswith("_total")
    }
    assert samples == {
        "sent": 10, "succeeded": 6, "failed": 2, "timed_out": 2, "body_too_large": 2,
    }  # fmt: skip


async def test_the_mirror_stats_route_is_in_the_openapi_document(
    client: tuple[FakeControlPlane, httpx.AsyncClient],
) -> None:
    spec = (await client[1].get("/openapi.json")).json()
    assert set(spec["paths"]["/api/v1/mirror-stats"]) == {"get"}


# -- the page and its files ----------------------------------------------------------------

LOCAL_REF = re.compile(r'(?:src|href)="([^"]+)"')
IMPORT = re.compile(r'^import .* from "(\./[\w.]+)";$', re.MULTILINE)


@pytest.mark.parametrize("path", ["/", "/ui/"])
async def test_the_page_is_served_with_a_same_origin_policy(
    client: tuple[FakeControlPlane, httpx.AsyncClient], path: str
) -> None:
    answer = await client[1].get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert answer.headers["content-security-policy"] == PAGE_HEADERS["Content-Security-Policy"]
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    assert "<title>shadowmesh dashboard</title>" in answer.text


async def test_ui_without_slash_redirects(
    client: tuple[FakeControlPlane, httpx.AsyncClient],
) -> None:
    answer = await client[1].get("/ui")
    assert answer.status_code == 308 and answer.headers["location"] == "/ui/"


async def test_every_file_the_page_loads_is_served_from_here(
    client: tuple[FakeControlPlane, httpx.AsyncClient],
) -> None:
    http = client[1]
    page = (await http.get("/")).text
    refs = [ref for ref in LOCAL_REF.findall(page) if not ref.startswith("data:")]
    assert refs == ["/ui/dashboard.css", "/ui/main.js"]
    seen: set[str] = set()
    todo = list(refs)
    while todo:  # bounded: each of the few static files is fetched once
        ref = todo.pop()
        if ref in seen:
            continue
        seen.add(ref)
        answer = await http.get(ref)
        assert answer.status_code == 200, ref
        if ref.endswith(".js"):
            assert "javascript" in answer.headers["content-type"], ref
            assert "http://" not in answer.text.replace("http://www.w3.org/2000/svg", "")
            assert "https://" not in answer.text
            todo += ["/ui/" + name.removeprefix("./") for name in IMPORT.findall(answer.text)]
    on_disk = {"/ui/" + p.name for p in STATIC_DIR.iterdir() if p.name != "index.html"}
    # nothing left unused, and no subfolder (pyproject ships admin/static/* only)
    assert seen == on_disk
    assert all(p.is_file() for p in STATIC_DIR.iterdir())
