"""The frames between a serving process and its comparer: what goes in comes out equal."""

from __future__ import annotations

from typing import Any

import pytest
from tests.compare.outcomes import captured, copy, primary

from shadowmesh.compare import wire
from shadowmesh.mirror.outcomes import FAILED, Captured, CopyOutcome, PrimaryOutcome

# every attribute of the outcome classes (compiled classes have no `__slots__` to list them)
FIELDS = {
    PrimaryOutcome: ("authority", "cid", "copies", "duration_ms", "flags", "kind", "method",
                     "request_id", "response", "service", "start_time", "subset", "target",
                     "upstream_host"),
    CopyOutcome: ("cid", "duration_ms", "kind", "reason", "response", "role", "service",
                  "subset", "upstream_host"),
}
CAPTURED_FIELDS = ("body", "headers", "raw_head", "size", "status", "truncated")
# what must come back equal: fields given one by one arrive written as a head
COMPARED_FIELDS = ("body", "headers", "size", "status", "truncated")


def fields(outcome: Any) -> dict[str, Any]:
    out = {name: getattr(outcome, name) for name in FIELDS[type(outcome)]}
    response = out.pop("response")
    if response is not None:
        out["response"] = {name: getattr(response, name) for name in COMPARED_FIELDS}
    return out


def test_the_field_lists_are_complete() -> None:
    for cls, names in FIELDS.items():
        slots = getattr(cls, "__slots__", None)  # interpreted: the list to check against
        if slots is not None:
            assert sorted(names) == sorted(slots)
    slots = getattr(Captured, "__slots__", None)
    if slots is not None:
        assert sorted(CAPTURED_FIELDS) == sorted(s.lstrip("_") for s in slots)


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


def test_fields_go_as_head_lines_that_match_a_received_head() -> None:
    fields_given = Captured(200, [(b"Content-Type", b"application/json"), (b"X-A", b"1")],
                            b"{}", 2, False)
    received = Captured(200, [], b"{}", 2, False,
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-A: 1\r\n\r\n")
    given_back = roundtrip(copy(1, fields_given)).response
    received_back = roundtrip(primary(received)).response
    assert given_back.raw_head == b"\r\nContent-Type: application/json\r\nX-A: 1\r\n\r\n"
    assert given_back.headers == received_back.headers
    # the lines after the first are byte-equal: the comparer sees the same head unsplit
    assert given_back.raw_head.split(b"\n", 1)[1] == received_back.raw_head.split(b"\n", 1)[1]


@pytest.mark.parametrize("value", [b"a\r\nX-Injected: 1", b"a\nb", b"\n"])
def test_fields_that_would_not_split_back_go_one_by_one(value: bytes) -> None:
    answer = Captured(200, [(b"X-Odd", value), (b"X-B", b"2")], b"", 0, False)
    back = roundtrip(copy(1, answer)).response
    assert back.headers == [(b"X-Odd", value), (b"X-B", b"2")]


def test_read_decodes_runs_of_outcomes_in_stream_order_across_cut_reads() -> None:
    p1, p2 = primary(captured({"v": 1})), primary(captured({"v": 2}))
    stream = (wire.encode(p1) + wire.encode(copy(p1.cid, None)) + wire.backlog(3)
              + wire.encode(p2))
    got: list[Any] = []
    pending = b""
    for i in range(0, len(stream), 11):  # 11 bytes at a time
        data = pending + stream[i:i + 11]
        items, used = wire.read(data)
        pending = data[used:]
        got += items
    assert not pending
    merged: list[Any] = []  # reads cut runs in two: join neighbouring runs back
    for item in got:
        if isinstance(item, list) and merged and isinstance(merged[-1], list):
            merged[-1] = merged[-1] + item
        else:
            merged.append(item)
    assert [type(x) for x in merged] == [list, tuple, list]
    assert [o.cid for o in merged[0]] == [p1.cid, p1.cid]
    assert merged[1][0] == wire.BACKLOG and wire.decode_count(merged[1][1]) == 3
    assert fields(merged[2][0]) == fields(p2)


def test_read_refuses_a_frame_whose_fields_overrun_it() -> None:
    frame = bytearray(wire.encode(primary(captured({"v": 1}))))
    frame[5 + 8 + 8 + 8 + 4 + 2] = 0xFF  # the request id's length, now past the frame
    with pytest.raises(wire.FrameError):
        wire.read(bytes(frame))


def test_primaries_counts_the_pairs_a_batch_of_frames_holds() -> None:
    p1, p2 = primary(captured({"v": 1})), primary(None)
    frames = [wire.encode(p1), wire.encode(copy(p1.cid, None)), wire.encode(p2)]
    assert wire.primaries(frames) == 2
    assert wire.primaries([]) == 0
