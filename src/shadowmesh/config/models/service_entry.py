"""ServiceEntry and WorkloadEntry (networking.istio.io): where services and endpoints live."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from shadowmesh.config.models.base import IstioModel
from shadowmesh.config.models.common import WorkloadSelector

Resolution = Literal["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"]
Location = Literal["MESH_EXTERNAL", "MESH_INTERNAL"]


class WorkloadEntry(IstioModel):
    """A WorkloadEntry spec; also the type of a ServiceEntry's inline `endpoints`."""

    address: str | None = None
    ports: Mapping[str, int] | None = None  # service port name -> endpoint port
    labels: Mapping[str, str] | None = None
    network: str | None = None
    locality: str | None = None
    weight: int = 0
    service_account: str | None = None


class ServicePort(IstioModel):
    number: int = 0
    protocol: str | None = None
    name: str | None = None
    target_port: int = 0


class ServiceEntry(IstioModel):
    hosts: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    ports: tuple[ServicePort, ...] = ()
    location: Location | None = None
    resolution: Resolution = "NONE"
    endpoints: tuple[WorkloadEntry, ...] | None = None
    workload_selector: WorkloadSelector | None = None
    export_to: tuple[str, ...] = ()
    subject_alt_names: tuple[str, ...] = ()
