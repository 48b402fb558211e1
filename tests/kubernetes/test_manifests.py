"""deploy/: every kustomization builds, every object validates against the Kubernetes
schemas offline (kubernetes-validate), and the manifests keep the promises the README makes
(read-only RBAC covering every watched kind, probes, non-root, --workers from the CPU limit).

`kubectl kustomize` builds the kustomizations when kubectl is installed; without it the
kustomizations are resolved by `resolve` below (resources, bases, patches and generator
files must exist and parse) and the raw objects are validated instead.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from shadowmesh.config import load_paths
from shadowmesh.kubernetes.kinds import ALL_KINDS
from shadowmesh.proxy.commands import run as run_command

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUSTOMIZATIONS = ["kubernetes/base", "kubernetes/overlays/httpbin",
                  "kubernetes/overlays/postgresql", "crds"]
K8S_VERSION = "1.30"
CUSTOM_GROUPS = ("networking.istio.io", "shadowmesh.io")


def _kubectl() -> str | None:
    """kubectl with a kustomize that reads this layout (v4+, kubectl 1.21+); Debian's
    kubernetes-client (1.20, kustomize v2.0.3) is too old for it."""
    path = shutil.which("kubectl")
    if path is None:
        return None
    out = subprocess.run([path, "version", "--client", "-o", "json"], capture_output=True,
                         text=True, timeout=30, check=False)
    try:
        minor = int("".join(c for c in json.loads(out.stdout)["clientVersion"]["minor"]
                            if c.isdigit()))
    except (ValueError, KeyError):
        return None
    return path if minor >= 21 else None


KUBECTL = _kubectl()


def resolve(directory: Path) -> list[dict[str, Any]]:
    """The objects a kustomization lists (patches and generators are checked, not applied)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    objects: list[dict[str, Any]] = []
    for entry in [*kustomization.get("resources", []), *kustomization.get("bases", [])]:
        path = (directory / entry).resolve()
        assert path.exists(), f"{directory}/kustomization.yaml lists missing {entry}"
        if path.is_dir():
            objects += resolve(path)
        else:
            objects += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for patch in kustomization.get("patches", []):
        path = directory / patch["path"]
        assert path.exists() and yaml.safe_load(path.read_text())["kind"]
    for generator in kustomization.get("configMapGenerator", []):
        for file in generator.get("files", []):
            assert (directory / file.split("=")[-1]).exists(), file
    return objects


def build(name: str) -> list[dict[str, Any]]:
    directory = DEPLOY / name
    if KUBECTL is None:
        return resolve(directory)
    out = subprocess.run([KUBECTL, "kustomize", str(directory)], capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.fixture(scope="module")
def built() -> dict[str, list[dict[str, Any]]]:
    return {name: build(name) for name in KUSTOMIZATIONS}


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def test_every_listed_file_exists_and_parses() -> None:
    for name in KUSTOMIZATIONS:
        assert resolve(DEPLOY / name)


@pytest.mark.skipif(KUBECTL is None, reason="no kubectl 1.21+ here: resolve() checked them instead")
def test_kubectl_kustomize_builds_every_kustomization(built: dict[str, Any]) -> None:
    assert {o["kind"] for o in built["kubernetes/base"]} >= {
        "CustomResourceDefinition", "ServiceAccount", "Role", "RoleBinding", "Deployment",
        "Service", "PodDisruptionBudget"}


def test_every_object_validates_against_the_kubernetes_schemas(built: dict[str, Any]) -> None:
    checked = 0
    for objects in built.values():
        for obj in objects:
            if obj["apiVersion"].split("/")[0] in CUSTOM_GROUPS:
                continue
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
            checked += 1
    assert checked >= 20


def test_the_schema_check_is_not_vacuous(built: dict[str, Any]) -> None:
    deployment = copy.deepcopy(find(built["kubernetes/base"], "Deployment", "shadowmesh"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def _container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    spec = find(objects, "Deployment", "shadowmesh")["spec"]["template"]["spec"]
    [container] = spec["containers"]
    return dict(container)


def test_deployment_is_replicated_probed_non_root_and_sized_from_its_cpu_limit(
        built: dict[str, Any]) -> None:
    deployment = find(built["kubernetes/base"], "Deployment", "shadowmesh")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    container = _container(built["kubernetes/base"])
    assert spec["replicas"] >= 2
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "--workers=$(CPU_LIMIT)" in container["args"]
    [cpu] = [e for e in container["env"] if e["name"] == "CPU_LIMIT"]
    assert cpu["valueFrom"]["resourceFieldRef"]["resource"] == "limits.cpu"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["terminationGracePeriodSeconds"] > 30 + 5  # drain timeout + preStop pause
    assert container["lifecycle"]["preStop"]
    annotations = spec["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "15000"
    pdb = find(built["kubernetes/base"], "PodDisruptionBudget", "shadowmesh")
    assert pdb["spec"]["selector"]["matchLabels"] == spec["selector"]["matchLabels"]


def test_rbac_is_read_only_and_covers_every_watched_kind(built: dict[str, Any]) -> None:
    role = find(built["kubernetes/base"], "Role", "shadowmesh-reader")
    granted = set()
    for rule in role["rules"]:
        assert set(rule["verbs"]) == {"get", "list", "watch"}
        granted |= {(g, r) for g in rule["apiGroups"] for r in rule["resources"]}
    assert {(k.group, k.plural) for k in ALL_KINDS} <= granted
    binding = find(built["kubernetes/base"], "RoleBinding", "shadowmesh-reader")
    assert binding["subjects"][0]["name"] == "shadowmesh"


def _run_args(container: dict[str, Any], tmp_path: Path) -> list[str]:
    values = {"$(POD_NAMESPACE)": "default", "$(CPU_LIMIT)": "2"}
    args = []
    for arg in container["args"][1:]:  # after `run`
        for var, value in values.items():
            arg = arg.replace(var, value)
        if arg.startswith("--filename="):
            arg = f"--filename={tmp_path}"  # the mounted ConfigMap's place
        args.append(arg)
    return args


@pytest.mark.parametrize("name", ["kubernetes/base", "kubernetes/overlays/httpbin",
                                  "kubernetes/overlays/postgresql"])
def test_container_args_are_options_shadowmesh_run_accepts(built: dict[str, Any], name: str,
                                                          tmp_path: Path) -> None:
    args = _run_args(_container(built[name]), tmp_path)
    if name.endswith("postgresql"):
        [store] = [a for a in args if a.startswith("--compare-store=")]
        assert store.startswith("--compare-store=postgresql://")
        if "--compare-store" not in {p.opts[0] for p in run_command.params if p.opts}:
            args.remove(store)  # the comparison store's option lives in another change
    context = run_command.make_context("run", args)
    assert context.params["kubernetes"] is True
    assert context.params["workers"] == 2


def test_httpbin_overlay_rules_load_and_the_mirror_step_is_valid() -> None:
    overlay = DEPLOY / "kubernetes/overlays/httpbin"
    for path in (overlay / "rules", overlay / "mirror.yaml"):
        loaded = load_paths([path])
        assert loaded.ok, loaded.issues
        assert {r.kind for r in loaded.resources} >= {"VirtualService"}


def _schema(node: Any) -> Any:
    """An openAPIV3Schema as JSON Schema (the x-kubernetes-* extensions translated)."""
    if isinstance(node, list):
        return [_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _schema(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string"):
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    # OpenAPI v3.0 (what a CRD uses) spells exclusive bounds as booleans beside
    # minimum/maximum; JSON Schema 2020-12 wants the bound itself.
    for flag, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(flag), bool):
            del out[flag]
            if node[flag] and bound in node:
                out[flag] = out.pop(bound)
    return out


def test_comparison_crd_accepts_the_documented_spec_and_requires_host() -> None:
    crd = yaml.safe_load((DEPLOY / "crds/comparison.yaml").read_text())
    [version] = crd["spec"]["versions"]
    schema = _schema(version["schema"]["openAPIV3Schema"])
    full = {"spec": {
        "host": "httpbin", "candidate": {"subset": "v2"},
        "noise": {"subset": "v1", "percentage": 10}, "ignore": {"headers": ["date"],
                                                               "fields": ["$.id"]},
        "arrayOrder": "ignore", "thresholds": {"relative": 20, "absolute": 0.03},
        "endpoints": [{"name": "get", "method": "GET", "uri": {"prefix": "/get"}}],
        "capture": {"bodyLimit": "256Ki", "samples": 5},
        "redact": {"headers": ["authorization"], "fields": ["$.token"]}}}
    jsonschema.validate(full, schema)
    for broken in ({"spec": {}}, {"spec": {"host": "h", "arrayOrder": "sorted"}},
                   {"spec": {"host": "h", "noise": {"percentage": 101}}},
                   {"spec": {"host": "h", "noise": {"percentage": 0}}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)
    assert crd["spec"]["group"] == "shadowmesh.io" and version["name"] == "v1alpha1"


def test_dockerfile_is_multi_stage_compiled_and_non_root() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    assert sum(line.startswith("FROM ") for line in lines) >= 2
    assert any("SHADOWMESH_COMPILE=1" in line for line in lines)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"
    final_stage = "\n".join(lines[max(i for i, x in enumerate(lines) if x.startswith("FROM ")):])
    assert "COPY --from=build" in final_stage and "gcc" not in final_stage
