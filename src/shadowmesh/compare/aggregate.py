"""What the engine adds to the store: counts keyed by comparison, minute and endpoint.

A `Delta` holds increments only, so flushing is an upsert that adds, and several
processes writing one store add up exactly. Keys carry the minute (epoch seconds, floored)
so that a report can be asked `--since`. Every table is bounded by `max_keys`: beyond it
new pairs are refused (the caller counts them) until a flush empties the delta.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

DEFAULT_MAX_KEYS: Final = 200_000

# counters per endpoint ("" for the comparison as a whole)
PAIRS: Final = "pairs"
NOISE_PAIRS: Final = "noise_pairs"
STATUS_MISMATCHES: Final = "status_mismatches"
PRIMARY_5XX: Final = "primary_5xx"
CANDIDATE_5XX: Final = "candidate_5xx"
CANDIDATE_FAILED: Final = "candidate_failed"
CANDIDATE_TIMED_OUT: Final = "candidate_timed_out"
PRIMARY_BYTES: Final = "primary_bytes"
CANDIDATE_BYTES: Final = "candidate_bytes"
SKIPPED_PREFIX: Final = "skipped:"

# skip reasons of the report, field_cap and primary_missing last
SKIP_REASONS: Final = ("backlog", "candidate_missing", "candidate_timed_out", "decode_error",
                       "body_truncated", "store_unavailable", "field_cap", "primary_missing")

CKey = tuple[str, str]  # namespace, name

# the counters every pair touches, kept as one list per endpoint and minute (fewer keys)
ROW_COUNTERS: Final = (PAIRS, NOISE_PAIRS, STATUS_MISMATCHES, PRIMARY_5XX, CANDIDATE_5XX,
                       PRIMARY_BYTES, CANDIDATE_BYTES)
R_PAIRS, R_NOISE_PAIRS, R_STATUS, R_PRIMARY_5XX, R_CANDIDATE_5XX, R_PRIMARY_BYTES, \
    R_CANDIDATE_BYTES = range(len(ROW_COUNTERS))


@dataclass
class Delta:
    max_keys: int = DEFAULT_MAX_KEYS
    # (ns, name, minute, endpoint, counter) -> n
    counters: dict[tuple[str, str, int, str, str], int] = field(default_factory=dict)
    # (ns, name, minute, endpoint) -> values of ROW_COUNTERS
    rows: dict[tuple[str, str, int, str], list[int]] = field(default_factory=dict)
    # (ns, name, minute, endpoint, field, kind) -> [raw, noise, volatile]
    fields: dict[tuple[str, str, int, str, str, str], list[int]] = field(default_factory=dict)
    # (ns, name, minute, endpoint, signature) -> n; signature: "\n"-joined sorted field|kind
    signatures: dict[tuple[str, str, int, str, str], int] = field(default_factory=dict)
    # (ns, name, minute, endpoint, side, scale) -> {bucket: n}
    latency: dict[tuple[str, str, int, str, str, str], dict[int, int]] = field(
        default_factory=dict)
    # (ns, name, endpoint, field, time, document JSON, cap per endpoint and field)
    samples: list[tuple[str, str, str, str, float, bytes, int]] = field(default_factory=list)
    # (ns, name) -> (summary JSON, active, first pair time or 0)
    comparisons: dict[CKey, tuple[bytes, bool, float]] = field(default_factory=dict)
    pairs: int = 0  # pairs recorded in this delta

    def size(self) -> int:
        return (len(self.counters) + len(self.rows) + len(self.fields) + len(self.signatures)
                + 16 * len(self.latency) + len(self.samples))

    def full(self) -> bool:
        return self.size() >= self.max_keys

    def empty(self) -> bool:
        return self.size() == 0 and not self.comparisons

    def count(self, key: CKey, minute: int, endpoint: str, counter: str, n: int = 1) -> None:
        k = (key[0], key[1], minute, endpoint, counter)
        self.counters[k] = self.counters.get(k, 0) + n

    def row(self, key: CKey, minute: int, endpoint: str) -> list[int]:
        k = (key[0], key[1], minute, endpoint)
        found = self.rows.get(k)
        if found is None:
            found = self.rows[k] = [0] * len(ROW_COUNTERS)
        return found

    def counter_items(self) -> dict[tuple[str, str, int, str, str], int]:
        """Every counter, rows included (what the store adds)."""
        out = dict(self.counters)
        for (ns, name, minute, endpoint), values in self.rows.items():
            for counter, n in zip(ROW_COUNTERS, values, strict=True):
                if n:
                    k = (ns, name, minute, endpoint, counter)
                    out[k] = out.get(k, 0) + n
        return out

    def skip(self, key: CKey, minute: int, reason: str, n: int = 1) -> None:
        self.count(key, minute, "", SKIPPED_PREFIX + reason, n)

    def field_diff(self, key: CKey, minute: int, endpoint: str, name: str, kind: str,
                   raw: int, noise: int, volatile: int) -> None:
        k = (key[0], key[1], minute, endpoint, name, kind)
        row = self.fields.get(k)
        if row is None:
            self.fields[k] = [raw, noise, volatile]
        else:
            row[0] += raw
            row[1] += noise
            row[2] += volatile

    def signature(self, key: CKey, minute: int, endpoint: str, signature: str) -> None:
        k = (key[0], key[1], minute, endpoint, signature)
        self.signatures[k] = self.signatures.get(k, 0) + 1

    def histogram(self, key: CKey, minute: int, endpoint: str, side: str, scale: str
                  ) -> dict[int, int]:
        k = (key[0], key[1], minute, endpoint, side, scale)
        found = self.latency.get(k)
        if found is None:
            found = self.latency[k] = {}
        return found

    def latency_items(self) -> list[tuple[tuple[str, str, int, str, str, str, int], int]]:
        return sorted(((*k, bucket), n) for k, hist in self.latency.items()
                      for bucket, n in hist.items())

    def merge(self, other: Delta) -> None:
        """Add `other` (a delta that failed to flush) into this one."""
        for ck, n in other.counters.items():
            self.counters[ck] = self.counters.get(ck, 0) + n
        for rk, values in other.rows.items():
            mine_row = self.rows.setdefault(rk, [0] * len(ROW_COUNTERS))
            for i, n in enumerate(values):
                mine_row[i] += n
        for fk, row in other.fields.items():
            mine = self.fields.setdefault(fk, [0, 0, 0])
            for i in range(3):
                mine[i] += row[i]
        for sk, n in other.signatures.items():
            self.signatures[sk] = self.signatures.get(sk, 0) + n
        for lk, hist in other.latency.items():
            mine_hist = self.latency.setdefault(lk, {})
            for bucket, n in hist.items():
                mine_hist[bucket] = mine_hist.get(bucket, 0) + n
        self.samples = other.samples + self.samples
        for key, value in other.comparisons.items():
            self.comparisons.setdefault(key, value)
        self.pairs += other.pairs


def as_json_text(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()
