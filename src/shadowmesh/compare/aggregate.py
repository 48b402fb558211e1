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

# skip reasons (COMPARE-API.md), plus field_cap and primary_missing
SKIP_REASONS: Final = ("backlog", "candidate_missing", "candidate_timed_out", "decode_error",
                       "body_truncated", "store_unavailable", "field_cap", "primary_missing")

CKey = tuple[str, str]  # namespace, name


@dataclass
class Delta:
    max_keys: int = DEFAULT_MAX_KEYS
    # (ns, name, minute, endpoint, counter) -> n
    counters: dict[tuple[str, str, int, str, str], int] = field(default_factory=dict)
    # (ns, name, minute, endpoint, field, kind) -> [raw, noise, volatile]
    fields: dict[tuple[str, str, int, str, str, str], list[int]] = field(default_factory=dict)
    # (ns, name, minute, endpoint, signature) -> n; signature: "\n"-joined sorted field|kind
    signatures: dict[tuple[str, str, int, str, str], int] = field(default_factory=dict)
    # (ns, name, minute, endpoint, side, scale, bucket) -> n
    latency: dict[tuple[str, str, int, str, str, str, int], int] = field(default_factory=dict)
    # (ns, name, endpoint, field, time, document JSON)
    samples: list[tuple[str, str, str, str, float, bytes]] = field(default_factory=list)
    # (ns, name) -> (summary JSON, active, first pair time or 0)
    comparisons: dict[CKey, tuple[bytes, bool, float]] = field(default_factory=dict)
    pairs: int = 0  # pairs recorded in this delta

    def size(self) -> int:
        return (len(self.counters) + len(self.fields) + len(self.signatures)
                + len(self.latency) + len(self.samples))

    def full(self) -> bool:
        return self.size() >= self.max_keys

    def empty(self) -> bool:
        return self.size() == 0 and not self.comparisons

    def count(self, key: CKey, minute: int, endpoint: str, counter: str, n: int = 1) -> None:
        k = (key[0], key[1], minute, endpoint, counter)
        self.counters[k] = self.counters.get(k, 0) + n

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

    def latency_sample(self, key: CKey, minute: int, endpoint: str, side: str, scale: str,
                       bucket: int) -> None:
        k = (key[0], key[1], minute, endpoint, side, scale, bucket)
        self.latency[k] = self.latency.get(k, 0) + 1

    def merge(self, other: Delta) -> None:
        """Add `other` (a delta that failed to flush) into this one."""
        for ck, n in other.counters.items():
            self.counters[ck] = self.counters.get(ck, 0) + n
        for fk, row in other.fields.items():
            mine = self.fields.setdefault(fk, [0, 0, 0])
            for i in range(3):
                mine[i] += row[i]
        for sk, n in other.signatures.items():
            self.signatures[sk] = self.signatures.get(sk, 0) + n
        for lk, n in other.latency.items():
            self.latency[lk] = self.latency.get(lk, 0) + n
        self.samples = other.samples + self.samples
        for key, value in other.comparisons.items():
            self.comparisons.setdefault(key, value)
        self.pairs += other.pairs


def as_json_text(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()
