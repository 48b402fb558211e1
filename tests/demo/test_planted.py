"""httpbin v2's planted change, in front of the real httpbin app (no server needed: WSGI)."""

from __future__ import annotations

import json
import time

import pytest
from werkzeug.test import Client

from shadowmesh.demo.planted import ADDED_DELAY_MS, PlantedChange, planted_httpbin, rename_field

httpbin = pytest.importorskip("httpbin", reason="needs PyPI's httpbin (the demo's backend)")


@pytest.fixture(scope="module")
def clients() -> tuple[Client, Client]:
    return Client(httpbin.app), Client(planted_httpbin())


def test_json_answers_with_the_field_renamed(clients: tuple[Client, Client]) -> None:
    v1, v2 = (c.get("/json") for c in clients)
    assert v1.status_code == v2.status_code == 200
    before, after = v1.get_json()["slideshow"], v2.get_json()["slideshow"]
    assert "author" in before and "owner" not in before
    assert after["owner"] == before["author"] and "author" not in after
    # the rest is httpbin's own, and the length is the new body's
    assert {k: v for k, v in after.items() if k != "owner"} == {
        k: v for k, v in before.items() if k != "author"
    }
    assert int(v2.headers["Content-Length"]) == len(v2.get_data())
    assert v2.headers["Content-Type"] == v1.headers["Content-Type"]


def test_get_is_slower_and_the_rest_untouched(clients: tuple[Client, Client]) -> None:
    v1, v2 = clients
    started = time.monotonic()
    assert v2.get("/get").status_code == 200
    assert time.monotonic() - started >= ADDED_DELAY_MS / 1000
    # /uuid is httpbin's: a fresh value each time, on both versions
    uuids = {c.get("/uuid").get_json()["uuid"] for c in (v1, v2, v2)}
    assert len(uuids) == 3
    assert v2.get("/headers").get_json()["headers"]["Host"] == "localhost"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(b"not json", b"not json", id="not JSON"),
        pytest.param(b'{"slideshow": 1}', b'{"slideshow": 1}', id="no slideshow object"),
        pytest.param(b"[1, 2]", b"[1, 2]", id="an array"),
        pytest.param(
            b'{"slideshow": {"title": "t"}}', b'{"slideshow": {"title": "t"}}', id="no author"
        ),
    ],
)
def test_other_bodies_pass_unchanged(body: bytes, expected: bytes) -> None:
    assert rename_field(body) == expected


def test_a_renamed_body_keeps_the_key_order() -> None:
    out = json.loads(rename_field(b'{"slideshow": {"a": 1, "author": "x", "z": 2}}'))
    assert list(out["slideshow"]) == ["a", "owner", "z"]


def test_the_legacy_write_callable_is_kept() -> None:
    def app(environ: dict[str, object], start_response: object) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "application/json")])  # type: ignore[operator]
        write(b'{"slideshow": {"author": ')
        return [b'"x"}}']

    answer = Client(PlantedChange(app)).get("/json")  # type: ignore[arg-type]
    assert answer.get_json() == {"slideshow": {"owner": "x"}}
