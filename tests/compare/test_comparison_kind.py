"""`kind: Comparison`: loading, validation messages at the field path, cross-resource
warnings, `shadowmesh validate`, and the noise copy compiled into the routing table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support import yaml_builders as yb

from shadowmesh.config import Issue, load_text
from shadowmesh.config.models import Comparison
from shadowmesh.routing.compile import compile_table

REPO = Path(__file__).resolve().parents[2]


def comparison(spec: dict[str, Any], api_version: str = "shadowmesh.io/v1alpha1") -> str:
    return yaml.safe_dump({"apiVersion": api_version, "kind": "Comparison",
                           "metadata": {"name": "c", "namespace": "default"}, "spec": spec})


def mesh_docs(noise: bool = False) -> list[yb.Doc]:
    return yb.service("httpbin", {"v1": 8001, "v2": 8002},
                      http=[{"route": [yb.route("httpbin", "v1")],
                             "mirror": yb.dest("httpbin", "v2"),
                             "mirrorPercentage": {"value": 100.0}}])


def issues(spec: dict[str, Any], with_mesh: bool = True) -> list[Issue]:
    text = comparison(spec)
    if with_mesh:
        text = yb.dump(mesh_docs()) + "---\n" + text
    return [i for i in load_text(text, "cmp.yaml").issues if i.document == "Comparison default/c"]


def test_full_spec_loads_typed() -> None:
    loaded = load_text(yb.dump(mesh_docs()) + "---\n" + comparison({
        "host": "httpbin", "candidate": {"subset": "v2"},
        "noise": {"subset": "v1", "percentage": 10},
        "ignore": {"headers": ["date"], "fields": ["$.origin", "$.headers.X-Amzn-Trace-Id"]},
        "arrayOrder": "ignore", "thresholds": {"relative": 20, "absolute": 0.03},
        "endpoints": [{"name": "get-user", "method": "GET", "uri": {"prefix": "/users/"}}],
        "capture": {"bodyLimit": "256Ki", "samples": 20},
        "redact": {"headers": ["authorization"], "fields": ["$.password"]},
    }), "cmp.yaml")
    assert loaded.ok and not loaded.issues, loaded.issues
    (cmp,) = [r for r in loaded.resources if r.kind == "Comparison"]
    assert isinstance(cmp.spec, Comparison)
    assert cmp.api_version == "shadowmesh.io/v1alpha1"
    assert cmp.spec.noise is not None and cmp.spec.noise.percentage == 10.0
    assert cmp.spec.array_order == "ignore"


@pytest.mark.parametrize(("spec", "path", "message"), [
    ({}, "spec.host", "host is required"),
    ({"host": "*.example.com"}, "spec.host", "must not be a wildcard"),
    ({"host": "httpbin", "arrayOrder": "random"}, "spec.arrayOrder",
     "arrayOrder must be one of strict, ignore"),
    ({"host": "httpbin", "thresholds": {"relative": 120}}, "spec.thresholds.relative",
     "relative threshold is a percentage in [0, 100], got 120"),
    ({"host": "httpbin", "noise": {"percentage": 10}}, "spec.noise.subset",
     "noise.subset is required"),
    ({"host": "httpbin", "noise": {"subset": "v1", "percentage": 0}}, "spec.noise.percentage",
     "percentage must be in (0, 100], got 0"),
    ({"host": "httpbin", "ignore": {"fields": ["$.[bad"]}}, "spec.ignore.fields[0]",
     "invalid JSONPath '$.[bad'"),
    ({"host": "httpbin", "redact": {"fields": ["password"]}}, "spec.redact.fields[0]",
     "it must start with $"),
    ({"host": "httpbin", "ignore": {"headers": ["bad header"]}}, "spec.ignore.headers[0]",
     "header name"),
    ({"host": "httpbin", "endpoints": [{"name": "a"}, {"name": "a"}]}, "spec.endpoints[1].name",
     'duplicate endpoint name "a"'),
    ({"host": "httpbin", "endpoints": [{"name": "a", "method": "G ET"}]},
     "spec.endpoints[0].method", 'invalid method "G ET"'),
    ({"host": "httpbin", "capture": {"bodyLimit": "lots"}}, "spec.capture.bodyLimit",
     "is not a byte quantity"),
    ({"host": "httpbin", "capture": {"body_limit": "128Mi"}}, "spec.capture.body_limit",
     "bodyLimit must be between 1 byte and 64Mi"),
    ({"host": "httpbin", "capture": {"samples": 5000}}, "spec.capture.samples",
     "samples must be between 0 and 1000"),
    ({"host": "httpbin", "bogus": 1}, "spec.bogus", 'unknown field "bogus"'),
])
def test_invalid_specs_name_file_path_and_problem(spec: dict[str, Any], path: str,
                                                  message: str) -> None:
    found = [i for i in issues(spec) if i.is_error]
    assert any(i.path == path and message in i.message and i.file == "cmp.yaml"
               for i in found), found


def test_wrong_version_is_an_error() -> None:
    result = load_text(comparison({"host": "httpbin"}, "shadowmesh.io/v1"), "cmp.yaml")
    assert not result.ok
    assert 'no matches for kind "Comparison" in version "shadowmesh.io/v1"' in str(result.issues)


def test_warnings_when_nothing_mirrors_the_host_or_the_candidate() -> None:
    (warning,) = issues({"host": "other"})
    assert warning.level == "warning" and warning.path == "spec.host"
    assert 'no VirtualService mirrors traffic for host "other"' in warning.message
    (warning,) = issues({"host": "httpbin", "candidate": {"subset": "v3"}})
    assert warning.path == "spec.candidate.subset" and "subset \"v3\"" in warning.message
    assert issues({"host": "httpbin", "candidate": {"subset": "v2"}}) == []


def test_validate_command_reports_comparison_errors(tmp_path: Path) -> None:
    path = tmp_path / "cmp.yaml"
    path.write_text(comparison({"host": "httpbin", "arrayOrder": "random"}))
    done = subprocess.run([sys.executable, "-m", "shadowmesh", "validate", "-f", str(path)],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode != 0
    assert "Comparison default/c: spec.arrayOrder: arrayOrder must be one of" in (
        done.stdout + done.stderr)


def test_noise_copy_compiled_as_a_mirror_target_with_role_noise() -> None:
    text = yb.dump(mesh_docs()) + "---\n" + comparison(
        {"host": "httpbin", "noise": {"subset": "v1", "percentage": 25}})
    loaded = load_text(text, "cmp.yaml")
    assert loaded.ok, loaded.issues
    table = compile_table(loaded.resources)
    (vhost,) = {id(v): v for d in table.exact.values() for v in d.values()}.values()
    (route,) = vhost.routes
    assert [(m.cluster.subset, m.ppm, m.role) for m in route.mirrors] == [
        ("v2", 1_000_000, "mirror"), ("v1", 250_000, "noise")]
    plain = compile_table(load_text(yb.dump(mesh_docs()), "m.yaml").resources)
    (vhost,) = {id(v): v for d in plain.exact.values() for v in d.values()}.values()
    assert [m.role for m in vhost.routes[0].mirrors] == ["mirror"]


def test_crd_manifest_types_every_field_of_the_model() -> None:
    crd = yaml.safe_load((REPO / "deploy" / "crds" / "comparison.yaml").read_text())
    assert (crd["spec"]["group"], crd["spec"]["names"]["shortNames"]) == ("shadowmesh.io",
                                                                          ["cmp"])
    (version,) = crd["spec"]["versions"]
    props = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert set(props) == {info.alias for info in Comparison.model_fields.values()}
