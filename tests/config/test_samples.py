"""Istio's own YAML (copied verbatim into ../shared/istio-samples) loads and validates."""

from __future__ import annotations

from pathlib import Path

import pytest

from shadowmesh.config import Resource, load_paths, load_text, validate
from shadowmesh.config.models import VirtualService

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "istio-samples"

pytestmark = pytest.mark.skipif(
    not SAMPLES.is_dir(),
    reason=f"Istio samples not found at {SAMPLES} (the repo's sibling shared/)",
)

YAML_SAMPLES = sorted(p.name for p in SAMPLES.glob("*.yaml")) if SAMPLES.is_dir() else []


def render_mirror_template(percent: str | None) -> str:
    """The Go text/template of Istio's mirror test, for the cases its test runs."""
    text = (SAMPLES / "integration-traffic-mirroring-template.yaml.tmpl").read_text()
    text = text.replace("{{.Name}}", "mirror-test").replace("{{.MirrorHost}}", "c")
    head, rest = text.split("{{- if not .Absent }}")
    block, tail = rest.split("{{- end }}")
    if percent is None:
        return head.rstrip("\n") + tail
    return head.rstrip("\n") + block.replace("{{.Percent}}", percent).rstrip("\n") + tail


def test_samples_are_there() -> None:
    assert len(YAML_SAMPLES) >= 6


@pytest.mark.parametrize("name", YAML_SAMPLES)
def test_each_sample_loads_without_errors(name: str) -> None:
    result = load_paths([SAMPLES / name])
    assert result.ok, [str(i) for i in result.errors]
    assert result.resources
    assert not result.ignored
    for resource in result.resources:
        assert resource.api_version.startswith("networking.istio.io/")


@pytest.mark.parametrize(
    ("percent", "expected"), [(None, None), ("50", 50.0), ("10", 10.0), ("0", 0.0)]
)
def test_mirror_template_renders_and_loads(percent: str | None, expected: float | None) -> None:
    result = load_text(render_mirror_template(percent), "traffic-mirroring-template.yaml")
    assert result.ok and result.issues == [], [str(i) for i in result.issues]
    (resource,) = result.resources
    assert isinstance(resource.spec, VirtualService)
    route = resource.spec.http[0]
    assert route.mirror is not None and route.mirror.host == "c"
    value = None if route.mirror_percentage is None else route.mirror_percentage.value
    assert value == expected


def test_analyzer_sample_reports_both_bogus_subsets_and_nothing_else() -> None:
    result = load_paths([SAMPLES / "analyzer-virtualservice_destinationrules.yaml"])
    assert [(i.code, i.document, i.path, i.message) for i in result.issues] == [
        (
            "IST0101",
            "VirtualService default/reviews-bogussubset",
            "spec.http[0].route[0].destination.subset",
            'Referenced host+subset in destinationrule not found: "reviews+bogus"',
        ),
        (
            "IST0101",
            "VirtualService default/reviews-mirror-bogussubset",
            "spec.http[0].mirror.subset",
            'Referenced mirror+subset in destinationrule not found: "reviews+bogus"',
        ),
    ]


def _resources(*names: str) -> list[Resource]:
    result = load_paths([SAMPLES / name for name in names], validate=False)
    return result.resources


@pytest.mark.parametrize(
    "names",
    [
        ("bookinfo-destination-rule-all.yaml", "bookinfo-virtual-service-reviews-80-20.yaml"),
        ("bookinfo-destination-rule-all.yaml", "bookinfo-virtual-service-reviews-jason-v2-v3.yaml"),
        ("istio-io-mirroring-task-step1-default-route.yaml",),
    ],
)
def test_routes_with_their_destination_rules_have_no_issue(names: tuple[str, ...]) -> None:
    assert validate(_resources(*names)) == []


def test_mirror_step_with_the_step_one_destination_rule_has_no_issue() -> None:
    rule = [
        r
        for r in _resources("istio-io-mirroring-task-step1-default-route.yaml")
        if r.kind == "DestinationRule"
    ]
    mirror = _resources("istio-io-mirroring-task-step2-mirror.yaml")
    assert validate(rule + mirror) == []
    route = mirror[0].spec
    assert isinstance(route, VirtualService)
    assert route.http[0].mirror_percentage is not None
    assert route.http[0].mirror_percentage.value == 100.0


def test_routes_without_destination_rules_draw_subset_warnings() -> None:
    issues = validate(_resources("bookinfo-virtual-service-reviews-80-20.yaml"))
    assert [(i.level, i.code, i.message) for i in issues] == [
        ("warning", "IST0101", 'Referenced host+subset in destinationrule not found: "reviews+v1"'),
        ("warning", "IST0101", 'Referenced host+subset in destinationrule not found: "reviews+v2"'),
    ]
