from prometheus_client.parser import text_string_to_metric_families
from tests.telemetry.records import primary, shadow

from shadowmesh.telemetry.observer import Telemetry
from shadowmesh.telemetry.prometheus import render_metrics

SVC = "httpbin.default.svc.cluster.local"


def samples(text: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def labels(**changes: str) -> frozenset[tuple[str, str]]:
    base = {
        "reporter": "source",
        "source_workload": "unknown",
        "destination_service": SVC,
        "destination_service_name": "httpbin",
        "destination_service_namespace": "default",
        "destination_workload": "httpbin-v1",
        "destination_version": "v1",
        "request_protocol": "http",
        "response_code": "200",
        "response_flags": "-",
        "shadow": "false",
    }
    base.update(changes)
    return frozenset(base.items())


def test_istio_metrics_with_istio_labels_and_a_shadow_label() -> None:
    telemetry = Telemetry(keep_recent_logs=False)
    for _ in range(5):
        telemetry.on_request(primary())
        telemetry.on_request(shadow())
    telemetry.on_request(shadow(response_code=504, response_flags="UT", duration_ms=1500))
    telemetry.on_mirror_skipped(SVC, "body_too_large")
    text = render_metrics(telemetry.snapshot(), {"ok": 2, "rejected": 1})
    got = samples(text)
    v2 = {"destination_workload": "httpbin-v2", "destination_version": "v2", "shadow": "true"}
    assert got[("istio_requests_total", labels())] == 5
    assert got[("istio_requests_total", labels(**v2))] == 5
    timed_out = labels(**v2, response_code="504", response_flags="UT")
    assert got[("istio_requests_total", timed_out)] == 1

    bucket = "istio_request_duration_milliseconds_bucket"
    assert got[(bucket, labels() | {("le", "1")})] == 0
    assert got[(bucket, labels() | {("le", "5")})] == 5
    assert got[(bucket, labels() | {("le", "+Inf")})] == 5
    assert got[("istio_request_duration_milliseconds_count", labels())] == 5
    assert got[("istio_request_duration_milliseconds_sum", labels())] == 5 * 3.7
    slow = labels(**v2, response_code="504", response_flags="UT")
    assert got[(bucket, slow | {("le", "1000")})] == 0
    assert got[(bucket, slow | {("le", "2500")})] == 1
    assert got[("istio_response_bytes_bucket", labels() | {("le", "1000")})] == 5
    assert got[("istio_response_bytes_sum", labels())] == 5 * 596
    assert got[("istio_request_bytes_count", labels())] == 5

    assert got[("shadowmesh_mirror_requests_total", frozenset({
        ("destination_service", SVC), ("outcome", "sent")}))] == 6  # fmt: skip
    assert got[("shadowmesh_mirror_requests_total", frozenset({
        ("destination_service", SVC), ("outcome", "succeeded")}))] == 5  # fmt: skip
    assert got[("shadowmesh_mirror_requests_total", frozenset({
        ("destination_service", SVC), ("outcome", "timed_out")}))] == 1  # fmt: skip
    assert got[("shadowmesh_mirror_skipped_total", frozenset({
        ("destination_service", SVC), ("reason", "body_too_large")}))] == 1  # fmt: skip
    assert got[("shadowmesh_config_reloads_total", frozenset({("result", "ok")}))] == 2
    assert got[("shadowmesh_config_reloads_total", frozenset({("result", "rejected")}))] == 1


def test_le_labels_are_written_as_envoy_writes_them() -> None:
    telemetry = Telemetry(keep_recent_logs=False)
    telemetry.on_request(primary())
    text = render_metrics(telemetry.snapshot()).decode()
    assert 'le="0.5"' in text and 'le="1.8e+06"' in text and 'le="+Inf"' in text
    assert "# TYPE istio_request_duration_milliseconds histogram" in text
    assert "# TYPE istio_requests_total counter" in text


def test_gauges_from_the_data_plane() -> None:
    telemetry = Telemetry(keep_recent_logs=False)
    telemetry.add_gauge_source(
        lambda: [
            ("shadowmesh_mirror_queue_depth", {"destination_service": SVC}, 4.0),
            ("shadowmesh_upstream_pool_connections", {"cluster": "c1", "state": "idle"}, 2.0),
        ]
    )
    got = samples(render_metrics(telemetry.snapshot()))
    assert got[("shadowmesh_mirror_queue_depth", frozenset({("destination_service", SVC)}))] == 4
    key = frozenset({("cluster", "c1"), ("state", "idle")})
    assert got[("shadowmesh_upstream_pool_connections", key)] == 2


def test_an_empty_snapshot_still_renders_the_reload_counters() -> None:
    telemetry = Telemetry()
    got = samples(render_metrics(telemetry.snapshot()))
    assert got[("shadowmesh_config_reloads_total", frozenset({("result", "ok")}))] == 0
