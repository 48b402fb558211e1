"""Shared by the Gateway TLS tests: the configuration around their servers, and a client
that says which certificate it was shown and what it was answered."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

import yaml


def front_gateway_config(servers: list[dict[str, Any]], backend: int, hosts: list[str]) -> str:
    """A Gateway `gw` with `servers`, and a VirtualService for `hosts` on it routing to a
    backend on 127.0.0.1:`backend`."""
    docs = [
        {"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
         "metadata": {"name": "backend"},
         "spec": {"hosts": ["backend.example.com"], "resolution": "STATIC",
                  "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
                  "endpoints": [{"address": "127.0.0.1", "ports": {"http": backend}}]}},
        {"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
         "metadata": {"name": "gw"}, "spec": {"servers": servers}},
        {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
         "metadata": {"name": "front"},
         "spec": {"hosts": hosts, "gateways": ["gw"],
                  "http": [{"route": [{"destination": {"host": "backend.example.com"}}]}]}},
    ]
    return yaml.safe_dump_all(docs)


async def fetch(port: int, name: str, ctx: ssl.SSLContext, path: str = "/") -> tuple[int, str]:
    """A GET over TLS with `name` as SNI and Host; (status, peer certificate CN)."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=name or None), 5)
    try:
        cert = writer.get_extra_info("peercert") or {}
        cn = next(v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName")
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {name or 'a.example.com'}\r\n"
                     "Connection: close\r\n\r\n"
                     .encode())
        data = await asyncio.wait_for(reader.read(), 5)
        if not data:
            return 0, cn
        return int(data.split(b" ", 2)[1]), cn
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def refused(port: int, name: str, ctx: ssl.SSLContext) -> bool:
    """The handshake failed, or (TLS 1.3: the client finishes first) the server closed the
    connection without an answer."""
    try:
        status, _ = await fetch(port, name, ctx, "/refused")
    except (ssl.SSLError, ConnectionError):
        return True
    return status == 0
