import httpx
import pytest
from tests.admin.double import FakeControlPlane

from shadowmesh.admin.app import build_app
from shadowmesh.admin.guard import WriteGuard, is_loopback
from shadowmesh.admin.settings import AdminSettings


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
        ("admin.example", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("guard", "authorization", "allowed"),
    [
        (WriteGuard(loopback=True), None, True),
        (WriteGuard(loopback=True), "Bearer anything", True),
        (WriteGuard(loopback=False), None, False),
        (WriteGuard(loopback=False), "Bearer anything", False),
        (WriteGuard(loopback=True, token="t0k"), None, False),  # a token is always required
        (WriteGuard(loopback=True, token="t0k"), "Bearer t0k", True),
        (WriteGuard(loopback=True, token="t0k"), "bearer t0k", True),
        (WriteGuard(loopback=True, token="t0k"), "Bearer t0kk", False),
        (WriteGuard(loopback=True, token="t0k"), "Basic t0k", False),
        (WriteGuard(loopback=False, token="t0k"), "Bearer t0k", True),
        (WriteGuard(loopback=False, token="t0k"), "Bearer ", False),
    ],
)
def test_write_guard(guard: WriteGuard, authorization: str | None, allowed: bool) -> None:
    assert (guard.refusal(authorization) is None) is allowed


def test_refusals_say_what_to_do() -> None:
    open_listener = WriteGuard(loopback=False).refusal(None)
    assert open_listener is not None and "--admin-token" in open_listener
    assert "127.0.0.1" in open_listener
    missing = WriteGuard(loopback=True, token="x").refusal(None)
    assert missing is not None and "Authorization: Bearer" in missing


def test_for_listener_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHADOWMESH_ADMIN_TOKEN", "env")
    assert WriteGuard.for_listener("0.0.0.0", None) == WriteGuard(False, "env")
    assert WriteGuard.for_listener("127.0.0.1", "flag") == WriteGuard(True, "flag")
    monkeypatch.setenv("SHADOWMESH_ADMIN_TOKEN", "")
    assert WriteGuard.for_listener("127.0.0.1", None) == WriteGuard(True, None)


@pytest.mark.anyio
async def test_a_non_loopback_listener_without_token_refuses_writes_but_serves_reads() -> None:
    control = FakeControlPlane()
    app = build_app(control, WriteGuard(loopback=False),  # type: ignore[arg-type]
                    AdminSettings(allowed_hosts=("admin",)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as client:
        answer = await client.post("/api/v1/resources", content="kind: VirtualService",
                                   headers={"Content-Type": "application/yaml"})
        assert answer.status_code == 403
        assert answer.json()["error"] == "Forbidden"
        assert "not loopback" in answer.json()["message"]
        deleted = await client.delete("/api/v1/resources/vs/default/x")
        assert deleted.status_code == 403
        assert (await client.get("/api/v1/resources")).status_code == 200
        assert (await client.get("/healthz")).text == "ok"
    assert control.applied_sources == []
