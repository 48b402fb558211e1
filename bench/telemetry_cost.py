"""What telemetry costs per request, measured in isolation: `python -m bench.telemetry_cost`.

Times `Telemetry.on_request` (the only call the data plane makes per request), building the
`RequestRecord` it takes, and formatting the access-log line (done later, in batches, off the
request's path) for a primary record and a shadow record. Prints microseconds per call, the
median of several repeats.
"""

from __future__ import annotations

import asyncio
import statistics
import timeit

from shadowmesh.telemetry.accesslog import format_text
from shadowmesh.telemetry.observer import Telemetry
from shadowmesh.telemetry.record import RequestRecord

CALLS = 50_000
REPEATS = 5


def _record(shadow: bool = False) -> RequestRecord:
    return RequestRecord(
        start_time=1_795_000_000.0, duration_ms=1.2, upstream_service_time_ms=1.0,
        method="GET", path="/headers", authority="httpbin:8000", user_agent="curl/8",
        request_id="76acd756-2248-4e52-849a-feb42e13a9d1", response_code=200,
        bytes_sent=127, response_code_details="via_upstream",
        upstream_cluster="outbound|8000|v1|httpbin.default.svc.cluster.local",
        upstream_host="127.0.0.1:8081", destination_service="httpbin.default.svc.cluster.local",
        destination_service_name="httpbin", destination_service_namespace="default",
        destination_workload="httpbin-v1", destination_version="v1", shadow=shadow,
    )


def _per_call_us(fn: object) -> float:
    timer = timeit.Timer(fn)  # type: ignore[arg-type]
    return statistics.median(timer.repeat(REPEATS, CALLS)) / CALLS * 1e6


async def _measure() -> dict[str, float]:
    record = _record()
    quiet = Telemetry(sink=None, keep_recent_logs=False)
    logging = Telemetry(sink=None, keep_recent_logs=True)
    return {
        "RequestRecord(...) build": _per_call_us(_record),
        "on_request, access log off": _per_call_us(lambda: quiet.on_request(record)),
        "on_request, access log on (queue only)": _per_call_us(
            lambda: logging.on_request(record)),
        "record build + on_request, shadow copy": _per_call_us(
            lambda: quiet.on_request(_record(True))),
        "access-log line formatting (batched, later)": _per_call_us(lambda: format_text(record)),
    }


def main() -> None:
    results = asyncio.run(_measure())
    width = max(map(len, results))
    for name, micros in results.items():
        print(f"{name:<{width}}  {micros:6.2f} µs")


if __name__ == "__main__":
    main()
