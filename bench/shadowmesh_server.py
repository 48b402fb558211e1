"""shadowmesh as the proxy under test: its Istio YAML, and `shadowmesh run` as a process.

The YAML is the httpbin v1/v2 layout of Istio's mirroring task: v1 is the primary backend,
v2 the shadow (fast nginx, the slow server, or a port nobody listens on). The client reaches
the service by sending `Host: httpbin:8000` to the listener.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.processes import Child, Supervisor
from bench.tools import pin_tree
from bench.waiting import wait_for_lines, wait_for_port
from shadowmesh.demo.manifests import tutorial_yaml

SERVICE_HOST = "httpbin:8000"
LISTENING = re.compile(r"shadowmesh: listening on http://127\.0\.0\.1:(\d+)")
ADMIN = re.compile(r"shadowmesh: admin on http://127\.0\.0\.1:(\d+)")


def mesh_yaml(primary_port: int, shadow_port: int, mirror: bool) -> str:
    """The Istio mirroring task's resources: httpbin v1 (primary) and v2 (shadow)."""
    return tutorial_yaml({"v1": primary_port, "v2": shadow_port}, mirror)


def run_available(timeout_s: float = 30.0) -> str | None:
    """None if `shadowmesh run` can be started, else why not (for a "skipped" row)."""
    try:
        probe = subprocess.run(
            [sys.executable, "-m", "shadowmesh", "run", "--help"],
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "`shadowmesh run --help` did not answer"
    if probe.returncode != 0:
        lines = probe.stderr.decode(errors="replace").strip().splitlines()
        why = f" ({lines[-1].strip()})" if lines else ""
        return f"`shadowmesh run` is not available in this checkout{why}"
    return None


def start_shadowmesh(
    supervisor: Supervisor,
    name: str,
    yaml_text: str,
    workers: int,
    cpus: frozenset[int] | None,
    timeout_s: float = 45.0,
    extra_args: Sequence[str] = (),
    access_log: Path | None = None,
) -> tuple[Child, int]:
    """Start `shadowmesh run` on free loopback ports; returns the child and its listen port.
    Access logging goes to `access_log` when given (Envoy's default text format), else off."""
    config = supervisor.workdir / f"{name}.yaml"
    config.write_text(yaml_text)
    argv = [
        sys.executable, "-m", "shadowmesh", "run",
        "-f", str(config),
        "--listen", "127.0.0.1:0",
        "--admin", "127.0.0.1:0",
        # nginx logs (or not) the same way
        "--access-log", str(access_log) if access_log is not None else "off",
    ]
    if workers != 1:
        argv += ["--workers", str(workers)]
    argv += extra_args
    child = supervisor.start(name, argv, cpus=cpus)
    matches = wait_for_lines(child.log, [LISTENING, ADMIN], timeout_s, alive=child.alive)
    if matches is None:
        supervisor.stop(child)
        raise child.failure(f"did not report listening within {timeout_s:.0f}s")
    port = int(matches[0].group(1))
    if not wait_for_port(port, timeout_s, alive=child.alive):
        supervisor.stop(child)
        raise child.failure(f"reported port {port} but does not accept connections on it")
    # Workers may have been forked after the first exec; make sure all of them are pinned.
    pin_tree(child.pid, cpus)
    return child, port


def admin_port(child: Child) -> int:
    """The admin port `child` reported at start (start_shadowmesh waited for the line)."""
    match = ADMIN.search(child.log.read_text(errors="replace"))
    if match is None:
        raise child.failure("did not report its admin address")
    return int(match.group(1))
