"""The task's YAML as the demo writes it: the right resources, valid by Istio's rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from shadowmesh.config import load_paths
from shadowmesh.demo.manifests import (
    COMPARISON_YAML,
    ROUTE_MIRROR_YAML,
    ROUTE_V1_YAML,
    services_yaml,
    write_manifests,
)

# beside the repository, as tests/config/test_samples.py reads them
SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "istio-samples"
PORTS = {"v1": 40001, "v2": 40002}


def docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def test_services_select_the_workloads_by_label() -> None:
    se, v1, v2 = docs(services_yaml(PORTS))
    assert se["kind"] == "ServiceEntry" and se["metadata"]["name"] == "httpbin"
    assert se["spec"]["hosts"] == ["httpbin"]
    assert se["spec"]["ports"] == [{"number": 8000, "name": "http", "protocol": "HTTP"}]
    assert se["spec"]["workloadSelector"] == {"labels": {"app": "httpbin"}}
    for we, version in ((v1, "v1"), (v2, "v2")):
        assert we["kind"] == "WorkloadEntry"
        assert we["metadata"]["name"] == f"httpbin-{version}"
        assert we["spec"] == {"address": "127.0.0.1", "ports": {"http": PORTS[version]},
                              "labels": {"app": "httpbin", "version": version}}


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="the Istio samples are not here")
def test_the_routes_are_the_istio_io_task_verbatim() -> None:
    step1 = docs((SAMPLES / "istio-io-mirroring-task-step1-default-route.yaml").read_text())
    step2 = docs((SAMPLES / "istio-io-mirroring-task-step2-mirror.yaml").read_text())
    assert docs(ROUTE_V1_YAML) == [step1[0]]
    assert docs(ROUTE_MIRROR_YAML) == step2


def test_written_files_load_and_validate(tmp_path: Path) -> None:
    files = write_manifests(tmp_path / "work", PORTS)
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == [
        "00-services.yaml", "01-destination-rule.yaml", "02-virtual-service-v1.yaml",
        "03-virtual-service-mirror.yaml", "04-comparison.yaml",
    ]
    for paths in (files.initial, (files.services, files.destination_rule, files.route_mirror)):
        loaded = load_paths(list(paths))
        assert loaded.ok and loaded.issues == [], loaded.issues  # not even a warning
        kinds = sorted(r.kind for r in loaded.resources)
        assert kinds == ["DestinationRule", "ServiceEntry", "VirtualService",
                         "WorkloadEntry", "WorkloadEntry"]


def test_rewriting_takes_the_new_ports(tmp_path: Path) -> None:
    write_manifests(tmp_path, PORTS)
    files = write_manifests(tmp_path, {"v1": 1, "v2": 2})
    _, v1, v2 = docs(files.services.read_text())
    assert (v1["spec"]["ports"], v2["spec"]["ports"]) == ({"http": 1}, {"http": 2})


def test_the_comparison_compares_v2_with_v1_and_a_noise_copy() -> None:
    (comparison,) = docs(COMPARISON_YAML)
    assert comparison == {
        "apiVersion": "shadowmesh.io/v1alpha1",
        "kind": "Comparison",
        "metadata": {"name": "httpbin"},
        "spec": {"host": "httpbin", "candidate": {"subset": "v2"},
                 "noise": {"subset": "v1", "percentage": 100}},
    }  # fmt: skip


def test_the_comparison_validates_with_the_mirror(tmp_path: Path) -> None:
    files = write_manifests(tmp_path, PORTS)
    loaded = load_paths([files.services, files.destination_rule, files.route_mirror,
                         files.comparison])  # fmt: skip
    assert loaded.ok and loaded.issues == [], loaded.issues
    assert "Comparison" in {r.kind for r in loaded.resources}
