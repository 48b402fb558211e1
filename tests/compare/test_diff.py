"""Pure diff logic on crafted pairs: JSON fields, headers, bodies by type, bounded work."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import brotli
import orjson
import pytest
from tests.compare.outcomes import captured, spec

from shadowmesh.compare import bodies
from shadowmesh.compare.diff import compare, prepare
from shadowmesh.compare.jsondiff import diff_json


@pytest.mark.parametrize(("a", "b", "expected"), [
    ({"x": 1}, {"x": 1}, []),
    ({"x": 1}, {"x": 1.0}, []),  # one JSON number, however written
    ({"x": 1}, {"x": 2}, [("$.x", "$.x", "changed", "1", "2")]),
    ({"x": 1}, {}, [("$.x", "$.x", "removed", "1", "")]),
    ({}, {"y": "a"}, [("$.y", "$.y", "added", "", '"a"')]),
    ({"x": 1}, {"x": "1"}, [("$.x", "$.x", "type_changed", "1", '"1"')]),
    ({"x": None}, {"x": False}, [("$.x", "$.x", "type_changed", "null", "false")]),
    ({"u": {"n": "Ann"}}, {"u": {"n": "ann"}}, [("$.u.n", "$.u.n", "changed", '"Ann"', '"ann"')]),
    ({"a": [1, 2]}, {"a": [1, 3]}, [("$.a[1]", "$.a[*]", "changed", "2", "3")]),
    ({"a": [1]}, {"a": [1, 2]}, [("$.a[1]", "$.a[*]", "added", "", "2")]),
    ({"a": [{"k": 1}, {"k": 2}]}, {"a": [{"k": 1}, {"k": 5}]},
     [("$.a[1].k", "$.a[*].k", "changed", "2", "5")]),
    ({"a b": 1}, {"a b": 2}, [('$["a b"]', '$["a b"]', "changed", "1", "2")]),
    ([1, 2], [2, 1],
     [("$[0]", "$[*]", "changed", "1", "2"), ("$[1]", "$[*]", "changed", "2", "1")]),
])
def test_json_field_differences(a: Any, b: Any, expected: list[tuple[str, ...]]) -> None:
    found, capped = diff_json(a, b)
    assert [tuple(d) for d in found] == expected
    assert not capped


def test_array_order_ignored_on_request() -> None:
    assert diff_json({"a": [1, {"k": 2}]}, {"a": [{"k": 2}, 1]}, ignore_array_order=True)[0] == []
    found, _ = diff_json({"a": [1, 2]}, {"a": [3, 1]}, ignore_array_order=True)
    assert {d.field for d in found} == {"$.a[*]"}


def test_work_is_bounded_and_says_so() -> None:
    a = {f"k{i}": i for i in range(100)}
    b = {f"k{i}": i + 1 for i in range(100)}
    found, capped = diff_json(a, b, max_nodes=10)
    assert capped and len(found) < 100
    deep: Any = 1
    for _ in range(50):
        deep = {"d": deep}
    other: Any = 2
    for _ in range(50):
        other = {"d": other}
    found, capped = diff_json(deep, other, max_depth=5)
    assert capped and [d.path for d in found] == ["$" + ".d" * 5]


def pair(a: Any, b: Any, extra: str = "", **kw: Any) -> list[tuple[str, str, str]]:
    s = spec(extra)
    result = compare(prepare(a, s), prepare(b, s, kw.get("echo")), s)
    return [(d.path, d.kind, d.candidate) for d in result.differences]


def test_status_and_headers_with_default_and_configured_ignores() -> None:
    a = captured({"x": 1}, headers=[(b"Date", b"Mon"), (b"X-Request-Id", b"1"), (b"Server", b"a"),
                                    (b"Cache-Control", b"max-age=60"), (b"X-Trace", b"t1")])
    b = captured({"x": 1}, status=500, headers=[(b"date", b"Tue"), (b"x-request-id", b"2"),
                                                (b"server", b"b"), (b"cache-control", b"no-store"),
                                                (b"x-trace", b"t2"), (b"x-new", b"1")])
    assert pair(a, b, "  ignore: {headers: [x-trace]}\n") == [
        ("status", "status", "500"),
        ("header:cache-control", "header", "no-store"),
        ("header:x-new", "header", "1"),
    ]


def test_ignored_fields_by_jsonpath() -> None:
    a = captured({"origin": "1.1.1.1", "headers": {"X-Amzn-Trace-Id": "a", "Host": "h"}, "n": 1})
    b = captured({"origin": "2.2.2.2", "headers": {"X-Amzn-Trace-Id": "b", "Host": "h"}, "n": 2})
    extra = '  ignore: {fields: ["$.origin", "$.headers.X-Amzn-Trace-Id"]}\n'
    assert pair(a, b, extra) == [("$.n", "changed", "2")]


def test_shadow_host_echo_is_not_a_difference() -> None:
    a = captured({"headers": {"Host": "httpbin"}})
    b = captured({"headers": {"Host": "httpbin-shadow"}})
    assert pair(a, b, echo=(b"httpbin-shadow", b"httpbin")) == []
    assert pair(a, b) == [("$.headers.Host", "changed", '"httpbin-shadow"')]


@pytest.mark.parametrize("encoding", [b"gzip", b"deflate", b"br", b"gzip, br"])
def test_compressed_bodies_are_decoded_first(encoding: bytes) -> None:
    def encode(data: bytes) -> bytes:
        for coding in encoding.split(b", "):
            data = {b"gzip": gzip.compress, b"deflate": zlib.compress,
                    b"br": brotli.compress}[coding](data)
        return data

    a = captured(encode(orjson.dumps({"v": 1})), headers=[(b"content-encoding", encoding)])
    b = captured(encode(orjson.dumps({"v": 2})), headers=[(b"content-encoding", encoding)])
    assert pair(a, b) == [("$.v", "changed", "2")]


def test_decompression_is_capped() -> None:
    bomb = gzip.compress(b"0" * (bodies.DECODED_LIMIT + 10))
    out, cut = bodies.decode_content(bomb, b"gzip")
    assert cut and len(out) == bodies.DECODED_LIMIT


def test_text_bodies_by_lines_binary_by_length_and_hash() -> None:
    a = captured(b"one\ntwo\nthree\n", content_type=b"text/plain")
    b = captured(b"one\n2\nthree\nfour\n", content_type=b"text/plain")
    assert pair(a, b) == [("body", "changed", "+2 -1 lines, first at line 2")]
    a = captured(b"\x00\x01\x02", content_type=b"application/octet-stream")
    b = captured(b"\x00\x01\x03", content_type=b"application/octet-stream")
    ((path, kind, shown),) = pair(a, b)
    assert (path, kind) == ("body", "changed") and shown.startswith("3 bytes, hash ")


def test_body_claiming_json_that_is_not() -> None:
    s = spec()
    a, b = captured(b"{not json"), captured(b"{also not")
    result = compare(prepare(a, s), prepare(b, s), s)
    assert result.decode_error
    assert [d.path for d in result.differences] == ["body"]


def test_truncated_bodies_compared_by_size_and_hash() -> None:
    s = spec()
    a = captured(b'{"a": 1, "b"', truncated=True, size=5000)
    b = captured(b'{"a": 1, "b"', truncated=True, size=5001)
    result = compare(prepare(a, s), prepare(b, s), s)
    assert result.truncated and [d.path for d in result.differences] == ["body"]
    same = compare(prepare(a, s), prepare(a, s), s)
    assert same.truncated and same.differences == []
