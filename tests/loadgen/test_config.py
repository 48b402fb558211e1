"""LoadConfig validation and fortio's value syntaxes, without I/O."""

from __future__ import annotations

from typing import Any

import pytest

from shadowmesh.loadgen.config import (
    Endpoint,
    LoadConfig,
    LoadConfigError,
    format_duration,
    parse_duration,
    parse_header,
    parse_percentiles,
    parse_url,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5s", 5.0), ("5m", 300.0), ("1m30s", 90.0), ("1h", 3600.0), ("1h2m3s", 3723.0),
        ("250ms", 0.25), ("1.5s", 1.5), (".5s", 0.5), ("100us", 1e-4), ("100µs", 1e-4),
        ("10ns", 1e-8), ("2.5", 2.5), ("3", 3.0), (" 3s ", 3.0),
    ],
)  # fmt: skip
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5x", "s", "1m-3s", "5 s", "five"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(LoadConfigError, match="Go's syntax"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (300.0, "5m0s"), (5.0, "5s"), (1.5, "1.5s"), (90.0, "1m30s"), (3723.0, "1h2m3s"),
        (0.25, "250ms"), (0.0005, "500µs"), (0.0, "0s"), (7200.0, "2h0m0s"),
    ],
)  # fmt: skip
def test_format_duration_like_go(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_parse_percentiles() -> None:
    assert parse_percentiles("50,75,90,99,99.9") == (50.0, 75.0, 90.0, 99.0, 99.9)
    assert parse_percentiles(" 50 , 99 ,") == (50.0, 99.0)
    with pytest.raises(LoadConfigError, match="not a number"):
        parse_percentiles("50,high")
    with pytest.raises(LoadConfigError, match="empty"):
        parse_percentiles(" , ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Host: httpbin:8000", ("Host", "httpbin:8000")),
        ("x-shadow:1", ("x-shadow", "1")),
        ("X-Empty:", ("X-Empty", "")),
        ("Authorization: Bearer a:b", ("Authorization", "Bearer a:b")),
    ],
)
def test_parse_header(text: str, expected: tuple[str, str]) -> None:
    assert parse_header(text) == expected


@pytest.mark.parametrize("text", ["no colon", ": value", "bad name: v", "x\r\ny: v"])
def test_parse_header_rejects(text: str) -> None:
    with pytest.raises(LoadConfigError, match="-H"):
        parse_header(text)


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("http://127.0.0.1:8000/get", Endpoint("127.0.0.1", 8000, "127.0.0.1:8000", "/get")),
        ("http://httpbin/get?a=1&b", Endpoint("httpbin", 80, "httpbin", "/get?a=1&b")),
        ("http://httpbin:80/", Endpoint("httpbin", 80, "httpbin", "/")),
        ("localhost:9080", Endpoint("localhost", 9080, "localhost:9080", "/")),
        ("http://[::1]:8080/x", Endpoint("::1", 8080, "[::1]:8080", "/x")),
        ("http://user:pw@h:81/p", Endpoint("h", 81, "h:81", "/p")),
    ],
)
def test_parse_url(url: str, endpoint: Endpoint) -> None:
    assert parse_url(url) == endpoint


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://example.com/", "only http://"),
        ("ftp://example.com/", "only http://"),
        ("http://:8080/", "no host"),
        ("http://h:99999/", "port"),
    ],
)
def test_parse_url_rejects(url: str, message: str) -> None:
    with pytest.raises(LoadConfigError, match=message):
        parse_url(url)


URL = "http://127.0.0.1:8000/get"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"qps": -1}, "-qps must be >= 0"),
        ({"qps": float("nan")}, "-qps"),
        ({"duration": 0}, "-t must be a positive duration"),
        ({"count": 0}, "-n must be at least 1"),
        ({"connections": 0}, "-c must be at least 1"),
        ({"timeout": 0}, "-timeout"),
        ({"percentiles": (50.0, 101.0)}, "percentiles must be in"),
        ({"percentiles": ()}, "percentiles must be in"),
        ({"method": "G ET"}, "-X"),
        ({"headers": (("Content-Length", "3"),)}, "framing"),
        ({"headers": (("bad name", "v"),)}, "-H"),
        ({"proxy": "https://proxy:3128"}, "-proxy"),
        ({"resolution": 0}, "-r"),
        ({"url": "https://example.com"}, "URL"),
    ],
)
def test_config_rejects(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"url": URL, **kwargs}
    with pytest.raises(LoadConfigError, match=message):
        LoadConfig(**args)


def test_count_makes_the_duration_irrelevant() -> None:
    assert LoadConfig(URL, duration=0, count=5).count == 5


@pytest.mark.parametrize(
    ("kwargs", "method"),
    [({}, "GET"), ({"payload": b"x"}, "POST"), ({"method": "put", "payload": b"x"}, "PUT"),
     ({"method": "HEAD"}, "HEAD")],
)  # fmt: skip
def test_effective_method(kwargs: dict[str, Any], method: str) -> None:
    assert LoadConfig(URL, **kwargs).effective_method == method


@pytest.mark.parametrize(
    ("kwargs", "qps", "duration"),
    [({}, "8", "5s"), ({"qps": 0}, "max", "5s"), ({"qps": 2.5, "duration": 300}, "2.5", "5m0s"),
     ({"count": 20}, "8", "exactly 20 calls")],
)  # fmt: skip
def test_fortio_requested_fields(kwargs: dict[str, Any], qps: str, duration: str) -> None:
    config = LoadConfig(URL, **kwargs)
    assert (config.requested_qps, config.requested_duration) == (qps, duration)


def test_connect_to_is_the_proxy_when_there_is_one() -> None:
    direct = LoadConfig("http://httpbin:8000/get")
    proxied = LoadConfig("http://httpbin:8000/get", proxy="http://127.0.0.1:15001")
    assert direct.connect_to == Endpoint("httpbin", 8000, "httpbin:8000", "/get")
    assert proxied.connect_to.port == 15001


def test_config_is_frozen() -> None:
    config = LoadConfig(URL)
    with pytest.raises(AttributeError):
        config.qps = 3  # type: ignore[misc]
