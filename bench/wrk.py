"""Running wrk and reading what it measured.

A small Lua `done()` hook prints one `WRK_JSON {...}` line with exact counters and latency
percentiles in microseconds; defining only `done` keeps wrk on its fast path (no Lua per
request). The text report (`--latency`) is parsed as a fallback so a wrk without LuaJIT, or
output pasted from elsewhere, still reads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.processes import run_bounded

MARKER = "WRK_JSON "

DONE_LUA = """-- Written by the benchmark harness: print wrk's summary as one JSON line.
done = function(summary, latency, requests)
  local p = {}
  for _, q in ipairs({50, 90, 99, 99.9}) do
    p[#p + 1] = string.format('"%s": %d', tostring(q), latency:percentile(q))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
    .. '"status": %d, "timeout": %d, "percentiles_us": {%s}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    table.concat(p, ", ")))
end
"""


class WrkError(Exception):
    """wrk failed or printed something we cannot read."""


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    socket_errors: int  # connect + read + write + timeout
    non_2xx: int  # wrk counts 3xx as success, as it does

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0


def parse_json_line(line: str) -> WrkResult:
    data = json.loads(line[line.index(MARKER) + len(MARKER) :])
    percentiles = data["percentiles_us"]
    return WrkResult(
        requests=int(data["requests"]),
        duration_s=data["duration_us"] / 1e6,
        p50_ms=percentiles["50"] / 1000,
        p99_ms=percentiles["99"] / 1000,
        socket_errors=sum(int(data[k]) for k in ("connect", "read", "write", "timeout")),
        non_2xx=int(data["status"]),
    )


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_DURATION_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)
_REQUESTS = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),", re.M)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s*(\d+)")
_SOCKET = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"
)


def parse_text(text: str) -> WrkResult:
    """Parse wrk's human report (needs `--latency` for the percentiles)."""
    requests = _REQUESTS.search(text)
    if requests is None:
        raise WrkError("no 'N requests in T' line in wrk's output")
    percentiles = {m.group(1): float(m.group(2)) * _UNIT_MS[m.group(3)]
                   for m in _PERCENTILE.finditer(text)}
    if set(percentiles) != {"50", "99"}:
        raise WrkError("no latency distribution in wrk's output (run it with --latency)")
    non_2xx = _NON_2XX.search(text)
    socket = _SOCKET.search(text)
    return WrkResult(
        requests=int(requests.group(1)),
        duration_s=float(requests.group(2)) * _DURATION_S[requests.group(3)],
        p50_ms=percentiles["50"],
        p99_ms=percentiles["99"],
        socket_errors=sum(int(g) for g in socket.groups()) if socket else 0,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
    )


def parse_output(text: str) -> WrkResult:
    """The `WRK_JSON` line when present (exact), else the text report."""
    for line in text.splitlines():
        if MARKER in line:
            try:
                return parse_json_line(line)
            except (ValueError, KeyError) as exc:
                raise WrkError(f"unreadable {MARKER.strip()} line: {line!r}") from exc
    return parse_text(text)


@dataclass(frozen=True, slots=True)
class Load:
    """How hard and how long to push: the same for every scenario of a session."""

    connections: int
    threads: int
    duration_s: int
    timeout_s: int = 5
    host: str | None = None


def command(wrk: str, url: str, load: Load, script: Path, duration_s: int) -> list[str]:
    argv = [
        wrk,
        "-t", str(load.threads),
        "-c", str(max(load.connections, load.threads)),
        "-d", f"{duration_s}s",
        "--timeout", f"{load.timeout_s}s",
        "--latency",
        "-s", str(script),
    ]
    if load.host:
        argv += ["-H", f"Host: {load.host}"]
    return [*argv, url]


def write_script(directory: Path) -> Path:
    script = directory / "done.lua"
    script.write_text(DONE_LUA)
    return script


def run(
    wrk: str,
    url: str,
    load: Load,
    script: Path,
    cpus: frozenset[int] | None,
    duration_s: int | None = None,
) -> WrkResult:
    seconds = load.duration_s if duration_s is None else duration_s
    argv: Sequence[str] = command(wrk, url, load, script, seconds)
    # wrk stops on its own after `seconds`; the margin covers start-up and slow last replies.
    done = run_bounded(argv, timeout_s=seconds + load.timeout_s + 20, cwd=script.parent, cpus=cpus)
    out = done.stdout.decode(errors="replace")
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip()
        raise WrkError(f"wrk exited with {done.returncode}: {err or out.strip()}")
    return parse_output(out)
