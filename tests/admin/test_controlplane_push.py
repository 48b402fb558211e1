"""Issue finding 5: a configuration is in force only once every data plane has taken it.

The control plane used to record a new set and then push it; a data plane that failed or
did not answer kept the old set while the others served the new one. Now a failure or a
silence on any link restores the previous set on all of them and rejects the change."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence
from pathlib import Path

import pytest

from shadowmesh.config import Resource
from shadowmesh.controlplane import ControlPlane
from shadowmesh.routing.compile import CompileOptions
from shadowmesh.routing.table import RoutingTable
from shadowmesh.telemetry.snapshot import TelemetrySnapshot

MESH = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc}
spec:
  hosts: [svc]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: 8080}}]
"""


def vs(name: str) -> str:
    return f"""\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}}}
spec:
  hosts: [{name}.example]
  http:
  - route: [{{destination: {{host: svc}}}}]
"""


class FakeLink:
    """A data plane that answers pushes as told: "ok", "fail" or "silent"."""

    def __init__(self, answer: str = "ok") -> None:
        self.answer = answer
        self.installed: list[set[str]] = []  # resource names of each set it took

    def push(self, resources: Sequence[Resource],
             table: RoutingTable) -> concurrent.futures.Future[None]:
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        if self.answer == "ok":
            self.installed.append({r.metadata.name for r in resources})
            future.set_result(None)
        elif self.answer == "fail":
            future.set_exception(RuntimeError("compile failed in the worker"))
        return future  # "silent": never completes

    def request_snapshot(self) -> concurrent.futures.Future[TelemetrySnapshot]:
        future: concurrent.futures.Future[TelemetrySnapshot] = concurrent.futures.Future()
        future.set_result(TelemetrySnapshot(taken_at=1.0))
        return future


@pytest.fixture
def control(tmp_path: Path) -> ControlPlane:
    (tmp_path / "mesh.yaml").write_text(MESH + "---\n" + vs("a"))
    plane = ControlPlane([str(tmp_path)], CompileOptions())
    plane.push_timeout = 0.3
    return plane


def names(control: ControlPlane) -> set[str]:
    return {r.metadata.name for r in control.resources()}


def test_a_set_every_data_plane_took_is_in_force(control: ControlPlane) -> None:
    links = [FakeLink(), FakeLink()]
    control.links.extend(links)
    assert control.load_files().ok
    result = control.apply_text(vs("b"), "<test>")
    assert result.ok and result.changed == ["virtualservice.networking.istio.io/b created"]
    assert names(control) == {"svc", "a", "b"}
    assert all(link.installed[-1] == {"svc", "a", "b"} for link in links)
    assert control.reload_counts() == {"ok": 2, "rejected": 0}


@pytest.mark.parametrize("answer", ["fail", "silent"])
def test_a_data_plane_that_fails_or_is_silent_rolls_back_everyone(control: ControlPlane,
                                                                   answer: str) -> None:
    good, bad = FakeLink(), FakeLink()
    control.links.extend([good, bad])
    assert control.load_files().ok
    table = control.table
    bad.answer = answer
    result = control.apply_text(vs("b"), "<test>")
    assert not result.ok and result.changed == []
    message = result.issues[-1].message
    assert "could not be installed on every data plane" in message
    assert "restored" in message
    # the record did not move, and the data plane that took the new set got the old back
    assert names(control) == {"svc", "a"}
    assert control.table is table
    assert good.installed[-2:] == [{"svc", "a", "b"}, {"svc", "a"}]
    assert control.reload_counts()["rejected"] == 1
    # and a delete is all-or-nothing the same way
    assert not control.delete("VirtualService", "default", "a").ok
    assert names(control) == {"svc", "a"}
    bad.answer = "ok"
    assert control.delete("VirtualService", "default", "a").ok
    assert names(control) == {"svc"}


def test_a_failing_file_reload_keeps_the_config_in_force(control: ControlPlane,
                                                         tmp_path: Path) -> None:
    link = FakeLink()
    control.links.append(link)
    assert control.load_files().ok
    (tmp_path / "mesh.yaml").write_text(MESH + "---\n" + vs("a") + "---\n" + vs("c"))
    link.answer = "fail"
    assert not control.load_files().ok
    assert names(control) == {"svc", "a"}
    link.answer = "ok"
    assert control.load_files().ok
    assert names(control) == {"svc", "a", "c"}
