"""Rules from a mounted ConfigMap (`-f /etc/shadowmesh/rules`): the kubelet's layout, with each
file also under `..data` and a timestamped directory, loads once and reloads on a swap."""

from __future__ import annotations

import os
from pathlib import Path

from shadowmesh.config import load_paths
from shadowmesh.controlplane import ControlPlane
from shadowmesh.routing.compile import CompileOptions

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/kubernetes/overlays/httpbin"


def mount(directory: Path, version: str, files: dict[str, str]) -> None:
    """What the kubelet's atomic writer does: a new timestamped directory, `..data` swapped
    to it with a rename, and one symlink per key pointing into `..data`."""
    stamped = directory / f"..2026_11_28_{version}"
    stamped.mkdir()
    for name, text in files.items():
        (stamped / name).write_text(text)
    tmp = directory / "..data_tmp"
    tmp.symlink_to(stamped.name)
    os.replace(tmp, directory / "..data")
    for name in files:
        link = directory / name
        if not link.is_symlink():
            link.symlink_to(f"..data/{name}")


def test_a_mounted_configmap_loads_each_file_once_and_reloads_on_swap(tmp_path: Path) -> None:
    step1 = (RULES / "rules/default-route.yaml").read_text()
    mount(tmp_path, "1", {"default-route.yaml": step1})
    loaded = load_paths([tmp_path])
    assert loaded.ok, loaded.issues
    assert sorted(r.kind for r in loaded.resources) == ["DestinationRule", "VirtualService"]

    control = ControlPlane([str(tmp_path)], CompileOptions())
    assert control.load_files().ok
    assert not control.files_changed()
    mirror = (RULES / "mirror.yaml").read_text()
    rule = step1.split("---")[1]  # the DestinationRule; the VirtualService becomes step 2's
    mount(tmp_path, "2", {"default-route.yaml": mirror + "---" + rule})
    assert control.files_changed()
    change = control.load_files()
    assert change.ok, change.issues
    [vs] = [r for r in control.resources() if r.kind == "VirtualService"]
    assert vs.spec.http[0].mirror is not None  # type: ignore[attr-defined]
