"""Misbehaving upstreams: what they send must never reach another client, and the proxy keeps
serving. One upstream connection (maxConnections: 1) makes any leak visible."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from tests.hostile.harness import Stack, get
from tests.support.rawhttp import RawConnection

pytestmark = pytest.mark.e2e

DEFECT_1 = "upstream side: defect 1 (responses leak between clients on pooled connections)"
DEFECT_5 = "upstream side: defect 5 (close-delimited responses truncated)"


def assert_served(s: Stack, target: str = "/after") -> None:
    resp = get(s.port, target)
    assert (resp.status, resp.body) == (200, b"seen " + target.encode())


def test_an_unsolicited_second_response_reaches_nobody(hostile_stack: Stack) -> None:
    first = get(hostile_stack.port, "/up/extra-1")
    assert (first.status, first.body) == (200, b"seen /up/extra-1")
    for i in range(3):
        assert_served(hostile_stack, f"/next-{i}")


def test_bytes_on_an_idle_pooled_connection_reach_nobody(hostile_stack: Stack) -> None:
    first = get(hostile_stack.port, "/up/late-extra")
    assert first.body == b"seen /up/late-extra"
    time.sleep(0.2)  # the unsolicited answer arrives on the idle pooled connection
    for i in range(3):
        assert_served(hostile_stack, f"/idle-{i}")


def test_bytes_before_the_status_line_are_an_upstream_error(hostile_stack: Stack) -> None:
    resp = get(hostile_stack.port, "/up/preamble")
    assert resp.status in (502, 503)
    assert b"seen" not in resp.body
    assert_served(hostile_stack)


def test_garbage_instead_of_a_response_is_an_upstream_error(hostile_stack: Stack) -> None:
    resp = get(hostile_stack.port, "/up/garbage")
    assert resp.status in (502, 503)
    assert_served(hostile_stack)


def test_an_upstream_that_closes_without_answering_is_a_503(hostile_stack: Stack) -> None:
    resp = get(hostile_stack.port, "/up/early-close")
    assert resp.status == 503
    assert_served(hostile_stack)


def test_a_close_delimited_response_arrives_whole(hostile_stack: Stack) -> None:
    with RawConnection(hostile_stack.port, timeout=5.0) as conn:
        conn.send(b"GET /up/close-delimited HTTP/1.1\r\nHost: svc\r\n\r\n")
        resp = conn.read_final()
    assert resp.status == 200
    assert resp.body == b"part-" * 800 + b"END"
    assert_served(hostile_stack)


def test_every_client_gets_its_own_answer_while_upstreams_misbehave(hostile_stack: Stack) -> None:
    def one(i: int) -> tuple[str, bytes]:
        target = f"/up/extra-m{i}" if i % 4 == 0 else f"/mine-{i}"
        return target, get(hostile_stack.port, target).body

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(80)))
    wrong = [(t, body) for t, body in results if body != b"seen " + t.encode()]
    assert wrong == []
