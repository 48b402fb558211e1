import pickle

from tests.telemetry.records import START, primary, shadow

from shadowmesh.telemetry.observer import Telemetry
from shadowmesh.telemetry.snapshot import TelemetrySnapshot, merge_snapshots

SVC = "httpbin.default.svc.cluster.local"


def worker(n_primary: int, n_shadow: int, gauge: float) -> TelemetrySnapshot:
    telemetry = Telemetry(graph_window_seconds=10**9)
    for i in range(n_primary):
        telemetry.on_request(primary(request_id=f"p{i}"))
    for _ in range(n_shadow):
        telemetry.on_request(shadow())
    telemetry.on_mirror_skipped(SVC, "queue_full")
    telemetry.add_gauge_source(lambda: [("shadowmesh_mirror_queue_depth", {}, gauge)])
    # a snapshot crosses a pipe between processes
    return pickle.loads(pickle.dumps(telemetry.snapshot()))


def test_merging_two_workers_adds_counts_histograms_and_graph_cells() -> None:
    a, b = worker(3, 2, 1.0), worker(4, 1, 7.0)
    merged = merge_snapshots([a, b])
    assert merged.workers == 2
    v1 = next(stats for key, stats in merged.requests.items() if not key[-1])
    assert v1.count == 7
    assert v1.duration[2] == 7
    assert v1.response_bytes_sum == 7 * 596
    assert merged.mirror[(SVC, "sent")] == 3
    assert merged.mirror[(SVC, "succeeded")] == 3
    assert merged.mirror_skipped[(SVC, "queue_full")] == 2
    (cells,) = merged.graph.values()
    assert sorted(cell[0] for cell in cells.values()) == [3, 7]
    assert merged.gauges == [
        ("shadowmesh_mirror_queue_depth", {"worker": "0"}, 1.0),
        ("shadowmesh_mirror_queue_depth", {"worker": "1"}, 7.0),
    ]


def test_merging_does_not_change_the_inputs() -> None:
    a, b = worker(1, 0, 0), worker(1, 0, 0)
    merge_snapshots([a, b])
    merge_snapshots([a, b])
    assert next(iter(a.requests.values())).count == 1
    assert next(iter(next(iter(a.graph.values())).values()))[0] == 1


def test_log_lines_interleave_by_time_and_stay_bounded() -> None:
    a = TelemetrySnapshot(logs={"httpbin-v1": [(START + 1, "a1"), (START + 3, "a3")]})
    b = TelemetrySnapshot(logs={"httpbin-v1": [(START + 2, "b2")], "httpbin-v2": [(1.0, "x")]})
    merged = merge_snapshots([a, b])
    assert [line for _, line in merged.logs["httpbin-v1"]] == ["a1", "b2", "a3"]
    assert merged.logs["httpbin-v2"] == [(1.0, "x")]
    many = [TelemetrySnapshot(logs={"w": [(float(i * 3 + k), "l") for i in range(600)]})
            for k in range(3)]  # fmt: skip
    assert len(merge_snapshots(many).logs["w"]) == 1000


def test_merging_nothing_or_one() -> None:
    assert merge_snapshots([]).requests == {}
    only = worker(1, 0, 0)
    assert merge_snapshots([only]) is only
