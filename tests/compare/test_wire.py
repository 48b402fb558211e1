"""The frames between a serving process and its comparer: what goes in comes out equal."""

from __future__ import annotations

from typing import Any

import pytest
from tests.compare.outcomes import captured, copy, primary

from shadowmesh.compare import wire
from shadowmesh.mirror.outcomes import FAILED, Captured, PrimaryOutcome


def fields(outcome: Any) -> dict[str, Any]:
    out = {name: getattr(outcome, name) for name in type(outcome).__slots__}
    response = out.pop("response")
    if response is not None:
        out["response"] = {name: getattr(response, name.lstrip("_"))
                           for name in type(response).__slots__}
    return out


def roundtrip(outcome: Any) -> Any:
    buffer = bytearray(wire.encode(outcome))
    ((kind, payload),) = wire.split(buffer)
    assert not buffer
    return wire.decode_outcome(kind, payload)


def test_a_primary_comes_back_equal() -> None:
    answer = captured({"id": 1, "name": "ä"}, headers=[(b"X-Empty", b""), (b"etag", b"\xff1")],
                      truncated=True, size=10_000)
    p = primary(answer, copies=3, target="/users/1?q=\udcff", duration_ms=2.5)
    p.subset = None
    p.upstream_host = "127.0.0.1:8001"
    back = roundtrip(p)
    assert isinstance(back, PrimaryOutcome)
    assert fields(back) == fields(p)


def test_copies_with_and_without_an_answer_come_back_equal() -> None:
    answered = copy(7, captured(b"", status=503, content_type=b""))
    failed = copy(8, None, kind=FAILED, reason="UF")
    for outcome in (answered, failed):
        assert fields(roundtrip(outcome)) == fields(outcome)
    assert roundtrip(answered).response.headers == []


def test_frames_split_across_reads_are_kept_until_complete() -> None:
    p = primary(captured({"v": 1}))
    data = wire.encode(p) + wire.backlog(12) + wire.encode(copy(p.cid, None))
    buffer = bytearray()
    got: list[tuple[int, bytes]] = []
    for i in range(0, len(data), 7):  # 7 bytes at a time
        buffer += data[i:i + 7]
        got += wire.split(buffer)
    assert not buffer
    assert [kind for kind, _ in got] == [wire.PRIMARY, wire.BACKLOG, wire.COPY]
    assert wire.decode_count(got[1][1]) == 12


def test_a_truncated_frame_is_refused() -> None:
    frame = wire.encode(primary(captured({"v": 1})))
    with pytest.raises(wire.FrameError):
        wire.decode_outcome(wire.PRIMARY, frame[5:-3])
    with pytest.raises(wire.FrameError):
        wire.decode_outcome(wire.BACKLOG, frame[5:])


def test_a_raw_head_goes_as_received_and_is_split_in_the_comparer() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-A:  1 \r\n\r\n"
    answer = Captured(200, [], b"{}", 2, False, head)
    back = roundtrip(primary(answer))
    assert back.response.raw_head == head
    assert back.response.headers == [(b"Content-Type", b"application/json"), (b"X-A", b"1")]
