"""Gateway (networking.istio.io): which hosts and ports a gateway proxy serves."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shadowmesh.config.models.base import IstioModel


class Port(IstioModel):
    number: int = 0
    protocol: str | None = None
    name: str | None = None
    target_port: int = 0


class Server(IstioModel):
    port: Port | None = None
    bind: str | None = None
    hosts: tuple[str, ...] = ()
    tls: Mapping[str, Any] | None = None  # ServerTLSSettings; shadowmesh terminates no TLS
    default_endpoint: str | None = None
    name: str | None = None


class Gateway(IstioModel):
    servers: tuple[Server, ...] = ()
    selector: Mapping[str, str] | None = None
