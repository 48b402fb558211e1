"""End to end: real backends, real `shadowmesh run`, the report over the admin API and the
`shadowmesh compare` command.

The scenarios marked NEEDS_OUTCOMES consume the data plane's mirror outcomes
(`DataPlane.outcomes`) end to end; the others cover the resource's lifecycle, the noise copy's
routing and the report's surfaces.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.compare.apps import ENDPOINTS, VersionedApi
from tests.support import yaml_builders as yb
from tests.support.fixtures import StartProxy
from tests.support.proxy import ShadowmeshProcess

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
NEEDS_OUTCOMES = pytest.mark.e2e
PER_ENDPOINT = 60  # 4 endpoints: 240 pairs, over the default --min-pairs 200


def comparison(noise: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"host": "api", "candidate": {"subset": "v2"}}
    if noise:
        spec["noise"] = {"subset": "v1", "percentage": 100}
    return {"apiVersion": "shadowmesh.io/v1alpha1", "kind": "Comparison",
            "metadata": {"name": "api", "namespace": "default"}, "spec": spec}


def config(v1: VersionedApi, v2: VersionedApi, with_comparison: bool = True,
           noise: bool = False) -> str:
    docs = yb.service("api", {"v1": v1.port, "v2": v2.port},
                      http=[{"route": [yb.route("api", "v1")], "mirror": yb.dest("api", "v2"),
                             "mirrorPercentage": {"value": 100.0}}])
    return yb.dump(docs, [comparison(noise)] if with_comparison else [])


@contextlib.contextmanager
def versions(planted: bool) -> Iterator[tuple[VersionedApi, VersionedApi]]:
    with VersionedApi("v1", planted) as v1, VersionedApi("v2", planted) as v2:
        yield v1, v2


def traffic(proxy: ShadowmeshProcess, ids: range) -> int:
    """GET every endpoint for every id, 8 at a time; the number of requests."""
    targets = [f"/{kind}/{i}" for i in ids for kind in ENDPOINTS]
    with httpx.Client(base_url=proxy.url, headers={"host": "api:8000"}, timeout=10.0,
                      trust_env=False) as client, ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda t: client.get(t).status_code, targets))
    assert statuses.count(500) == 0  # the primary (v1) never fails
    return len(targets)


def compare_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shadowmesh", "compare", *args],
                          capture_output=True, text=True, timeout=60, cwd=REPO)


def from_admin(admin: str) -> Callable[[], dict[str, Any]]:
    def read() -> dict[str, Any]:
        body = httpx.get(f"{admin}/api/v1/comparisons", timeout=10, trust_env=False).json()
        (cmp,) = body["comparisons"]
        result: dict[str, Any] = cmp
        return result

    return read


def from_store(url: str) -> Callable[[], dict[str, Any]]:
    from shadowmesh.compare.report import build_report
    from shadowmesh.compare.store import open_store

    def read() -> dict[str, Any]:
        store = open_store(url)
        try:
            (cmp,) = build_report(store)["comparisons"]
        finally:
            store.close()
        result: dict[str, Any] = cmp
        return result

    return read


def wait_pairs(read: Callable[[], dict[str, Any]], expected: int,
               timeout: float = 20.0) -> dict[str, Any]:
    """The report once `expected` pairs are in; gives up early when none arrive at all."""
    start = time.monotonic()
    cmp: dict[str, Any] = {"pairs": 0}
    while time.monotonic() - start < timeout:
        with contextlib.suppress(ValueError):
            cmp = read()
            if cmp["pairs"] >= expected:
                return cmp
        if cmp.get("pairs", 0) == 0 and time.monotonic() - start > 10.0:
            break
        time.sleep(0.2)
    raise AssertionError(f"{cmp.get('pairs')} pairs compared, expected {expected}")


def fields(admin: str) -> list[dict[str, Any]]:
    body = httpx.get(f"{admin}/api/v1/comparisons/default/api/fields", timeout=10,
                     trust_env=False).json()
    rows: list[dict[str, Any]] = body["fields"]
    return rows


def check_planted_report(proxy: ShadowmeshProcess, cmp: dict[str, Any], noise: bool) -> None:
    rows = fields(proxy.admin_url)
    planted = {(r["endpoint"], r["path"]) for r in rows if r["classification"] == "regression"}
    assert planted == {("GET /users/{id}", "$.name"),
                       ("GET /items/{id}", "header:cache-control"),
                       ("GET /orders/{id}", "status")}
    random_fields = {r["path"]: r["classification"] for r in rows
                     if r["path"] in ("$.request_id", "$.at")}
    assert set(random_fields) == {"$.request_id", "$.at"}
    assert set(random_fields.values()) == {"noise" if noise else "volatile"}
    slow = {e["endpoint"]: e["latency"]["regression"] for e in cmp["endpoints"]}
    assert slow == {"GET /users/{id}": False, "GET /items/{id}": False,
                    "GET /orders/{id}": False, "GET /slow/{id}": True}
    done = compare_cli("--verdict", "--admin", proxy.admin_url)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "HOLD" in done.stdout and "GET /slow/{id}: median latency" in done.stdout


@NEEDS_OUTCOMES
@pytest.mark.parametrize("noise", [False, True], ids=["volatile", "noise-copy"])
def test_planted_differences_are_exactly_what_the_report_names(
        start_proxy: StartProxy, tmp_path: Path, noise: bool) -> None:
    with versions(planted=True) as (v1, v2):
        proxy = start_proxy(config(v1, v2, noise=noise),
                            "--compare-store", f"sqlite:///{tmp_path}/cmp.db")
        sent = traffic(proxy, range(PER_ENDPOINT))
        cmp = wait_pairs(from_admin(proxy.admin_url), sent)
        assert cmp["pairs"] == sent
        check_planted_report(proxy, cmp, noise)


@NEEDS_OUTCOMES
def test_identical_versions_promote(start_proxy: StartProxy, tmp_path: Path) -> None:
    with versions(planted=False) as (v1, v2):
        proxy = start_proxy(config(v1, v2), "--compare-store", f"sqlite:///{tmp_path}/cmp.db")
        sent = traffic(proxy, range(PER_ENDPOINT))
        wait_pairs(from_admin(proxy.admin_url), sent)
        done = compare_cli("--verdict", "--admin", proxy.admin_url)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "PROMOTE" in done.stdout


@NEEDS_OUTCOMES
def test_two_workers_build_one_report(start_proxy: StartProxy, tmp_path: Path) -> None:
    with versions(planted=True) as (v1, v2):
        proxy = start_proxy(config(v1, v2), "--compare-store", f"sqlite:///{tmp_path}/cmp.db",
                            workers=2)
        sent = traffic(proxy, range(PER_ENDPOINT))
        cmp = wait_pairs(from_admin(proxy.admin_url), sent)
        assert cmp["pairs"] == sent  # every pair counted once, by whichever worker served it
        check_planted_report(proxy, cmp, noise=False)


@NEEDS_OUTCOMES
def test_two_processes_share_one_postgresql_store(start_proxy: StartProxy,
                                                  postgres_url: str) -> None:
    with versions(planted=True) as (v1, v2):
        text = config(v1, v2)
        first = start_proxy(text, "--compare-store", postgres_url)
        second = start_proxy(text, "--compare-store", postgres_url)
        sent = traffic(first, range(0, PER_ENDPOINT // 2))
        sent += traffic(second, range(PER_ENDPOINT // 2, PER_ENDPOINT))
        cmp = wait_pairs(from_store(postgres_url), sent)
        assert cmp["pairs"] == sent  # counts add up exactly
        check_planted_report(first, cmp, noise=False)


# -- what works without the data plane's outcomes -------------------------------------------

def test_noise_copy_goes_to_the_primary_version(start_proxy: StartProxy, tmp_path: Path) -> None:
    with versions(planted=False) as (v1, v2):
        proxy = start_proxy(config(v1, v2, noise=True),
                            "--compare-store", f"sqlite:///{tmp_path}/cmp.db")
        traffic(proxy, range(5))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (v1.requests.get("users", 0) < 10
                                               or v2.requests.get("users", 0) < 5):
            time.sleep(0.05)
        # v1: the primary and the noise copy; v2: the candidate copy
        assert (v1.requests["users"], v2.requests["users"]) == (10, 5)


def test_comparison_lifecycle_through_the_admin_api_and_cli(start_proxy: StartProxy,
                                                            tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/cmp.db"
    with versions(planted=False) as (v1, v2):
        proxy = start_proxy(config(v1, v2, with_comparison=False), "--compare-store", store)
        admin = ("--admin", proxy.admin_url)
        cmp_file = tmp_path / "cmp.yaml"
        cmp_file.write_text(yaml.safe_dump(comparison()))
        done = subprocess.run([sys.executable, "-m", "shadowmesh", "apply", "-f", str(cmp_file),
                               *admin], capture_output=True, text=True, timeout=60, cwd=REPO)
        assert done.returncode == 0, done.stderr
        listed = subprocess.run([sys.executable, "-m", "shadowmesh", "get", "cmp", *admin],
                                capture_output=True, text=True, timeout=60, cwd=REPO)
        assert listed.returncode == 0 and "api" in listed.stdout, listed.stderr
        deadline = time.monotonic() + 10
        body: dict[str, Any] = {"comparisons": []}
        while time.monotonic() < deadline and not body["comparisons"]:
            body = proxy.admin_get("/api/v1/comparisons").json()
            time.sleep(0.2)
        (cmp,) = body["comparisons"]
        assert (cmp["name"], cmp["active"], cmp["pairs"]) == ("api", True, 0)
        assert cmp["candidate"] == {"service": "api.default.svc.cluster.local", "subset": "v2"}
        assert cmp["verdict"]["decision"] == "NOT_ENOUGH_DATA"
        verdict = compare_cli("--verdict", *admin)
        assert verdict.returncode == 3 and "NOT ENOUGH DATA" in verdict.stdout
        paths = proxy.admin_get("/openapi.json").json()["paths"]
        assert "/api/v1/comparisons/{namespace}/{name}/samples" in paths
        assert "# TYPE shadowmesh_compare_skipped_total counter" in proxy.admin_get(
            "/metrics").text
        deleted = subprocess.run([sys.executable, "-m", "shadowmesh", "delete", "cmp", "api",
                                  *admin], capture_output=True, text=True, timeout=60, cwd=REPO)
        assert deleted.returncode == 0, deleted.stderr
        (cmp,) = proxy.admin_get("/api/v1/comparisons").json()["comparisons"]
        assert cmp["active"] is False  # the report stays until --reset
        read = from_store(store)
        deadline = time.monotonic() + 10
        while read()["active"] and time.monotonic() < deadline:  # the engine took the delete
            time.sleep(0.1)
        reset = compare_cli("--reset", *admin)
        assert reset.returncode == 0, reset.stderr
        assert proxy.admin_get("/api/v1/comparisons").json()["comparisons"] == []
