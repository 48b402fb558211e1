from typing import Any

import pytest
from tests.telemetry.records import START, primary, shadow

from shadowmesh.telemetry.graph import build_graph
from shadowmesh.telemetry.observer import Telemetry

SERVICE = "service:default:httpbin"
V1 = "workload:default:httpbin-v1"
V2 = "workload:default:httpbin-v2"


def edge(graph: dict[str, Any], source: str, target: str, mirror: bool) -> dict[str, Any]:
    (found,) = [
        e
        for e in graph["edges"]
        if e["source"] == source and e["target"] == target and e["isMirror"] is mirror
    ]
    return found


def mirrored_traffic(telemetry: Telemetry, start: float, n: int) -> None:
    for i in range(n):
        telemetry.on_request(primary(start_time=start + i * 0.1))
        telemetry.on_request(shadow(start_time=start + i * 0.1))


def test_nodes_and_edges_with_mirror_edges_marked() -> None:
    telemetry = Telemetry(keep_recent_logs=False)
    mirrored_traffic(telemetry, START, 30)
    telemetry.on_request(primary(start_time=START + 1, response_code=503, response_flags="UF"))
    graph = build_graph(telemetry.snapshot(), window_seconds=60, now=START + 10)
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert set(nodes) == {"unknown", SERVICE, V1, V2}
    assert nodes["unknown"]["nodeType"] == "unknown"
    assert nodes[SERVICE]["nodeType"] == "service"
    assert nodes[V2] == {
        "id": V2,
        "nodeType": "workload",
        "workload": "httpbin-v2",
        "version": "v2",
        "service": "httpbin",
        "namespace": "default",
    }
    assert len(graph["edges"]) == 4
    primary_in = edge(graph, "unknown", SERVICE, mirror=False)
    assert primary_in["traffic"]["protocol"] == "http"
    assert primary_in["traffic"]["rates"]["http"] == pytest.approx(31 / 60, abs=0.001)
    assert primary_in["traffic"]["rates"]["httpPercentErr"] == pytest.approx(100 / 31, abs=0.1)
    assert primary_in["traffic"]["responses"]["200"]["flags"] == {"-": pytest.approx(96.8)}
    assert primary_in["traffic"]["responses"]["503"]["flags"] == {"UF": pytest.approx(3.2)}
    to_v2 = edge(graph, SERVICE, V2, mirror=True)
    assert to_v2["requests"] == 30
    assert to_v2["traffic"]["rates"]["httpPercentErr"] == 0
    assert 1 <= to_v2["responseTime"] <= 5  # p99 of 3.7 ms samples, inside le="5"
    assert edge(graph, "unknown", SERVICE, mirror=True)["requests"] == 30
    assert edge(graph, SERVICE, V1, mirror=False)["requests"] == 31


def test_rates_are_windowed_not_totals() -> None:
    telemetry = Telemetry(keep_recent_logs=False)
    mirrored_traffic(telemetry, START, 10)  # old traffic
    mirrored_traffic(telemetry, START + 300, 20)  # recent traffic
    now = START + 302
    recent = build_graph(telemetry.snapshot(), window_seconds=60, now=now)
    assert edge(recent, SERVICE, V1, mirror=False)["requests"] == 20
    everything = build_graph(telemetry.snapshot(), window_seconds=600, now=now)
    assert edge(everything, SERVICE, V1, mirror=False)["requests"] == 30
    later = build_graph(telemetry.snapshot(), window_seconds=60, now=START + 1000)
    assert later["edges"] == [] and later["nodes"] == []


def test_buckets_older_than_the_retention_are_dropped() -> None:
    telemetry = Telemetry(keep_recent_logs=False, graph_bucket_seconds=5, graph_window_seconds=60)
    mirrored_traffic(telemetry, START, 1)
    mirrored_traffic(telemetry, START + 120, 1)
    assert len(telemetry.snapshot().graph) == 1
    telemetry.on_request(primary(start_time=START))  # late record from before the window
    assert len(telemetry.snapshot().graph) == 1


def test_a_request_without_a_destination_workload_stops_at_the_service() -> None:
    telemetry = Telemetry(keep_recent_logs=False)
    telemetry.on_request(
        primary(
            response_code=503,
            response_flags="UH",
            destination_workload="unknown",
            destination_version="unknown",
        )
    )
    graph = build_graph(telemetry.snapshot(), 60, now=START + 1)
    assert [(e["source"], e["target"]) for e in graph["edges"]] == [("unknown", SERVICE)]
