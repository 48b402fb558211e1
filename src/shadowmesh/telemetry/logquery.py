"""Selecting recent access-log lines the way `kubectl logs` does: --since, --tail, and a
cursor so that `logs -f` can poll for only what is new."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shadowmesh.telemetry.snapshot import LogEntry, TelemetrySnapshot

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Go-style durations as kubectl takes them: `30s`, `1m`, `1h30m`, `500ms` -> seconds.
    A bare number means seconds. Raises ValueError with a message a user can act on."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(text):
        raise ValueError(f"invalid duration {text!r}: use e.g. 30s, 1m, 1h30m")
    return total


@dataclass(frozen=True)
class LogSelection:
    lines: list[str]
    # pass back as `after` to get only newer lines
    cursor: float


def select_logs(
    snapshot: TelemetrySnapshot,
    *,
    workload: str | None,
    now: float,
    since: float | None = None,
    tail: int | None = None,
    after: float | None = None,
) -> LogSelection:
    """Lines of one workload (all workloads when None), oldest first.

    Only lines logged at or before `now` are returned, and the cursor is `now`. With several
    workers, `now` is the earliest of their snapshot times: every line logged up to then is
    in the merged snapshot, and a later one is left for the next poll (`after=cursor`), so
    polling shows each line exactly once.
    """
    if workload is None:
        entries: list[LogEntry] = sorted(
            (entry for lines in snapshot.logs.values() for entry in lines), key=lambda e: e[0]
        )
    else:
        entries = snapshot.logs.get(workload, [])
    low = float("-inf")
    if since is not None:
        low = now - since
    if after is not None:
        low = max(low, after)
    selected = [line for logged, line in entries if low < logged <= now]
    if tail is not None and tail >= 0:
        selected = selected[-tail:] if tail else []
    return LogSelection(selected, now)
