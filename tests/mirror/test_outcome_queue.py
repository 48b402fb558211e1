"""The hand-off from the event loop to the comparison consumer: bounded, off-thread, and an
exception in the consumer never stops delivery."""

import threading
import time

from shadowmesh.mirror.hooks import SHED, OutcomeQueue
from shadowmesh.mirror.outcomes import ANSWERED, ROLE_MIRROR, Captured, CopyOutcome

SERVICE = "httpbin.default.svc.cluster.local"


def _copy(cid: int) -> CopyOutcome:
    return CopyOutcome(cid, SERVICE, "v2", ROLE_MIRROR, ANSWERED,
                       "-", Captured(200, [], b"{}", 2, False), 1.0, "127.0.0.1:8000")


def _wait(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_outcomes_are_delivered_on_another_thread_in_order() -> None:
    seen: list[int] = []
    threads: set[str] = set()

    def consume(batch: list) -> None:
        threads.add(threading.current_thread().name)
        seen.extend(o.cid for o in batch)

    q = OutcomeQueue(consume)
    for cid in range(2500):
        q.copy(_copy(cid))
    _wait(lambda: len(seen) == 2500)
    q.close()
    assert seen == list(range(2500))
    assert threads == {"shadowmesh-outcomes"}
    assert q.dropped == 0


def test_a_full_queue_sheds_new_requests_and_still_takes_the_admitted_ones() -> None:
    gate = threading.Event()
    got: list[int] = []

    def consume(batch: list) -> None:
        gate.wait(5)
        got.extend(o.cid for o in batch)

    q = OutcomeQueue(consume, maxsize=10)
    q.limits = {SERVICE: 1024}
    q.copy(_copy(0))
    _wait(lambda: q.depth == 0)  # the consumer holds the first one
    for cid in range(1, 11):
        q.copy(_copy(cid))
    assert q.capture_limit(SERVICE) == SHED  # 10 waiting: new requests are not captured
    assert q.capture_limit("other.default.svc.cluster.local") == 0  # not compared at all
    q.shed()
    assert q.dropped == 1  # one shed request: one pair for `backlog`
    for cid in range(11, 16):  # outcomes of requests captured before: still taken
        q.copy(_copy(cid))
    assert (q.depth, q.dropped) == (15, 1)
    q.copy(_copy(16))  # past the hard bound (maxsize and half again): dropped, counted
    assert (q.depth, q.dropped) == (15, 2)
    gate.set()
    _wait(lambda: len(got) == 16)
    assert q.capture_limit(SERVICE) == 1024  # caught up: captured again
    q.close()
    assert "dropped" in repr(q)


def test_consumer_exception_is_counted_and_delivery_goes_on() -> None:
    got: list[int] = []

    def consume(batch: list) -> None:
        if batch[0].cid == 0:
            raise ValueError("bug in the consumer")
        got.extend(o.cid for o in batch)

    q = OutcomeQueue(consume)
    q.copy(_copy(0))
    _wait(lambda: q.consumer_errors == 1)
    q.copy(_copy(1))
    _wait(lambda: got == [1])
    q.close()


def test_capture_limit_by_service() -> None:
    q = OutcomeQueue(lambda batch: None)
    assert q.capture_limit("httpbin.default.svc.cluster.local") == 0
    q.limits = {"httpbin.default.svc.cluster.local": 262144}
    assert q.capture_limit("httpbin.default.svc.cluster.local") == 262144
    q.close()


def test_pack_runs_on_the_putting_thread_and_its_failures_are_dropped_and_counted() -> None:
    got: list[bytes] = []
    packed_on: set[str] = set()

    def pack(outcome: CopyOutcome) -> bytes:
        packed_on.add(threading.current_thread().name)
        if outcome.cid == 3:
            raise ValueError("bug in the packer")
        return b"frame %d" % outcome.cid

    q = OutcomeQueue(got.extend, pack=pack)
    for cid in range(6):
        q.copy(_copy(cid))
    _wait(lambda: len(got) == 5)
    q.close()
    assert got == [b"frame 0", b"frame 1", b"frame 2", b"frame 4", b"frame 5"]
    assert packed_on == {threading.current_thread().name}
    assert (q.dropped, q.pack_errors) == (1, 1)
