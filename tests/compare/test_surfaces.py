"""The report's surfaces on a store filled by the engine: admin API routes (the report's
documents), /openapi.json, /metrics, and the `shadowmesh compare` command."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from tests.compare.outcomes import captured, copy, primary
from tests.support import yaml_builders as yb

from shadowmesh.admin.server import start_admin
from shadowmesh.compare.commands import compare
from shadowmesh.compare.engine import CompareEngine
from shadowmesh.compare.runtime import CompareReports
from shadowmesh.compare.spec import build_specs
from shadowmesh.compare.store import open_store
from shadowmesh.controlplane import ControlPlane
from shadowmesh.routing.compile import CompileOptions

CMP = {"apiVersion": "shadowmesh.io/v1alpha1", "kind": "Comparison",
       "metadata": {"name": "httpbin", "namespace": "default"},
       "spec": {"host": "httpbin", "candidate": {"subset": "v2"},
                "redact": {"fields": ["$.token"]}}}


@pytest.fixture
def filled(tmp_path: Path) -> tuple[ControlPlane, str]:
    """A control plane with a Comparison in force, and a store with 60 pairs in it:
    /users differs in $.name (and is 30 ms slower), /items is identical."""
    config = tmp_path / "mesh.yaml"
    docs = yb.service("httpbin", {"v1": 8001, "v2": 8002},
                      http=[{"route": [yb.route("httpbin", "v1")],
                             "mirror": yb.dest("httpbin", "v2")}])
    config.write_text(yb.dump(docs, [CMP]))
    control = ControlPlane([str(config)], CompileOptions())
    assert control.load_files().ok
    url = f"sqlite:///{tmp_path}/cmp.db"
    control.compare = CompareReports(url)
    engine = CompareEngine(open_store(url))
    engine.set_specs(build_specs(control.resources()))
    batch: list[Any] = []
    for i in range(30):
        p = primary(captured({"id": i, "name": "Ann", "token": "s3cret"}), target=f"/users/{i}",
                    duration_ms=2.0 + i % 3 * 0.1)
        batch += [p, copy(p.cid, captured({"id": i, "name": "ann", "token": "t0ken"}),
                          duration_ms=32.0 + i % 3 * 0.1)]
        q = primary(captured({"id": i}), target=f"/items/{i}")
        batch += [q, copy(q.cid, captured({"id": i}))]
    engine.consume(batch)
    assert engine.flush()
    return control, url


@asynccontextmanager
async def client(control: ControlPlane, token: str | None = None
                 ) -> AsyncIterator[httpx.AsyncClient]:
    """The real admin server on a loopback port, and a client for it."""
    server = await start_admin(control, "127.0.0.1", 0, token)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10,
                                     trust_env=False) as http:
            yield http
    finally:
        await server.stop()


@pytest.mark.anyio
async def test_admin_routes_answer_the_compare_api_shapes(
        filled: tuple[ControlPlane, str]) -> None:
    control, _ = filled
    async with client(control) as http:
        await check_routes(http)


async def check_routes(http: httpx.AsyncClient) -> None:
    async def get(url: str, **params: str) -> Any:
        response = await http.get(url, params=params)
        return response.json() if response.status_code == 200 else response.status_code

    (cmp,) = (await get("/api/v1/comparisons", min_pairs="50"))["comparisons"]
    assert {"name", "namespace", "host", "candidate", "noise", "active", "since", "pairs",
            "skipped", "verdict", "endpoints"} <= set(cmp)
    assert (cmp["pairs"], cmp["active"], cmp["verdict"]["decision"]) == (60, True, "HOLD")
    users, items = cmp["endpoints"]  # ranked by difference rate
    assert (users["endpoint"], users["diff_rate"], items["diff_rate"]) == (
        "GET /users/{id}", 1.0, 0.0)
    assert {"pairs", "different", "noise", "same", "diff_rate", "noise_rate",
            "status_mismatches", "errors", "latency", "size", "verdict"} <= set(users)
    assert users["latency"]["test"] == "mann-whitney-u" and users["latency"]["regression"]
    assert (await get("/api/v1/comparisons/default/httpbin"))["name"] == "httpbin"
    base = "/api/v1/comparisons/default/httpbin"
    fields = (await get(f"{base}/fields", endpoint="GET /users/{id}"))["fields"]
    assert [(f["path"], f["kind"], f["classification"]) for f in fields] == [
        ("$.name", "changed", "regression"), ("$.token", "changed", "regression")]
    (sample,) = (await get(f"{base}/samples", endpoint="GET /users/{id}", path="$.name",
                           limit="1"))["samples"]
    assert sample["request"]["method"] == "GET" and "s3cret" not in json.dumps(sample)
    latency = await get(f"{base}/latency", endpoint="GET /users/{id}")
    assert len(latency["primary"]) == len(latency["bounds_ms"]) + 1
    assert sum(latency["candidate"]) == 30 and latency["candidate"][6] == 30  # 20-50 ms
    assert await get("/api/v1/comparisons/default/nope/fields") == 404
    assert await get("/api/v1/comparisons", since="soon") == 400
    paths = (await get("/openapi.json"))["paths"]
    assert "/api/v1/comparisons/{namespace}/{name}/fields" in paths


@pytest.mark.anyio
async def test_metrics_from_the_store(filled: tuple[ControlPlane, str]) -> None:
    control, _ = filled
    async with client(control) as http:
        text = (await http.get("/metrics")).text
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples
               if s.name.startswith("shadowmesh_compare")}
    service = ("destination_service", "httpbin.default.svc.cluster.local")
    assert samples[("shadowmesh_compare_pairs_total",
                    (service, ("endpoint", "GET /users/{id}"), ("result", "different")))] == 30
    assert samples[("shadowmesh_compare_pairs_total",
                    (service, ("endpoint", "GET /items/{id}"), ("result", "same")))] == 30
    assert samples[("shadowmesh_compare_latency_milliseconds_count",
                    (service, ("endpoint", "GET /users/{id}"), ("side", "candidate")))] == 30
    assert samples[("shadowmesh_compare_field_diffs_total",
                    (("classification", "regression"), service, ("endpoint", "GET /users/{id}"),
                     ("kind", "changed")))] == 60


@pytest.mark.anyio
async def test_reset_is_a_write(filled: tuple[ControlPlane, str]) -> None:
    control, _ = filled
    async with client(control, token="t") as guarded:
        assert (await guarded.post("/api/v1/comparisons/reset")).status_code == 403
        ok = await guarded.post("/api/v1/comparisons/reset",
                                headers={"authorization": "Bearer t"},
                                params={"namespace": "default", "name": "httpbin"})
        assert ok.status_code == 200
        body = (await guarded.get("/api/v1/comparisons")).json()
        assert body["comparisons"] == []


def test_cli_report_json_and_verdict_exit_codes(filled: tuple[ControlPlane, str]) -> None:
    _, url = filled
    runner = CliRunner()
    text = runner.invoke(compare, ["--compare-store", url])
    assert text.exit_code == 0, text.output
    for expected in ("GET /users/{id}", "! $.name", '"Ann" -> "ann"', "Latency (ms)",
                     "REGRESSION", "Verdict for default/httpbin: HOLD"):
        assert expected in text.output
    assert "s3cret" not in text.output
    as_json = runner.invoke(compare, ["--compare-store", url, "--json",
                                      "--endpoint", "GET /items/{id}"])
    (cmp,) = json.loads(as_json.output)["comparisons"]
    assert [e["endpoint"] for e in cmp["endpoints"]] == ["GET /items/{id}"]
    hold = runner.invoke(compare, ["--compare-store", url, "--verdict", "--min-pairs", "10"])
    assert hold.exit_code == 1 and "HOLD" in hold.output
    few = runner.invoke(compare, ["--compare-store", url, "--verdict", "--endpoint",
                                  "GET /items/{id}", "--min-pairs", "200"])
    assert few.exit_code == 3 and "NOT ENOUGH DATA" in few.output
    promote = runner.invoke(compare, ["--compare-store", url, "--verdict", "--endpoint",
                                      "GET /items/{id}", "--min-pairs", "30"])
    assert promote.exit_code == 0 and "PROMOTE" in promote.output
    bad = runner.invoke(compare, ["--verdict", "--admin", "http://127.0.0.1:1"])
    assert bad.exit_code == 2 and "cannot reach the admin API" in bad.output
    reset = runner.invoke(compare, ["--compare-store", url, "--reset"])
    assert reset.exit_code == 0
    none = runner.invoke(compare, ["--compare-store", url, "--verdict"])
    assert none.exit_code == 3


def test_an_ignore_added_later_applies_to_the_pairs_already_counted(
        filled: tuple[ControlPlane, str], tmp_path: Path) -> None:
    """The dashboard's "ignore" re-applies the Comparison: from then on the field is out of
    the report, its past differences too, and pairs that differed only there are the same."""
    _, url = filled
    ignoring = {**CMP, "spec": {**CMP["spec"], "ignore": {"fields": ["$.token", "$..name"]}}}
    config = tmp_path / "ignoring.yaml"
    config.write_text(yb.dump(yb.service("httpbin", {"v1": 8001, "v2": 8002},
                                         http=[{"route": [yb.route("httpbin", "v1")],
                                                "mirror": yb.dest("httpbin", "v2")}]),
                              [ignoring]))
    control = ControlPlane([str(config)], CompileOptions())
    assert control.load_files().ok
    engine = CompareEngine(open_store(url))
    engine.set_specs(build_specs(control.resources()))
    engine.consume([])
    assert engine.flush()
    runner = CliRunner()
    as_json = runner.invoke(compare, ["--compare-store", url, "--json", "--min-pairs", "10"])
    (cmp,) = json.loads(as_json.output)["comparisons"]
    users = next(e for e in cmp["endpoints"] if e["endpoint"] == "GET /users/{id}")
    assert (users["pairs"], users["different"], users["noise"], users["same"]) == (30, 0, 0, 30)
    assert cmp["verdict"]["decision"] == "HOLD"  # /users is still 30 ms slower
    assert all("differ" not in r for r in cmp["verdict"]["reasons"])
    text = runner.invoke(compare, ["--compare-store", url, "--endpoint", "GET /users/{id}"])
    assert "$.name" not in text.output and "$.token" not in text.output


def test_cli_html_report(filled: tuple[ControlPlane, str], tmp_path: Path) -> None:
    """`--html FILE`: the offline page (compare/html_report.py) of the report just read."""
    import re

    from shadowmesh.compare.html_report import REPORT_CSP

    _, url = filled
    out = tmp_path / "report.html"
    runner = CliRunner()
    done = runner.invoke(compare, ["--compare-store", url, "--html", str(out),
                                   "--verdict", "--min-pairs", "10"])
    assert done.exit_code == 1 and "HOLD" in done.output, done.output
    assert f"wrote {out}: comparison report default/httpbin, HOLD" in done.output
    page = out.read_text(encoding="utf-8")
    assert f'content="{REPORT_CSP}"' in page and "s3cret" not in page
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page,
                      re.S)
    assert found is not None
    data = json.loads(found[1])
    assert data["summary"]["name"] == "httpbin"
    assert [f["path"] for f in data["fields"]["GET /users/{id}"]] == ["$.name", "$.token"]
    (sample,) = data["samples"]["GET /users/{id}"]
    assert sample["differences"][0]["path"] in ("$.name", "$.token")
    assert len(data["latency"]["GET /users/{id}"]["candidate"]) > 1
    missing = runner.invoke(compare, ["--compare-store", url, "--html", str(out), "nope"])
    assert missing.exit_code == 0 and "no comparison report for default/nope" in missing.output
