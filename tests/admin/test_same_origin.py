"""Issue finding 2: writes to a loopback admin must be same-origin.

A web page, or a DNS-rebinding page, can make a local browser send
`POST /api/v1/resources` with `Origin: http://evil.example`, `Content-Type: text/plain` and
a foreign `Host`; none of that may change the configuration. The dashboard's own requests
(same Host, same Origin, application/yaml) and the CLI's (no Origin) keep working."""

from __future__ import annotations

import http.client
import json

import pytest
from tests.admin.double import FakeControlPlane

from shadowmesh.admin.guard import SameOrigin, content_type_refusal, split_host
from shadowmesh.admin.server import start_admin
from shadowmesh.admin.settings import AdminSettings

pytestmark = pytest.mark.anyio

VS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin}
spec:
  hosts: [httpbin]
  http:
  - route: [{destination: {host: httpbin}}]
"""
SERVER = ("127.0.0.1", 15000)


@pytest.mark.parametrize(
    ("authority", "parsed"),
    [
        ("127.0.0.1:15000", ("127.0.0.1", 15000)),
        ("LOCALHOST:15000", ("localhost", 15000)),
        ("[::1]:15000", ("::1", 15000)),
        ("admin.example", ("admin.example", None)),
        ("::1", None),
        ("a:b", None),
        ("", None),
        ("evil.example/x", None),
        ("user@127.0.0.1:15000", None),
        ("127.0.0.1:999999", None),
    ],
)
def test_split_host(authority: str, parsed: tuple[str, int | None] | None) -> None:
    assert split_host(authority) == parsed


@pytest.mark.parametrize(
    ("host", "origin", "fetch_site", "allowed", "ok"),
    [
        ("127.0.0.1:15000", None, None, (), True),  # the CLI, curl
        ("localhost:15000", None, None, (), True),
        ("127.0.0.1:15000", "http://127.0.0.1:15000", "same-origin", (), True),  # dashboard
        ("localhost:15000", "http://localhost:15000", None, (), True),
        ("127.0.0.1:15001", None, None, (), False),  # another port is another origin
        ("127.0.0.1", None, None, (), False),
        ("evil.example:15000", None, None, (), False),  # DNS rebinding
        ("evil.example", None, None, (), False),
        (None, None, None, (), False),
        ("127.0.0.1:15000", "http://evil.example", None, (), False),
        ("127.0.0.1:15000", "null", None, (), False),
        ("127.0.0.1:15000", "http://localhost:15000", None, (), False),  # not the same origin
        ("127.0.0.1:15000", "http://127.0.0.1:15001", None, (), False),
        ("127.0.0.1:15000", "https://127.0.0.1:15000", None, (), True),
        ("127.0.0.1:15000", None, "cross-site", (), False),
        ("127.0.0.1:15000", None, "same-site", (), False),
        ("127.0.0.1:15000", None, "none", (), True),  # typed in the address bar
        ("admin.internal", "https://admin.internal", None, ("admin.internal",), True),
        ("admin.internal:8443", None, None, ("admin.internal:8443",), True),
        ("admin.internal:9000", None, None, ("admin.internal:8443",), False),
        ("ADMIN.internal", None, None, ("admin.INTERNAL",), True),
    ],
)
def test_same_origin_rules(host: str | None, origin: str | None, fetch_site: str | None,
                           allowed: tuple[str, ...], ok: bool) -> None:
    refusal = SameOrigin.with_names(allowed).refusal(host, origin, fetch_site, SERVER)
    assert (refusal is None) is ok, refusal
    if refusal is not None:
        assert refusal.startswith("writes are refused")


def test_a_wildcard_listener_accepts_the_address_the_client_connected_to() -> None:
    rules = SameOrigin()
    assert rules.refusal("10.0.0.5:15000", None, None, ("10.0.0.5", 15000)) is None
    assert rules.refusal("localhost:15000", None, None, ("10.0.0.5", 15000)) is not None


@pytest.mark.parametrize(
    ("content_type", "ok"),
    [
        ("application/yaml", True),
        ("application/x-yaml", True),
        ("text/yaml; charset=utf-8", True),
        ("Application/JSON", True),
        ("text/plain", False),
        ("application/x-www-form-urlencoded", False),
        ("multipart/form-data; boundary=x", False),
        (None, False),
    ],
)
def test_config_media_types(content_type: str | None, ok: bool) -> None:
    assert (content_type_refusal(content_type) is None) is ok


def _raw(port: int, method: str, path: str, headers: dict[str, str],
         body: str = "") -> tuple[int, dict[str, object]]:
    """A request with exactly these headers (httpx would set Host itself)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        data = body.encode()
        conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


async def test_the_cross_site_request_of_the_issue_is_refused_and_changes_nothing() -> None:
    import asyncio

    control = FakeControlPlane()
    server = await start_admin(control, "127.0.0.1", 0, None,  # type: ignore[arg-type]
                               settings=AdminSettings(allowed_hosts=("admin.internal",)))
    port = server.port
    own = f"127.0.0.1:{port}"

    def post(headers: dict[str, str]) -> tuple[int, dict[str, object]]:
        return _raw(port, "POST", "/api/v1/resources", headers, VS)

    try:
        # the issue's request: foreign Host, cross-site Origin, text/plain
        status, body = await asyncio.to_thread(post, {
            "Host": "evil.example:15000", "Origin": "http://evil.example",
            "Content-Type": "text/plain"})
        assert status == 403 and body["error"] == "Forbidden"
        assert "Host" in str(body["message"])
        # the right Host does not help a cross-site page
        status, body = await asyncio.to_thread(post, {
            "Host": own, "Origin": "http://evil.example", "Content-Type": "text/plain"})
        assert status == 403 and "Origin" in str(body["message"])
        # nor does a form post, even with no Origin
        status, body = await asyncio.to_thread(post, {
            "Host": own, "Content-Type": "application/x-www-form-urlencoded"})
        assert status == 415 and body["error"] == "UnsupportedMediaType"
        assert "application/yaml" in str(body["message"])
        # deletes are writes too
        status, _ = await asyncio.to_thread(
            _raw, port, "DELETE", "/api/v1/resources/vs/default/httpbin",
            {"Host": "evil.example", "Origin": "http://evil.example"})
        assert status == 403
        assert control.applied_sources == []
        # what the dashboard sends, and a configured name
        status, body = await asyncio.to_thread(post, {
            "Host": own, "Origin": f"http://{own}", "Sec-Fetch-Site": "same-origin",
            "Content-Type": "application/yaml"})
        assert status == 200 and body["ok"] is True
        status, _ = await asyncio.to_thread(post, {
            "Host": "admin.internal", "Content-Type": "application/json"})
        assert status == 200
    finally:
        await server.stop()
