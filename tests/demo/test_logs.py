"""Parsing httpbin's gunicorn access log and finding a request in the proxy's log."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from shadowmesh.demo.logs import (
    parse_httpbin_line,
    parse_httpbin_log,
    proxy_lines_for,
    read_httpbin_log,
    requests_to,
)

RID = "4d320791-65b7-4f90-99cb-b9047acaa0fd"
V1 = (
    '[21/Nov/2026:19:53:05 +0000] "GET /headers HTTP/1.1" 200 Host=httpbin:8000 '
    f"x-request-id={RID}"
)
V2 = V1.replace("Host=httpbin:8000", "Host=httpbin-shadow:8000")


@pytest.mark.parametrize(
    ("raw", "method", "target", "path", "status", "host", "rid"),
    [
        (V1, "GET", "/headers", "/headers", 200, "httpbin:8000", RID),
        (V2, "GET", "/headers", "/headers", 200, "httpbin-shadow:8000", RID),
        ('[21/Nov/2026:19:53:05 +0000] "GET /status/200 HTTP/1.1" 200 Host=127.0.0.1:4000 '
         "x-request-id=-", "GET", "/status/200", "/status/200", 200, "127.0.0.1:4000", None),
        ('[21/Nov/2026:19:53:05 +0000] "POST /anything?a=1&b=2 HTTP/1.1" 503 Host=h:1 '
         "x-request-id=abc\n", "POST", "/anything?a=1&b=2", "/anything", 503, "h:1", "abc"),
    ],
)
def test_parses_gunicorn_lines(
    raw: str, method: str, target: str, path: str, status: int, host: str, rid: str | None
) -> None:
    line = parse_httpbin_line(raw)
    assert line is not None
    assert (line.method, line.target, line.path, line.status, line.host, line.request_id) == (
        method, target, path, status, host, rid,
    )
    assert line.time == datetime(2026, 11, 21, 19, 53, 5, tzinfo=UTC)
    assert line.raw == raw.rstrip("\n")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "[2026-11-21 19:53:05] gunicorn started",
        '127.0.0.1 - - [21/Nov/2026:19:53:05 +0000] "GET / HTTP/1.1" 200 12 "-" "curl"',
        '[21/Nov/2026:19:53:05 +0000] "GET / HTTP/1.1" 200 Host=a',  # no request id field
    ],
)
def test_ignores_other_lines(raw: str) -> None:
    assert parse_httpbin_line(raw) is None


def test_unreadable_time_keeps_the_line() -> None:
    line = parse_httpbin_line(V1.replace("21/Nov/2026:19:53:05 +0000", "yesterday"))
    assert line is not None and line.time is None and line.request_id == RID


def test_log_counting_keeps_only_the_load_path(tmp_path: Path) -> None:
    probe = V1.replace("/headers", "/status/200")
    text = "\n".join([probe, V1, "garbage", V1.replace(RID, "other"), ""])
    lines = parse_httpbin_log(text)
    assert len(lines) == 3
    assert [x.request_id for x in requests_to(lines, "/headers")] == [RID, "other"]
    log = tmp_path / "v1.log"
    log.write_text(text)
    assert read_httpbin_log(log) == lines
    assert read_httpbin_log(tmp_path / "missing.log") == []


def test_proxy_lines_for_one_request_id() -> None:
    primary = (f'[2026-11-21T19:53:05.215Z] "GET /headers HTTP/1.1" 200 - via_upstream - "-" 0 '
               f'127 1 1 "-" "load" "{RID}" "httpbin:8000" "127.0.0.1:1" outbound|8000|v1|x')
    copy = primary.replace('"httpbin:8000"', '"httpbin-shadow:8000"').replace("|v1|", "|v2|")
    other = primary.replace(RID, RID[:-1] + "0")
    text = "\n".join([other, primary, copy])
    assert proxy_lines_for(text, RID) == [primary, copy]
    assert proxy_lines_for(text, RID[:8]) == []  # only the whole quoted id matches
