"""Certificate files are watched like configuration files: a renewed CA, certificate or key
(a file rewritten, or a mounted secret's symlink swapped) makes the watcher re-read the set,
so the renewal is in force without a SIGHUP; a file renewed between the compile's read and
the watch is caught by its fingerprint, not missed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.support.certs import CA

from shadowmesh.controlplane import ControlPlane
from shadowmesh.routing.compile import CompileOptions

CONFIG = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: api}}
spec:
  hosts: [api.example.com]
  ports: [{{number: 443, name: https, protocol: HTTPS}}]
  resolution: STATIC
  endpoints: [{{address: 127.0.0.1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: api}}
spec:
  host: api.example.com
  trafficPolicy:
    tls: {{mode: SIMPLE, caCertificates: {ca}}}
"""


def ca_pem(tmp_path: Path, directory: str, name: str) -> str:
    (tmp_path / directory).mkdir()
    return CA(tmp_path / directory, name).cert


def upstream_fingerprint(control: ControlPlane) -> str:
    assert control.table is not None
    (tls,) = [c.policy.tls for c in control.table.clusters.values() if c.policy.tls]
    return tls.fingerprint


def setup(tmp_path: Path) -> tuple[ControlPlane, Path]:
    ca_file = tmp_path / "ca.crt"
    shutil.copy(ca_pem(tmp_path, "one", "first"), ca_file)
    config = tmp_path / "api.yaml"
    config.write_text(CONFIG.format(ca=ca_file))
    control = ControlPlane([str(config)], CompileOptions())
    assert control.load_files().ok
    return control, ca_file


def test_a_renewed_certificate_file_is_a_change(tmp_path: Path) -> None:
    control, ca_file = setup(tmp_path)
    before = upstream_fingerprint(control)
    assert not control.files_changed()
    renewed = tmp_path / "ca.new"
    shutil.copy(ca_pem(tmp_path, "two", "second"), renewed)
    os.replace(renewed, ca_file)  # written atomically, as a renewal tool does
    assert control.files_changed()
    assert control.load_files().ok
    assert upstream_fingerprint(control) != before
    assert not control.files_changed()


def test_a_swapped_symlink_is_a_change(tmp_path: Path) -> None:
    (tmp_path / "gen1").mkdir()
    shutil.copy(ca_pem(tmp_path, "one", "first"), tmp_path / "gen1" / "ca.crt")
    (tmp_path / "data").symlink_to("gen1")
    config = tmp_path / "api.yaml"
    config.write_text(CONFIG.format(ca=tmp_path / "data" / "ca.crt"))
    control = ControlPlane([str(config)], CompileOptions())
    assert control.load_files().ok
    assert not control.files_changed()
    (tmp_path / "gen2").mkdir()
    shutil.copy(ca_pem(tmp_path, "two", "second"), tmp_path / "gen2" / "ca.crt")
    (tmp_path / "next").symlink_to("gen2")
    os.replace(tmp_path / "next", tmp_path / "data")  # the kubelet's `..data` swap
    assert control.files_changed()


def test_a_file_renewed_after_it_was_read_is_not_missed(tmp_path: Path) -> None:
    control, ca_file = setup(tmp_path)
    assert control.table is not None
    # renewed after the compile read it, before the watch recorded the file's state: the
    # recorded (mtime, size, inode) already show the new file, only the fingerprint can tell
    ca_file.write_bytes(Path(ca_pem(tmp_path, "two", "second")).read_bytes())
    control._watch_tls(control.table)
    assert control.files_changed()
    assert control.load_files().ok
    assert not control.files_changed()


def test_a_rejected_renewal_keeps_the_loaded_certificate_and_is_not_retried(
        tmp_path: Path) -> None:
    control, ca_file = setup(tmp_path)
    before = upstream_fingerprint(control)
    ca_file.write_text("not a certificate\n")
    assert control.files_changed()
    assert not control.load_files().ok
    assert upstream_fingerprint(control) == before
    assert not control.files_changed()  # until the file changes again
