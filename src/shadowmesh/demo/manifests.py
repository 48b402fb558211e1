"""The Istio YAML of the mirroring task, as files the user can read, edit and apply again.

01, 02 and 03 are the istio.io task's own resources (istio/istio.io, content/en/docs/tasks/
traffic-management/mirroring, "Istio APIs" tab), unchanged but for the comments. 00 stands in
for what the task gets from Kubernetes: the `httpbin` Service (port 8000) and its two
Deployments become a ServiceEntry selecting `app: httpbin` and one WorkloadEntry per version,
pointing at the local gunicorn processes. 04 is shadowmesh's own: the `Comparison` of what
v2 answered with what v1 answered, which the demo's third step applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SERVICE_HOST = "httpbin"
SERVICE_PORT = 8000
AUTHORITY = f"{SERVICE_HOST}:{SERVICE_PORT}"  # the Host the task's client (sleep pod) sends

SERVICES = "00-services.yaml"
DESTINATION_RULE = "01-destination-rule.yaml"
ROUTE_V1 = "02-virtual-service-v1.yaml"
ROUTE_MIRROR = "03-virtual-service-mirror.yaml"
COMPARISON = "04-comparison.yaml"

_SERVICE_ENTRY = """\
# The `httpbin` Service of the task (port 8000). In Kubernetes it selects the pods of the
# httpbin-v1 and httpbin-v2 Deployments by `app: httpbin`; here the same selector picks the
# WorkloadEntries below, which point at httpbin (gunicorn) processes on this machine.
apiVersion: networking.istio.io/v1alpha3
kind: ServiceEntry
metadata:
  name: httpbin
spec:
  hosts:
  - httpbin
  location: MESH_INTERNAL
  ports:
  - number: 8000
    name: http
    protocol: HTTP
  resolution: STATIC
  workloadSelector:
    labels:
      app: httpbin
"""

_WORKLOAD_ENTRY = """\
---
# httpbin {version}: the Deployment `httpbin-{version}` of the task, one "pod" on 127.0.0.1.
apiVersion: networking.istio.io/v1alpha3
kind: WorkloadEntry
metadata:
  name: httpbin-{version}
spec:
  address: 127.0.0.1
  ports:
    http: {port}
  labels:
    app: httpbin
    version: {version}
"""

DESTINATION_RULE_YAML = """\
# istio.io mirroring task, "Creating a default routing policy": the subsets v1 and v2,
# picked by each workload's `version` label.
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: httpbin
spec:
  host: httpbin
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
"""

ROUTE_V1_YAML = """\
# istio.io mirroring task, step 1: every request to httpbin goes to v1.
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
    - httpbin
  http:
  - route:
    - destination:
        host: httpbin
        subset: v1
      weight: 100
"""

ROUTE_MIRROR_YAML = """\
# istio.io mirroring task, step 2: still 100% to v1, and a copy of every request to v2.
# The copy's answer is thrown away; its Host gets "-shadow" (httpbin-shadow:8000).
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
    - httpbin
  http:
  - route:
    - destination:
        host: httpbin
        subset: v1
      weight: 100
    mirror:
      host: httpbin
      subset: v2
    mirrorPercentage:
      value: 100.0
"""


COMPARISON_YAML = """\
# shadowmesh's own kind: compare what the mirror (v2) answers with what the primary (v1)
# answered to the same request. The noise copy sends each request to v1 a second time: what
# differs between two answers of v1 itself (httpbin's /uuid, ...) is noise, not a regression.
apiVersion: shadowmesh.io/v1alpha1
kind: Comparison
metadata:
  name: httpbin
spec:
  host: httpbin
  candidate:
    subset: v2
  noise:
    subset: v1
    percentage: 100
"""


def services_yaml(ports: dict[str, int]) -> str:
    """The ServiceEntry plus one WorkloadEntry per version: {"v1": 40001, "v2": 40002}."""
    entries = "".join(
        _WORKLOAD_ENTRY.format(version=version, port=port) for version, port in ports.items()
    )
    return _SERVICE_ENTRY + entries


def tutorial_yaml(ports: dict[str, int], mirror: bool) -> str:
    """The whole task as one multi-document text: services, subsets, and the step-1 route
    (or, with `mirror`, the step-2 route). Benchmarks and tests start shadowmesh on this."""
    route = ROUTE_MIRROR_YAML if mirror else ROUTE_V1_YAML
    return "---\n".join((services_yaml(ports), DESTINATION_RULE_YAML, route))


@dataclass(frozen=True, slots=True)
class Manifests:
    """The five files, written in `workdir`."""

    workdir: Path

    @property
    def services(self) -> Path:
        return self.workdir / SERVICES

    @property
    def destination_rule(self) -> Path:
        return self.workdir / DESTINATION_RULE

    @property
    def route_v1(self) -> Path:
        return self.workdir / ROUTE_V1

    @property
    def route_mirror(self) -> Path:
        return self.workdir / ROUTE_MIRROR

    @property
    def comparison(self) -> Path:
        return self.workdir / COMPARISON

    @property
    def initial(self) -> tuple[Path, Path, Path]:
        """What `shadowmesh run -f` starts with; the mirror rule is applied later."""
        return (self.services, self.destination_rule, self.route_v1)

    @property
    def all(self) -> tuple[Path, Path, Path, Path, Path]:
        return (*self.initial, self.route_mirror, self.comparison)


def write_manifests(workdir: Path, ports: dict[str, int]) -> Manifests:
    """(Re)write the five files. The ports change from run to run, so nothing is kept."""
    workdir.mkdir(parents=True, exist_ok=True)
    files = Manifests(workdir)
    files.services.write_text(services_yaml(ports), encoding="utf-8")
    files.destination_rule.write_text(DESTINATION_RULE_YAML, encoding="utf-8")
    files.route_v1.write_text(ROUTE_V1_YAML, encoding="utf-8")
    files.route_mirror.write_text(ROUTE_MIRROR_YAML, encoding="utf-8")
    files.comparison.write_text(COMPARISON_YAML, encoding="utf-8")
    return files
