"""The HTTPS termination harness: both proxies' configurations with a certificate made by
openssl, and one quick real run (nginx, `shadowmesh run`, wrk and `openssl s_time`) that
prints every row, records a section and leaves no process behind. No test asserts on a
measured number."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from bench.tools import MissingTools, find_tools
from tests.support.processes import processes_under

from bench import tls_termination
from shadowmesh.config import load_text
from shadowmesh.routing.compile import compile_table

ROOT = Path(__file__).resolve().parents[2]


def test_both_proxies_terminate_with_the_same_certificate(tmp_path: Path) -> None:
    cert, key = tls_termination.make_certificate(tmp_path)
    conf = tls_termination.nginx_conf(tmp_path, 8443, 8080, cert, key)
    assert "listen 127.0.0.1:8443 ssl default_server;" in conf
    assert f"ssl_certificate {cert};" in conf and f"ssl_certificate_key {key};" in conf
    loaded = load_text(tls_termination.shadowmesh_yaml(8443, 8080, cert, key), "bench.yaml")
    assert loaded.ok, loaded.issues
    (listener,) = compile_table(loaded.resources).gateway_listeners
    assert listener.port == 8443 and [s.mode for s in listener.tls] == ["SIMPLE"]


@pytest.mark.bench
@pytest.mark.timeout(180)
def test_quick_run(tmp_path: Path) -> None:
    try:
        find_tools()
    except MissingTools as exc:
        pytest.skip(str(exc))
    results = tmp_path / "RESULTS.md"
    argv = [sys.executable, "-m", "bench.tls_termination", "--quick", "--no-pin",
            "--duration", "1", "--record", "--results", str(results)]
    env = dict(os.environ, TMPDIR=str(tmp_path))
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, timeout=150,
                          check=False)
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, f"stdout:\n{out}\nstderr:\n{err}"
    for load in tls_termination.LOADS:
        assert sum(1 for line in out.splitlines() if line.startswith(load)) >= 2, out
    assert "session resumption probe" in out
    section = results.read_text()
    assert "HTTPS termination (bench.tls_termination)" in section
    assert "`python -m bench.tls_termination --quick --no-pin" in section
    assert processes_under(tmp_path) == []
