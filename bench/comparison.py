"""The comparison engine under load: the Comparison resource the `-compare` scenarios add,
and reading back from the proxy's admin API how many pairs it really compared.

A scenario that claims "comparison on" must show that comparison ran: a proxy that accepted
the resource but compared nothing (no outcomes emitted, every pair dropped) would measure
plain mirroring. So the harness reads the compared pair count before and after each
measured run, and a run that compared nothing fails the scenario.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.waiting import http_get

# The tutorial's v2 (the mirror) compared with v1 (the primary), no noise copy: the backends
# answer the same 1 KB JSON on both sides, so every pair is byte-identical unless the proxy
# mangles one; the default ignore list (date, server, ...) applies.
COMPARISON_YAML = """\
apiVersion: shadowmesh.io/v1alpha1
kind: Comparison
metadata:
  name: httpbin
  namespace: default
spec:
  host: httpbin
  candidate:
    subset: v2
"""
COMPARISONS_PATH = "/api/v1/comparisons"
METRICS_PATH = "/metrics"
# The comparer's flusher writes to the store every second; two equal reads this far apart
# mean what was queued has landed.
SETTLE_STEP_S = 1.2
SETTLE_MAX_S = 10.0
_SKIPPED = re.compile(
    r'^shadowmesh_compare_skipped_total\{(?P<labels>[^}]*)\}\s+(?P<value>[0-9.eE+-]+)\s*$', re.M
)
_REASON = re.compile(r'reason="([^"\\]*)"')


def is_comparer(pid: int) -> bool:
    """Whether `pid` is a comparer process (`shadowmesh.compare.comparer_process`)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"shadowmesh.compare.comparer_process" in f.read()
    except OSError:
        return False


class NotCompared(Exception):
    """A comparison scenario's run compared no pair: it measured mirroring only."""


def with_comparison(yaml_text: str) -> str:
    """The mesh's YAML plus the Comparison for its mirrored host."""
    return yaml_text.rstrip("\n") + "\n---\n" + COMPARISON_YAML


def pairs_compared(body: bytes) -> int:
    """Compared pairs over every Comparison in the admin's `/api/v1/comparisons` document.

    Anything but the documented shape raises ValueError: a count we cannot read must not be
    taken for zero (or for proof)."""
    try:
        doc = json.loads(body)
        comparisons = doc["comparisons"]
        if not isinstance(comparisons, list):
            raise TypeError("comparisons is not a list")
        total = 0
        for cmp in comparisons:
            pairs = cmp["pairs"]
            if isinstance(pairs, bool) or not isinstance(pairs, int) or pairs < 0:
                raise TypeError(f"pairs is {pairs!r}")
            total += pairs
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"unreadable {COMPARISONS_PATH} answer: {exc!r}") from None
    return total


def skipped_by_reason(metrics_text: str) -> dict[str, int]:
    """`shadowmesh_compare_skipped_total{reason=...}` summed per reason (over every other
    label); reasons that never counted are absent."""
    out: dict[str, int] = {}
    for match in _SKIPPED.finditer(metrics_text):
        reason = _REASON.search(match.group("labels"))
        value = float(match.group("value"))
        if reason is None or value <= 0:
            continue
        out[reason.group(1)] = out.get(reason.group(1), 0) + int(value)
    return out


def describe_skipped(skipped: dict[str, int]) -> str:
    if not skipped:
        return "none skipped"
    return "skipped " + ", ".join(f"{reason} {n:,}" for reason, n in sorted(skipped.items()))


def settled(read: Callable[[], int], step_s: float = SETTLE_STEP_S,
            max_s: float = SETTLE_MAX_S) -> int:
    """`read()` once two reads `step_s` apart agree (bounded by `max_s`): the last value."""
    deadline = time.monotonic() + max_s
    last = read()
    while time.monotonic() < deadline:
        time.sleep(step_s)
        now = read()
        if now == last:
            return now
        last = now
    return last


@dataclass(frozen=True, slots=True)
class Admin:
    """The admin API of one `shadowmesh run`."""

    port: int

    def pairs(self) -> int:
        return pairs_compared(http_get(self.port, COMPARISONS_PATH))

    def skipped(self) -> dict[str, int]:
        return skipped_by_reason(http_get(self.port, METRICS_PATH).decode(errors="replace"))
