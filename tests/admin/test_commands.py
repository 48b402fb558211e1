"""The kubectl-style commands against a real admin server (in a thread with its own loop)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.admin.double import FakeControlPlane
from tests.admin.test_app import DR, MIRROR_101, VS
from tests.telemetry.records import primary, shadow

from shadowmesh.admin import commands
from shadowmesh.admin.server import start_admin


class AdminThread:
    def __init__(self, control: FakeControlPlane, token: str | None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        future = asyncio.run_coroutine_threadsafe(
            start_admin(control, "127.0.0.1", 0, token),  # type: ignore[arg-type]
            self.loop,
        )
        self.server = future.result(timeout=20)
        self.url = self.server.url

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(timeout=20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def control() -> FakeControlPlane:
    return FakeControlPlane()


@pytest.fixture
def admin_url(control: FakeControlPlane, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.delenv("SHADOWMESH_ADMIN_TOKEN", raising=False)
    server = AdminThread(control, None)
    monkeypatch.setenv("SHADOWMESH_ADMIN", server.url)
    try:
        yield server.url
    finally:
        server.stop()


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(getattr(commands, args[0]), list(args[1:]))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_apply_a_file_and_a_directory(admin_url: str, tmp_path: Path) -> None:
    (tmp_path / "vs.yaml").write_text(VS)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "dr.yml").write_text(DR)
    (tmp_path / "conf" / "README.md").write_text("not config")
    code, out, _ = run("apply", "-f", str(tmp_path / "vs.yaml"), "-f", str(tmp_path / "conf"))
    assert code == 0
    assert out.splitlines() == [
        "virtualservice.networking.istio.io/httpbin created",
        "destinationrule.networking.istio.io/httpbin created",
    ]
    code, out, _ = run("apply", "-f", str(tmp_path / "vs.yaml"))
    assert out == "virtualservice.networking.istio.io/httpbin unchanged\n"


def test_a_rejected_apply_prints_istios_messages_and_exits_1(
    admin_url: str, control: FakeControlPlane, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(MIRROR_101)
    code, out, err = run("apply", "-f", str(bad))
    assert code == 1
    assert out == ""
    assert f'error when applying "{bad}": configuration is invalid' in err
    assert "mirror_percentage must have a max value of 100 (it has 101.000000)" in err
    assert "spec.http[0].mirrorPercentage.value" in err
    assert control.store == {}


def test_apply_warnings_go_to_stderr(admin_url: str, tmp_path: Path) -> None:
    (tmp_path / "vs.yaml").write_text(VS + "    mirrorPercent: 50\n")
    code, out, err = run("apply", "-f", str(tmp_path / "vs.yaml"))
    assert code == 0 and "created" in out
    assert err.startswith("Warning: ") and "deprecated" in err


def test_apply_a_missing_path(admin_url: str) -> None:
    code, _, err = run("apply", "-f", "/nonexistent/x.yaml")
    assert code == 1 and 'the path "/nonexistent/x.yaml" does not exist' in err


def test_get_tables_and_outputs(admin_url: str, control: FakeControlPlane) -> None:
    control.apply_text(VS + "---\n" + DR, "x")
    code, out, _ = run("get", "vs")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "GATEWAYS", "HOSTS", "AGE"]
    assert lines[1].split()[:2] == ["httpbin", '["httpbin"]']
    def without_age(text: str) -> list[list[str]]:
        return [line.split()[:-1] for line in text.splitlines()]  # AGE may tick meanwhile

    for alias in ("virtualservice", "virtualservices", "VirtualService"):
        assert without_age(run("get", alias)[1]) == without_age(out)
    code, out, _ = run("get", "dr", "httpbin", "-o", "yaml")
    assert out.startswith("apiVersion: networking.istio.io/v1\nkind: DestinationRule\n")
    assert "  host: httpbin\n" in out
    code, out, _ = run("get", "vs", "-o", "json")
    assert '"kind": "List"' in out and '"httpbin"' in out
    code, out, _ = run("get", "vs", "-o", "wide")
    assert out.splitlines()[0].split()[-1] == "MIRRORS"


def test_get_nothing_and_not_found(admin_url: str) -> None:
    code, out, err = run("get", "gw")
    assert code == 0 and out == "" and err == "No resources found in default namespace.\n"
    code, out, err = run("get", "vs", "nope", "-n", "prod")
    assert code == 1
    assert err == (
        'Error from server (NotFound): virtualservices.networking.istio.io "nope" not found\n'
    )
    code, _, err = run("get", "pods")
    assert code == 1 and 'doesn\'t have a resource type "pods"' in err


def test_delete(admin_url: str, control: FakeControlPlane) -> None:
    control.apply_text(VS, "x")
    code, out, _ = run("delete", "vs", "httpbin")
    assert code == 0 and out == 'virtualservice.networking.istio.io "httpbin" deleted\n'
    assert control.store == {}
    code, _, err = run("delete", "vs", "httpbin")
    assert code == 1 and "(NotFound)" in err


def test_writes_with_a_token(control: FakeControlPlane, tmp_path: Path) -> None:
    server = AdminThread(control, "s3cret")
    try:
        (tmp_path / "vs.yaml").write_text(VS)
        code, _, err = run("apply", "-f", str(tmp_path / "vs.yaml"), "--admin", server.url)
        assert code == 1 and "Authorization: Bearer" in err
        code, out, _ = run(
            "apply", "-f", str(tmp_path / "vs.yaml"), "--admin", server.url, "--token", "s3cret"
        )
        assert code == 0 and "created" in out
        code, _, err = run("delete", "vs", "httpbin", "--admin", server.url)
        assert code == 1 and "(Forbidden)" in err
    finally:
        server.stop()


def test_an_unreachable_admin_says_what_to_do(unused_port: int) -> None:
    code, _, err = run("get", "vs", "--admin", f"http://127.0.0.1:{unused_port}")
    assert code == 1
    assert "cannot reach the admin API" in err and "--admin" in err


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_logs_tail_since_and_follow(
    admin_url: str, control: FakeControlPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(3):
        control.telemetry.on_request(primary(request_id=f"r{i}"))
    control.telemetry.on_request(shadow())
    code, out, _ = run("logs", "httpbin-v2")
    # the double's two workers each hold the line
    assert code == 0 and len(out.splitlines()) == 2
    assert '"httpbin-shadow:8000"' in out
    code, out, _ = run("logs", "httpbin-v1", "--tail", "1", "--since", "1m")
    assert len(out.splitlines()) == 1 and '"r2"' in out

    polls = iter(range(3))

    def sleep(_: float) -> None:
        # each poll: a new request arrives; after three, the user presses Ctrl-C
        i = next(polls, None)
        if i is None:
            raise KeyboardInterrupt
        control.telemetry.on_request(primary(request_id=f"new{i}"))

    monkeypatch.setattr(commands, "_sleep", sleep)
    code, out, _ = run("logs", "httpbin-v1", "-f", "--tail", "0")
    assert code == 0
    ids = [line.split('"')[9] for line in out.splitlines()]
    assert ids == ["new0", "new0", "new1", "new1", "new2", "new2"]
