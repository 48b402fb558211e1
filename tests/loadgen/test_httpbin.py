"""A realistic run against httpbin (the tutorials' backend) under gunicorn."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.backends import HttpbinServer

from shadowmesh.loadgen import LoadConfig, run_load_sync


@pytest.fixture(scope="module")
def httpbin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpbinServer]:
    workdir: Path = tmp_path_factory.mktemp("loadgen-httpbin")
    with HttpbinServer("httpbin", workdir) as server:
        yield server


def test_tutorial_style_run(httpbin: HttpbinServer) -> None:
    config = LoadConfig(
        f"http://127.0.0.1:{httpbin.port}/headers",
        qps=20,
        duration=2.0,
        connections=2,
        headers=(("Host", "httpbin:8000"),),
    )
    result = run_load_sync(config)
    n = result.count  # 40 planned; a stalled machine may leave the last ones unsent
    assert n + result.pacing.unsent == 40 and n >= 36
    assert result.status_codes == {200: n} and result.errors == {}
    assert result.sockets == 2  # gunicorn's threaded worker keeps connections alive
    assert 14 <= result.actual_qps <= 21
    ps = [v for _, v in result.durations.percentiles]
    assert ps == sorted(ps) and 0 < ps[0] < 1.0
    assert result.bytes_received > n * 200  # /headers echoes the request headers as JSON
    lines = httpbin.wait_lines(n)
    assert len(lines) == n
    assert {(line.request, line.status, line.host) for line in lines} == {
        ("GET /headers HTTP/1.1", 200, "httpbin:8000")
    }


def test_status_endpoint_codes(httpbin: HttpbinServer) -> None:
    config = LoadConfig(f"http://127.0.0.1:{httpbin.port}/status/418", qps=0, count=10)
    result = run_load_sync(config)
    assert result.ret_codes() == {418: 10}
