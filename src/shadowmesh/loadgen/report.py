"""What a run measured: `Recorder` while it runs, then `LoadResult`, its fortio-shaped JSON
and its fortio-like summary.

The `Recorder` is used from the event loop only (no locks). Errors go into the latency
histogram too, as fortio does, so ActualQPS and the histogram's count agree.

JSON field names are fortio's where fortio has the field (`RequestedQPS` is a string, "max"
for `-qps 0`; `ActualDuration` is in nanoseconds like Go's time.Duration; latencies are in
seconds; `RetCodes` counts transport errors under -1), so scripts written against fortio's
output keep working. Fields fortio lacks: `Errors` (by kind), `Late`, `SchedulerLag`,
`Unsent`, `BytesReceived`, `Address`, `Interrupted`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shadowmesh import __version__
from shadowmesh.loadgen.client import ErrorKind, Response
from shadowmesh.loadgen.config import LoadConfig, format_duration
from shadowmesh.loadgen.histogram import Histogram, HistogramData
from shadowmesh.loadgen.pacing import PacingStats

ERROR_CODE = -1  # fortio's RetCodes key for calls that got no HTTP answer
LAG_WARNING = 0.005  # average wake-up lag (s) beyond which the generator is the bottleneck


class Recorder:
    """Counts every finished exchange of one run: latency, status or error kind, sizes."""

    __slots__ = ("durations", "errors", "header_sizes", "sizes", "status_codes")

    def __init__(self, resolution: float) -> None:
        self.durations = Histogram.for_latency(resolution)
        self.sizes = Histogram.for_sizes()
        self.header_sizes = Histogram.for_sizes()
        self.status_codes: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"<Recorder {self.count} calls, {self.error_count} errors>"

    @property
    def count(self) -> int:
        return self.durations.count

    @property
    def error_count(self) -> int:
        return self.errors.total()

    def response(self, latency: float, response: Response) -> None:
        self.durations.record(latency)
        self.status_codes[response.status] += 1
        self.sizes.record(response.total_bytes)
        self.header_sizes.record(response.header_bytes)

    def error(self, latency: float, kind: ErrorKind) -> None:
        self.durations.record(latency)
        self.errors[kind.value] += 1


@dataclass(frozen=True, slots=True)
class LoadResult:
    config: LoadConfig
    start_time: datetime
    actual_duration: float  # seconds, from the first scheduled start to the last answer
    durations: HistogramData  # latency of every call, errors included
    sizes: HistogramData  # bytes read per answer
    header_sizes: HistogramData
    status_codes: dict[int, int]
    errors: dict[str, int]  # by kind: connect_refused, connect_error, timeout, reset, parse
    sockets: int  # connections opened, warm-up included
    address: str  # the ip:port the sockets connected to
    pacing: PacingStats
    interrupted: bool = False

    @property
    def count(self) -> int:
        return self.durations.count

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def actual_qps(self) -> float:
        return self.count / self.actual_duration if self.actual_duration > 0 else 0.0

    @property
    def bytes_received(self) -> int:
        return int(self.sizes.sum)

    def ret_codes(self) -> dict[int, int]:
        codes = dict(sorted(self.status_codes.items()))
        if self.error_count:
            codes = {ERROR_CODE: self.error_count, **codes}
        return codes

    # -- JSON -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "RunType": "HTTP",
            "Labels": cfg.labels,
            "StartTime": self.start_time.isoformat(),
            "RequestedQPS": cfg.requested_qps,
            "RequestedDuration": cfg.requested_duration,
            "ActualQPS": self.actual_qps,
            "ActualDuration": round(self.actual_duration * 1e9),
            "NumThreads": cfg.connections,
            "Version": __version__,
            "DurationHistogram": self.durations.to_dict(),
            "Exactly": cfg.count or 0,
            "RetCodes": {str(code): n for code, n in self.ret_codes().items()},
            "Errors": dict(sorted(self.errors.items())),
            "Sizes": self.sizes.to_dict(),
            "HeaderSizes": self.header_sizes.to_dict(),
            "URL": cfg.url,
            "Address": self.address,
            "SocketCount": self.sockets,
            "BytesReceived": self.bytes_received,
            "Late": {"Count": self.pacing.late, "Max": self.pacing.late_max},
            "SchedulerLag": {"Avg": self.pacing.lag_avg, "Max": self.pacing.lag_max},
            "Unsent": self.pacing.unsent,
            "Interrupted": self.interrupted,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    # -- text -----------------------------------------------------------------------------
    def summary_text(self) -> str:
        cfg = self.config
        lines = [
            f"{'Interrupted' if self.interrupted else 'Ended'} after "
            f"{format_duration(self.actual_duration)} : {self.count} calls. "
            f"qps={self.actual_qps:.5g}",
            f"Target {cfg.requested_qps} qps, achieved {self.actual_qps:.5g} qps over "
            f"{format_duration(self.actual_duration)} with {cfg.connections} connection(s) "
            f"to {self.address}",
        ]
        lines += _histogram_lines("Aggregated Function Time", self.durations)
        lines += self._error_lines()
        lines += self._pacing_lines()
        lines.append(
            f"Sockets used: {self.sockets} (for perfect keepalive, would be {cfg.connections})"
        )
        for code, n in self.ret_codes().items():
            lines.append(f"Code {code:3d} : {n} ({100.0 * n / max(1, self.count):.1f} %)")
        lines.append(_counter_line("Response Header Sizes", self.header_sizes))
        lines.append(_counter_line("Response Body/Total Sizes", self.sizes))
        lines.append(f"Bytes received: {self.bytes_received}")
        avg_ms = self.durations.avg * 1e3
        lines.append(f"All done {self.count} calls {avg_ms:.3f} ms avg, {self.actual_qps:.1f} qps")
        return "\n".join(lines) + "\n"

    def _error_lines(self) -> list[str]:
        if not self.errors:
            return ["Error cases : no data"]
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.errors.items()))
        return [f"Error cases : {self.error_count} ({kinds})"]

    def _pacing_lines(self) -> list[str]:
        p = self.pacing
        if self.config.qps == 0:
            return ["Pacing: none (-qps 0: each connection sends as soon as it has its answer)"]
        lines = [
            f"Late starts (queued behind a slow answer) : {p.late} of {p.late + p.on_time}, "
            f"max {format_duration(p.late_max)} behind",
            f"Scheduler lag of on-time starts : avg {format_duration(p.lag_avg)} "
            f"max {format_duration(p.lag_max)}",
        ]
        if p.unsent:
            lines.append(f"Not started before the end of -t : {p.unsent}")
        if p.lag_avg > LAG_WARNING:
            # on-time starts are measured from their write, so a generator that cannot keep
            # up would otherwise hide its own delay; say so rather than report a rosy latency
            lines.append(
                "WARNING: the load generator itself is behind its schedule; it may be CPU-bound"
                " (use fewer connections, a lower -qps, or several processes)"
            )
        return lines


def start_line(config: LoadConfig, planned: int | None) -> str:
    """fortio's "Starting at ..." line, printed before the run."""
    how = f"for {config.requested_duration}"
    if planned is not None and config.count is None:
        how += f" : {planned} calls in all"
    return (
        f"Starting at {config.requested_qps} qps with {config.connections} connection(s) "
        f"{how} -> {config.url}"
    )


def _counter_line(title: str, h: HistogramData) -> str:
    if h.count == 0:
        return f"{title} : no data"
    return (
        f"{title} : count {h.count} avg {h.avg:.8g} +/- {h.stddev:.4g} "
        f"min {h.min:g} max {h.max:g} sum {h.sum:.9g}"
    )


def _histogram_lines(title: str, h: HistogramData) -> list[str]:
    lines = [_counter_line(title, h)]
    if h.count == 0:
        return lines
    lines.append("# range, mid point, percentile, count")
    for i, b in enumerate(h.buckets):
        sep = ">=" if i == 0 else ">"
        lines.append(
            f"{sep} {b.start:.6g} <= {b.end:.6g} , {(b.start + b.end) / 2:.6g} , "
            f"{b.percent:.2f}, {b.count}"
        )
    lines += [f"# target {p:g}% {v:.6g}" for p, v in h.percentiles]
    return lines
