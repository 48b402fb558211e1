"""The admin API and the kubectl-style commands against a real `shadowmesh run`, with the
tutorial's httpbin v1/v2 under gunicorn: a mirror rule applied through the admin API shows
in both workloads' access logs, in exact metric counts and in the traffic graph."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.support.backends import HttpbinServer
from tests.support.proxy import ShadowmeshProcess

pytest.importorskip("shadowmesh.controlplane")

pytestmark = pytest.mark.e2e

SVC = "httpbin.default.svc.cluster.local"
HOST = "httpbin:8000"


ROUTE_V1 = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin}
spec:
  hosts: [httpbin]
  http:
  - route: [{destination: {host: httpbin, subset: v1}, weight: 100}]
"""
MIRROR_V2 = (
    ROUTE_V1 + "    mirror: {host: httpbin, subset: v2}\n    mirrorPercentage: {value: 100.0}\n"
)
EXTRA_VS = """\
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: extra}
spec:
  hosts: [extra.example]
  http:
  - route: [{destination: {host: httpbin, subset: v2}}]
"""
MIRROR_101 = (
    ROUTE_V1 + "    mirror: {host: httpbin, subset: v2}\n    mirrorPercentage: {value: 101}\n"
)


def mesh_yaml(v1_port: int, v2_port: int) -> str:
    return f"""\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: httpbin}}
spec:
  hosts: [httpbin]
  ports: [{{number: 8000, name: http, protocol: HTTP}}]
  resolution: STATIC
  workloadSelector: {{labels: {{app: httpbin}}}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: httpbin-v1}}
spec: {{address: 127.0.0.1, ports: {{http: {v1_port}}}, labels: {{app: httpbin, version: v1}}}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: httpbin-v2}}
spec: {{address: 127.0.0.1, ports: {{http: {v2_port}}}, labels: {{app: httpbin, version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: httpbin}}
spec:
  host: httpbin
  subsets: [{{name: v1, labels: {{version: v1}}}}, {{name: v2, labels: {{version: v2}}}}]
---
{ROUTE_V1}"""


@pytest.fixture(scope="module")
def httpbins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    workdir = tmp_path_factory.mktemp("httpbin")
    with HttpbinServer("v1", workdir) as v1, HttpbinServer("v2", workdir) as v2:
        yield v1.port, v2.port


@pytest.fixture
def proxy(httpbins: tuple[int, int], tmp_path: Path) -> Iterator[ShadowmeshProcess]:
    logs = tmp_path / "logs"
    process = ShadowmeshProcess(
        mesh_yaml(*httpbins),
        tmp_path,
        args=("--access-log", f"{logs}/"),
    )
    with process:
        yield process


def cli(
    proxy: ShadowmeshProcess, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shadowmesh", *args, "--admin", proxy.admin_url],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def send(proxy: ShadowmeshProcess, n: int, prefix: str) -> list[str]:
    ids = [f"{prefix}-{i}" for i in range(n)]
    with httpx.Client(base_url=proxy.url, trust_env=False, timeout=10) as client:
        for rid in ids:
            answer = client.get("/get", headers={"Host": HOST, "x-request-id": rid})
            assert answer.status_code == 200, answer.text
    return ids


def wait_until(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def requests_total(proxy: ShadowmeshProcess, workload: str, shadow: bool) -> float:
    labels = {"destination_workload": workload, "shadow": "true" if shadow else "false",
              "destination_service": SVC, "response_code": "200", "reporter": "source"}  # fmt: skip
    return proxy.metric("istio_requests_total", labels)


def log_lines(proxy: ShadowmeshProcess, workload: str) -> list[str]:
    path = proxy.workdir / "logs" / f"{workload}.log"
    return path.read_text().splitlines() if path.exists() else []


def request_id(line: str) -> str:
    return line.split('"')[9]  # "%REQ(X-REQUEST-ID)%" is the fifth quoted field


def authority(line: str) -> str:
    return line.split('"')[11]


def test_mirror_rule_applied_through_the_admin_api(proxy: ShadowmeshProcess) -> None:
    # 100% to v1: only v1's log grows, as in the tutorial's first step
    before = send(proxy, 5, "before")
    assert wait_until(lambda: requests_total(proxy, "httpbin-v1", False) == 5)
    # the access log is written in batches, shortly after the metrics count a request
    v1_ids = wait_until(
        lambda: [request_id(line) for line in log_lines(proxy, "httpbin-v1")] == before
        and [request_id(line) for line in log_lines(proxy, "httpbin-v1")]
    )
    assert v1_ids == before
    assert log_lines(proxy, "httpbin-v2") == []

    applied = cli(proxy, "apply", "-f", "-", stdin=MIRROR_V2)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout == "virtualservice.networking.istio.io/httpbin configured\n"

    after = send(proxy, 10, "after")
    assert wait_until(lambda: requests_total(proxy, "httpbin-v2", True) == 10)
    # exact counts: nothing more arrives later
    time.sleep(0.5)
    assert requests_total(proxy, "httpbin-v1", False) == 15
    assert requests_total(proxy, "httpbin-v2", True) == 10
    assert requests_total(proxy, "httpbin-v2", False) == 0
    for outcome in ("sent", "succeeded"):
        assert proxy.metric("shadowmesh_mirror_requests_total", {"outcome": outcome}) == 10
    assert proxy.metric("shadowmesh_mirror_requests_total", {"outcome": "failed"}) == 0
    assert proxy.metric("shadowmesh_config_reloads_total", {"result": "ok"}) >= 1

    # the access logs: each mirrored request once in each workload's log, same request id
    v1 = wait_until(
        lambda: len(log_lines(proxy, "httpbin-v1")) == 15 and log_lines(proxy, "httpbin-v1")
    )
    v2 = wait_until(
        lambda: len(log_lines(proxy, "httpbin-v2")) == 10 and log_lines(proxy, "httpbin-v2")
    )
    assert [request_id(line) for line in v1] == before + after
    assert sorted(request_id(line) for line in v2) == sorted(after)
    assert {authority(line) for line in v1} == {HOST}
    assert {authority(line) for line in v2} == {"httpbin-shadow:8000"}

    # the same lines through the admin API and `shadowmesh logs`
    body = proxy.admin_get("/api/v1/logs?workload=httpbin-v2").json()
    assert sorted(request_id(line) for line in body["lines"]) == sorted(after)
    shown = cli(proxy, "logs", "httpbin-v2", "--tail", "3")
    assert shown.returncode == 0, shown.stderr
    assert len(shown.stdout.splitlines()) == 3

    # the graph: primary edges to v1, mirror edges to v2
    graph = proxy.admin_get("/api/v1/graph?window=5m").json()
    edges = {(e["source"], e["target"], e["isMirror"]): e for e in graph["edges"]}
    to_v1 = edges[("service:default:httpbin", "workload:default:httpbin-v1", False)]
    to_v2 = edges[("service:default:httpbin", "workload:default:httpbin-v2", True)]
    assert to_v1["requests"] == 15 and to_v2["requests"] == 10
    assert to_v2["traffic"]["responses"] == {"200": {"flags": {"-": 100.0}}}
    assert "workload:default:httpbin-v2" in {n["id"] for n in graph["nodes"]}


def test_apply_get_delete_round_trip(proxy: ShadowmeshProcess, tmp_path: Path) -> None:
    table = cli(proxy, "get", "vs")
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()
    assert header.split() == ["NAME", "GATEWAYS", "HOSTS", "AGE"]
    assert row.split()[:2] == ["httpbin", '["httpbin"]']
    assert cli(proxy, "get", "se").stdout.splitlines()[1].split()[:3] == [
        "httpbin", '["httpbin"]', "STATIC"]  # fmt: skip
    workloads = cli(proxy, "get", "we").stdout
    assert "httpbin-v1" in workloads and "httpbin-v2" in workloads

    dumped = cli(proxy, "get", "dr", "httpbin", "-o", "yaml")
    assert dumped.returncode == 0, dumped.stderr
    dr = yaml.safe_load(dumped.stdout)
    assert dr["kind"] == "DestinationRule"
    assert [s["name"] for s in dr["spec"]["subsets"]] == ["v1", "v2"]
    # what `get -o yaml` prints can be applied again
    (tmp_path / "dr.yaml").write_text(dumped.stdout)
    again = cli(proxy, "apply", "-f", str(tmp_path / "dr.yaml"))
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("destinationrule.networking.istio.io/httpbin ")

    created = cli(proxy, "apply", "-f", "-", stdin=EXTRA_VS)
    assert created.returncode == 0, created.stderr
    assert created.stdout == "virtualservice.networking.istio.io/extra created\n"
    listed = json.loads(cli(proxy, "get", "virtualservices", "-o", "json").stdout)
    assert sorted(i["metadata"]["name"] for i in listed["items"]) == ["extra", "httpbin"]

    deleted = cli(proxy, "delete", "vs", "extra")
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout == 'virtualservice.networking.istio.io "extra" deleted\n'
    missing = cli(proxy, "get", "vs", "extra")
    assert missing.returncode == 1
    assert 'virtualservices.networking.istio.io "extra" not found' in missing.stderr
    assert (proxy.admin_get("/api/v1/resources/vs/default/extra")).status_code == 404


def test_a_rejected_apply_leaves_the_rules_in_force(proxy: ShadowmeshProcess) -> None:
    before = proxy.admin_get("/api/v1/resources/vs/default/httpbin").json()
    rejected = cli(proxy, "apply", "-f", "-", stdin=MIRROR_101)
    assert rejected.returncode == 1
    assert "mirror_percentage must have a max value of 100 (it has 101.000000)" in rejected.stderr
    answer = httpx.post(proxy.admin_url + "/api/v1/resources", content=MIRROR_101,
                        headers={"Content-Type": "application/yaml"}, trust_env=False)
    assert answer.status_code == 422
    assert any("max value of 100" in i["message"] for i in answer.json()["issues"])
    assert proxy.admin_get("/api/v1/resources/vs/default/httpbin").json()["spec"] == before["spec"]
    assert wait_until(
        lambda: proxy.metric("shadowmesh_config_reloads_total", {"result": "rejected"}) >= 2
    )
    # still 100% v1, no mirror
    send(proxy, 4, "still")
    assert wait_until(lambda: requests_total(proxy, "httpbin-v1", False) == 4)
    time.sleep(0.5)
    assert proxy.metric("istio_requests_total", {"shadow": "true"}) == 0
    assert proxy.metric("shadowmesh_mirror_requests_total", {"outcome": "sent"}) == 0


def test_health_ready_config_dump_and_openapi(proxy: ShadowmeshProcess) -> None:
    assert proxy.admin_get("/healthz").text == "ok"
    assert proxy.admin_get("/ready").status_code == 200
    dump = proxy.admin_get("/config_dump")
    assert dump.status_code == 200 and isinstance(dump.json(), dict)
    spec = proxy.admin_get("/openapi.json").json()
    assert "/api/v1/graph" in spec["paths"]
    metrics = proxy.admin_get("/metrics")
    assert "shadowmesh_config_reloads_total" in metrics.text


def test_two_workers_metrics_and_logs_are_merged(httpbins: tuple[int, int], tmp_path: Path) -> None:
    config = mesh_yaml(*httpbins).replace(ROUTE_V1, MIRROR_V2)
    logs = tmp_path / "logs"
    with ShadowmeshProcess(config, tmp_path, args=("--access-log", f"{logs}/"), workers=2) as proxy:
        # new connections each time, so both workers take a share
        ids = [f"w-{i}" for i in range(20)]
        for rid in ids:
            answer = httpx.get(proxy.url + "/get", headers={"Host": HOST, "x-request-id": rid},
                               trust_env=False, timeout=10)  # fmt: skip
            assert answer.status_code == 200
        assert wait_until(lambda: requests_total(proxy, "httpbin-v2", True) == 20)
        assert requests_total(proxy, "httpbin-v1", False) == 20
        assert proxy.metric("shadowmesh_mirror_requests_total", {"outcome": "sent"}) == 20
        body = wait_until(
            lambda: (
                (b := proxy.admin_get("/api/v1/logs?workload=httpbin-v1").json())
                and len(b["lines"]) == 20
                and b
            )
        )
        assert sorted(request_id(line) for line in body["lines"]) == sorted(ids)
        # both workers appended to the same per-workload file without splitting lines
        v2 = wait_until(
            lambda: len(log_lines(proxy, "httpbin-v2")) == 20 and log_lines(proxy, "httpbin-v2")
        )
        assert sorted(request_id(line) for line in v2) == sorted(ids)
        proxy.stop_gracefully()
