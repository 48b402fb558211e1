"""The hostile-client table (vectors.py) against a real proxy and a raw-socket backend."""

from __future__ import annotations

import itertools

import pytest
from tests.hostile.harness import Stack, get, send_and_read
from tests.hostile.vectors import VECTORS, Vector

pytestmark = pytest.mark.e2e

_sentinels = itertools.count()


def _params() -> list[object]:
    out: list[object] = []
    for v in VECTORS:
        marks = [pytest.mark.xfail(strict=True, reason=v.xfail)] if v.xfail else []
        out.append(pytest.param(v, id=v.name, marks=marks))
    return out


def test_the_table_is_large_enough() -> None:
    assert len(VECTORS) >= 100
    assert len({v.name for v in VECTORS}) == len(VECTORS)


@pytest.mark.parametrize("vector", _params())
def test_vector(hostile_stack: Stack, vector: Vector) -> None:
    backend = hostile_stack.backend
    mark = backend.mark()
    out = send_and_read(hostile_stack.port, vector.pieces, len(vector.statuses), vector.head,
                        close_wait=1.0 if vector.closed else 0.2)
    # the next client is served, with its own answer: alive, and upstream still in step
    n = next(_sentinels)
    sentinel = get(hostile_stack.port, f"/sentinel-{n}")
    raw, requests, garbage = backend.since(mark)
    lowered = raw.lower()

    assert out.statuses == list(vector.statuses), out.error
    if vector.bodies is not None:
        assert [r.body for r in out.responses] == list(vector.bodies)
    if vector.closed is not None:
        assert out.closed == vector.closed
    assert (sentinel.status, sentinel.body) == (200, b"seen /sentinel-%d" % n)
    assert garbage == [], "the proxy sent the backend bytes that are not a request"
    mine = [r for r in requests if not r.target.startswith(b"/sentinel-")]
    if vector.forwarded is not None:
        assert len(mine) == vector.forwarded, [r.target for r in mine]
    for needle in vector.must:
        assert needle.lower() in lowered, needle
    for needle in vector.must_not:
        assert needle.lower() not in lowered, needle
    assert [r.target for r in requests if r.target.startswith(b"/sentinel-")] == \
        [b"/sentinel-%d" % n]
