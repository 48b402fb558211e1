"""The comparison engine: outcomes in, aggregates out.

    engine = CompareEngine(store, mirror_timeout)
    engine.set_specs(specs)          # whenever the Comparisons in force change (any thread)
    engine.consume(batch)            # in the comparer process (comparer_process.py), or
                                     # on an OutcomeQueue's thread: OutcomeQueue(engine.consume)
    engine.flush()                   # also done by consume() every `flush_interval`

Everything here runs off the event loop (in `shadowmesh run`: in the comparer process). Work
is bounded: open groups (pairing.py), fields per pair (jsondiff.py), endpoints, field rows
and difference signatures per endpoint, and the aggregates held while the store is
unreachable (aggregate.py). What is not compared is counted by reason (`skipped`), never
dropped silently.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from shadowmesh.compare import aggregate as agg
from shadowmesh.compare.diff import PairDiff, Prepared, compare, prepare
from shadowmesh.compare.endpoints import EndpointNamer
from shadowmesh.compare.jsondiff import STATUS, Difference
from shadowmesh.compare.pairing import Group, Pairing
from shadowmesh.compare.samples import build_sample
from shadowmesh.compare.spec import CompareSpec
from shadowmesh.compare.stats import COARSE, FINE, coarse_bucket, fine_bucket
from shadowmesh.compare.store import Store, StoreUnavailable
from shadowmesh.compare.volatile import VolatileLearner
from shadowmesh.mirror.outcomes import (
    ANSWERED,
    FAILED,
    ROLE_NOISE,
    TIMED_OUT,
    Captured,
    CopyOutcome,
    PrimaryOutcome,
)
from shadowmesh.mirror.shadow_request import shadow_authority

log = logging.getLogger("shadowmesh.compare")

MAX_FIELDS_PER_ENDPOINT: Final = 200
MAX_SIGNATURES_PER_ENDPOINT: Final = 256
OTHER_FIELD: Final = "$<other fields>"
OVERFLOW_SIGNATURE: Final = "*"
PAIR_GRACE_S: Final = 2.0
MAX_OPEN_GROUPS: Final = 50_000
SAME: Final = PairDiff([])
SAME_TRUNCATED: Final = PairDiff([], truncated=True)


@dataclass
class _EndpointState:
    learner: VolatileLearner = field(default_factory=VolatileLearner)
    fields: set[tuple[str, str]] = field(default_factory=set)
    signatures: set[str] = field(default_factory=set)
    samples: dict[str, int] = field(default_factory=dict)  # field -> samples sent
    # (delta, minute) -> that delta's counter row and histograms for this endpoint
    cached: tuple[Any, ...] = ()


@dataclass
class _ComparisonState:
    spec: CompareSpec
    namer: EndpointNamer
    endpoints: dict[str, _EndpointState] = field(default_factory=dict)

    @property
    def summary(self) -> bytes:
        return orjson.dumps({**self.spec.summary(), "spec": self.spec.document})


def _field_lines(raw_head: bytes) -> bytes:
    return raw_head[raw_head.find(b"\n") + 1:]  # after the status line (or the empty one)


def _same_head(a: Captured, b: Captured) -> bool:
    """Whether two captured heads have the same fields: byte-equal field lines say so
    without splitting either (the usual case for identical answers; the status is compared
    on its own)."""
    if a.raw_head and b.raw_head and _field_lines(a.raw_head) == _field_lines(b.raw_head):
        return True
    return a.headers == b.headers


def _minute(epoch: float) -> int:
    return int(epoch) // 60 * 60


def _rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class CompareEngine:
    def __init__(self, store: Store | None, mirror_timeout: float = 10.0,
                 flush_interval: float = 1.0, max_keys: int = agg.DEFAULT_MAX_KEYS,
                 max_endpoints: int = 50, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.flush_interval = flush_interval
        self.max_keys = max_keys
        self.max_endpoints = max_endpoints
        self.clock = clock
        self.pairing = Pairing(mirror_timeout + PAIR_GRACE_S, MAX_OPEN_GROUPS, clock)
        self._lock = threading.Lock()
        self._pending: list[CompareSpec] | None = None
        self._by_service: dict[str, _ComparisonState] = {}
        self._states: dict[agg.CKey, _ComparisonState] = {}
        self._delta = agg.Delta(max_keys=max_keys)
        self._unreported = 0  # pairs held since the store last failed, not yet counted
        self._last_flush = clock()
        self._echoes: dict[str, tuple[bytes, bytes]] = {}
        self.compared = 0  # pairs compared by this engine (for tests and repr)
        self.store_failures = 0

    def __repr__(self) -> str:
        return (f"<CompareEngine {len(self._states)} comparisons, {self.compared} pairs, "
                f"{self.pairing!r}, delta {self._delta.size()} keys>")

    # -- configuration --------------------------------------------------------------------
    def set_specs(self, specs: Sequence[CompareSpec]) -> None:
        """The Comparisons in force. Removed ones stop capturing; their report stays.

        Called from the control plane (the event loop): it only hands the specs over; the
        engine's thread applies them before its next batch or flush, so a configuration
        change never waits for a batch being compared."""
        self._pending = list(specs)

    def _apply_pending(self) -> None:
        specs, self._pending = self._pending, None
        if specs is not None:
            self._set_specs(specs)

    def _set_specs(self, specs: Sequence[CompareSpec]) -> None:
        states: dict[agg.CKey, _ComparisonState] = {}
        for spec in specs:
            old = self._states.get(spec.key)
            # the same document keeps what was learned (endpoints, volatile fields)
            if (old is not None and old.spec.document == spec.document
                    and old.spec.services == spec.services):
                old.spec = spec
                states[spec.key] = old
            else:
                namer = EndpointNamer(spec.endpoint_rules, self.max_endpoints)
                states[spec.key] = _ComparisonState(spec, namer)
            self._delta.comparisons[spec.key] = (states[spec.key].summary, True, 0.0)
        for key, state in self._states.items():
            if key not in states:
                self._delta.comparisons[key] = (state.summary, False, 0.0)
        by_service: dict[str, _ComparisonState] = {}
        for state in states.values():
            for service in sorted(state.spec.services):
                by_service.setdefault(service, state)
        self._states, self._by_service = states, by_service

    # -- intake ---------------------------------------------------------------------------
    def consume(self, batch: Sequence[PrimaryOutcome | CopyOutcome]) -> None:
        with self._lock:
            self._apply_pending()
            for outcome in batch:
                group = self.pairing.add(outcome)
                if group is not None:
                    self._group(group)
            for group in self.pairing.expire():
                self._incomplete(group)
        if self.clock() - self._last_flush >= self.flush_interval:
            self.flush()

    def backlog(self, dropped: int) -> None:
        """Outcomes the queue refused: attributed to every comparison in force, since a
        dropped outcome cannot be told apart."""
        if dropped <= 0:
            return
        with self._lock:
            self._apply_pending()
            minute = _minute(time.time())
            for key in self._states:
                self._delta.skip(key, minute, "backlog", dropped)

    def _incomplete(self, group: Group) -> None:
        primary = group.primary
        if primary is None:
            state = self._by_service.get(group.copies[0].service) if group.copies else None
            if state is None:  # copies are keyed by the shadow's service: find the owner
                for candidate in self._states.values():
                    if any(candidate.spec.is_candidate(c.service, c.subset) for c in group.copies):
                        state = candidate
                        break
            if state is not None:
                self._delta.skip(state.spec.key, _minute(time.time()), "primary_missing")
            return
        state = self._by_service.get(primary.service)
        if state is None:
            return
        minute = _minute(primary.start_time)
        if any(self._is_candidate(state.spec, c) for c in group.copies):
            self._group(group)  # the candidate answered; only a noise copy is missing
            return
        self._delta.skip(state.spec.key, minute, "candidate_timed_out")

    @staticmethod
    def _is_candidate(spec: CompareSpec, copy: CopyOutcome) -> bool:
        return copy.role != ROLE_NOISE and spec.is_candidate(copy.service, copy.subset)

    # -- comparing ------------------------------------------------------------------------
    def _group(self, group: Group) -> None:
        primary = group.primary
        assert primary is not None
        state = self._by_service.get(primary.service)
        if state is None:
            return  # the Comparison was deleted while the request was in flight
        spec = state.spec
        key = spec.key
        minute = _minute(primary.start_time)
        delta = self._delta
        if delta.full():
            delta.skip(key, minute, "store_unavailable")
            return
        if primary.response is None:
            delta.skip(key, minute, "primary_missing")
            return
        candidates = [c for c in group.copies if self._is_candidate(spec, c)]
        if not candidates:
            return  # no copy went to the candidate (only a noise copy, or another mirror)
        endpoint = state.namer.name(primary.method, primary.target)
        ep = state.endpoints.get(endpoint)
        if ep is None:
            ep = state.endpoints[endpoint] = _EndpointState()
        echo = self._echo(primary.authority)
        answer = primary.response
        first: Prepared | None = None
        noise_diff: PairDiff | None = None
        for copy in group.copies:
            if copy.role == ROLE_NOISE and copy.kind == ANSWERED and copy.response is not None:
                first = prepare(answer, spec)
                noise_diff = compare(first, prepare(copy.response, spec, echo), spec)
                break
        for copy in candidates:
            got = copy.response
            if copy.kind != ANSWERED or got is None:
                self._failed(key, minute, endpoint, copy)
                continue
            other: Prepared | None = None
            if (answer.status == got.status and answer.size == got.size
                    and answer.body == got.body and _same_head(answer, got)):
                # byte-identical: nothing to prepare, parse or diff
                result = SAME_TRUNCATED if answer.truncated or got.truncated else SAME
            else:
                first = first or prepare(answer, spec)
                other = prepare(got, spec, echo)
                result = compare(first, other, spec)
            self._record(state, ep, minute, endpoint, primary, copy, answer, got, first, other,
                         result, noise_diff)
            noise_diff = None  # the noise copy is counted once per request

    def _echo(self, authority: str) -> tuple[bytes, bytes] | None:
        found = self._echoes.get(authority)
        if found is None and authority:
            plain = authority.encode("latin-1", "replace")
            found = (shadow_authority(authority).encode("latin-1", "replace"), plain)
            if len(self._echoes) >= 1024:  # authorities are few; a hostile flood is not kept
                self._echoes.clear()
            self._echoes[authority] = found
        return found

    def _failed(self, key: agg.CKey, minute: int, endpoint: str, copy: CopyOutcome) -> None:
        delta = self._delta
        if copy.kind == FAILED:
            delta.count(key, minute, endpoint, agg.CANDIDATE_FAILED)
            delta.skip(key, minute, "candidate_missing")
        elif copy.kind == TIMED_OUT:
            delta.count(key, minute, endpoint, agg.CANDIDATE_TIMED_OUT)
            delta.skip(key, minute, "candidate_timed_out")
        else:
            delta.skip(key, minute, "candidate_missing")

    def _record(self, state: _ComparisonState, ep: _EndpointState, minute: int,
                endpoint: str, primary: PrimaryOutcome, copy: CopyOutcome, answer: Captured,
                got: Captured, first: Prepared | None, other: Prepared | None,
                result: PairDiff, noise_diff: PairDiff | None) -> None:
        spec = state.spec
        key = spec.key
        delta = self._delta
        self.compared += 1
        delta.pairs += 1
        self._unreported += 1
        cached = ep.cached
        if not cached or cached[0] is not delta or cached[1] != minute:
            cached = ep.cached = (
                delta, minute, delta.row(key, minute, endpoint),
                delta.histogram(key, minute, endpoint, "primary", FINE),
                delta.histogram(key, minute, endpoint, "primary", COARSE),
                delta.histogram(key, minute, endpoint, "candidate", FINE),
                delta.histogram(key, minute, endpoint, "candidate", COARSE))
        _, _, row, primary_fine, primary_coarse, candidate_fine, candidate_coarse = cached
        row[agg.R_PAIRS] += 1
        row[agg.R_PRIMARY_BYTES] += answer.size
        row[agg.R_CANDIDATE_BYTES] += got.size
        if answer.status >= 500:
            row[agg.R_PRIMARY_5XX] += 1
        if got.status >= 500:
            row[agg.R_CANDIDATE_5XX] += 1
        if answer.status != got.status:
            row[agg.R_STATUS] += 1
        for ms, fine, coarse in ((primary.duration_ms, primary_fine, primary_coarse),
                                 (copy.duration_ms, candidate_fine, candidate_coarse)):
            b = fine_bucket(ms)
            fine[b] = fine.get(b, 0) + 1
            b = coarse_bucket(ms)
            coarse[b] = coarse.get(b, 0) + 1
        if result.truncated:
            delta.skip(key, minute, "body_truncated")
        if result.decode_error:
            delta.skip(key, minute, "decode_error")
        if result.capped:
            delta.skip(key, minute, "field_cap")
        if noise_diff is not None:
            row[agg.R_NOISE_PAIRS] += 1
            for name, kind in self._field_keys(ep, noise_diff.differences):
                delta.field_diff(key, minute, endpoint, name, kind, 0, 1, 0)
        if not result.differences:
            return  # `same` is what the pairs with a difference leave over
        assert first is not None and other is not None
        signature = f"{primary.method} {primary.target}"
        keys = self._field_keys(ep, result.differences)
        values = {d.field: d.primary for d in result.differences}
        for name, _kind in keys:
            ep.learner.observe(signature, name, values.get(name, ""))
        for name, kind in keys:
            volatile = 1 if ep.learner.is_volatile(name) else 0
            delta.field_diff(key, minute, endpoint, name, kind, 1, 0, volatile)
        sig = "\n".join(sorted(f"{name}|{kind}" for name, kind in keys))
        if sig not in ep.signatures:
            if len(ep.signatures) >= MAX_SIGNATURES_PER_ENDPOINT:
                sig = OVERFLOW_SIGNATURE
            else:
                ep.signatures.add(sig)
        delta.signature(key, minute, endpoint, sig)
        self._sample(spec, ep, endpoint, primary, copy, first, other, result.differences, keys)

    def _field_keys(self, ep: _EndpointState, differences: Sequence[Difference]
                    ) -> list[tuple[str, str]]:
        """Distinct (field, kind) of a pair's differences, within the per-endpoint cap."""
        out: dict[tuple[str, str], None] = {}
        for d in differences:
            k = (d.field, d.kind)
            if k not in ep.fields:
                if len(ep.fields) >= MAX_FIELDS_PER_ENDPOINT:
                    k = (OTHER_FIELD, d.kind if d.kind == STATUS else "changed")
                else:
                    ep.fields.add(k)
            out[k] = None
        return list(out)

    def _sample(self, spec: CompareSpec, ep: _EndpointState, endpoint: str,
                primary: PrimaryOutcome, copy: CopyOutcome, first: Prepared, other: Prepared,
                differences: list[Difference], keys: list[tuple[str, str]]) -> None:
        wanted = [name for name, _ in keys if ep.samples.get(name, 0) < spec.samples]
        if not wanted:
            return
        doc: dict[str, Any] = build_sample(spec, endpoint, _rfc3339(primary.start_time),
                                           primary.method, primary.target, first, other,
                                           differences, primary.duration_ms, copy.duration_ms)
        body = orjson.dumps(doc)
        for name in wanted[:3]:  # one document under a few of its fields, not all of them
            ep.samples[name] = ep.samples.get(name, 0) + 1
            self._delta.samples.append(
                (spec.namespace, spec.name, endpoint, name, primary.start_time, body,
                 spec.samples))

    # -- storing --------------------------------------------------------------------------
    def flush(self) -> bool:
        """Write the aggregates gathered so far; on failure keep them (bounded)."""
        with self._lock:
            self._apply_pending()
            for key, state in self._states.items():
                # every flush says which Comparisons are in force, so a report reset while
                # one is running lists it again at once
                self._delta.comparisons.setdefault(key, (state.summary, True, 0.0))
            delta, self._delta = self._delta, agg.Delta(max_keys=self.max_keys)
            self._last_flush = self.clock()
            unreported, self._unreported = self._unreported, 0
        if delta.empty():
            return True
        if self.store is None:
            return False
        try:
            self.store.apply(delta)
            return True
        except StoreUnavailable as exc:
            self.store_failures += 1
            if self.store_failures == 1 or self.store_failures % 60 == 0:
                log.warning("comparison store unavailable (%s); keeping %d aggregates in "
                            "memory", exc, delta.size())
            with self._lock:
                if unreported:
                    for key in {k[:2] for k in delta.counter_items()}:
                        if key in self._states:
                            delta.skip(key, _minute(time.time()), "store_unavailable",
                                       unreported)
                            break
                delta.merge(self._delta)
                self._delta = delta
            return False

    def close(self) -> None:
        with self._lock:
            for group in self.pairing.expire():
                self._incomplete(group)
        self.flush()
