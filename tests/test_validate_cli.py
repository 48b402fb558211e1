"""`shadowmesh validate` end to end, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"

BROKEN = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: httpbin-v1
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts: [httpbin]
  http:
  - route:
    - destination: {host: httpbin, subset: v1}
    mirror: {host: httpbin, subset: v2}
    mirrorPercentage: {value: 101}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: httpbin
spec:
  host: httpbin
  subsets:
  - name: v1
    labels: {version: v1}
    trafic_policy: {}
"""


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shadowmesh", "validate", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        cwd=REPO,
        check=False,
    )


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir()))
def test_every_example_is_valid(example: str) -> None:
    result = run("-f", f"examples/{example}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in result.stdout
    assert result.stdout.splitlines()[-1].split(",")[0].endswith("resources valid")
    assert result.stderr == ""


def test_warnings_do_not_fail() -> None:
    result = run("-f", "examples/partial-mirror/")
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        "warning: examples/partial-mirror/virtual-services.yaml: VirtualService default/httpbin: "
        'spec.http[0].mirror_percent: using deprecated setting "mirrorPercent", use '
        '"mirrorPercentage" instead',
        "10 resources valid, 1 warning",
    ]


def test_broken_file_fails_with_one_line_per_problem(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN)
    result = run("-f", str(broken))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"error: {broken}: VirtualService default/httpbin: spec.http[0].mirrorPercentage.value: "
        "mirror_percentage must have a max value of 100 (it has 101.000000)",
        f"warning: {broken}: VirtualService default/httpbin: "
        "spec.http[0].route[0].destination.subset: [IST0101] "
        'Referenced host+subset in destinationrule not found: "httpbin+v1"',
        f"warning: {broken}: VirtualService default/httpbin: spec.http[0].mirror.subset: "
        '[IST0101] Referenced mirror+subset in destinationrule not found: "httpbin+v2"',
        f"error: {broken}: DestinationRule default/httpbin: spec.subsets[0].trafic_policy: "
        'unknown field "trafic_policy" (did you mean "traffic_policy"?)',
        f"{broken}: ignored: apps/v1 Deployment default/httpbin-v1 "
        "is not an Istio networking resource",
        "2 errors, 2 warnings, 1 document ignored",
    ]


def test_json_output(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN)
    result = run("-f", str(broken), "-o", "json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert sorted(report) == ["ignored", "issues", "resources", "valid"]
    assert report["valid"] is False
    assert [r["name"] for r in report["resources"]] == ["httpbin"]  # the rule did not load
    first = report["issues"][0]
    assert first == {
        "level": "error",
        "code": None,
        "file": str(broken),
        "line": 6,
        "document": "VirtualService default/httpbin",
        "path": "spec.http[0].mirrorPercentage.value",
        "message": "mirror_percentage must have a max value of 100 (it has 101.000000)",
    }
    assert [i["code"] for i in report["issues"]] == [None, "IST0101", "IST0101", None]
    assert report["ignored"][0]["kind"] == "Deployment"
    # stable: the same input gives the same bytes
    assert run("-f", str(broken), "-o", "json").stdout == result.stdout


def test_valid_json_output() -> None:
    result = run("-f", "examples/httpbin-mirror", "-o", "json")
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert report["valid"] is True and report["issues"] == [] and report["ignored"] == []
    assert {r["kind"] for r in report["resources"]} == {
        "ServiceEntry",
        "WorkloadEntry",
        "DestinationRule",
        "VirtualService",
    }


def test_several_files_and_stdin_form_one_set() -> None:
    rule = (EXAMPLES / "httpbin-mirror" / "routing.yaml").read_text().split("---")[1]
    result = run("-f", "examples/httpbin-mirror/services.yaml", "-f", "-", stdin=rule)
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip() == "4 resources valid"


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: x\n  bad: indent\n")
    result = run("-f", str(bad))
    assert result.returncode == 1
    assert result.stdout.splitlines()[0].startswith(f"error: {bad}:3: yaml: line 3: ")


@pytest.mark.parametrize(
    "args", [(), ("-f", "examples/httpbin-mirror", "-o", "yaml"), ("--bogus",)]
)
def test_usage_errors_exit_2(args: tuple[str, ...]) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert "Usage:" in result.stderr


def test_missing_file_is_an_error() -> None:
    result = run("-f", "no/such/file.yaml")
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == "error: no/such/file.yaml: no such file or directory"
