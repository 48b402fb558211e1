"""Gateway resources open their own listeners, which serve only the VirtualServices bound to
them (`gateways: [name]`); the mesh listener keeps serving the rest."""

from __future__ import annotations

import socket
from collections.abc import Callable

import httpx
import pytest
from tests.support import yaml_builders as yb
from tests.support.fixtures import StartProxy
from tests.support.recorder import RecordingServer

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_gateway_listener_serves_only_its_virtual_services(
    backend: Callable[[str], RecordingServer], start_proxy: StartProxy
) -> None:
    web, internal = backend("web"), backend("internal")
    gw_port = free_port()
    gateway = {
        "apiVersion": "networking.istio.io/v1", "kind": "Gateway",
        "metadata": {"name": "edge"},
        "spec": {"selector": {"istio": "ingressgateway"}, "servers": [
            {"port": {"number": gw_port, "name": "http", "protocol": "HTTP"},
             "hosts": ["*.example.com"]}]},
    }
    ingress = yb.virtual_service("web", [yb.to("web")], hosts=["www.example.com"],
                                 name="web-ingress")
    ingress["spec"]["gateways"] = ["edge"]
    docs = [
        yb.service_entry("web", endpoints=[yb.endpoint(web.port)]),
        yb.service_entry("internal", endpoints=[yb.endpoint(internal.port)]),
        gateway, ingress,
        yb.virtual_service("internal", [yb.to("internal")]),
    ]
    proxy = start_proxy(yb.dump(docs))
    assert proxy.wait_stderr(rf"gateway default/edge listening on http://127\.0\.0\.1:{gw_port}")
    gw = f"http://127.0.0.1:{gw_port}"
    assert httpx.get(f"{gw}/hello", headers={"Host": "www.example.com"}).status_code == 200
    assert web.count("/hello") == 1
    # the gateway does not serve mesh-only VirtualServices or unknown hosts
    assert httpx.get(f"{gw}/x", headers={"Host": "internal:8000"}).status_code == 404
    # and the mesh listener does not serve the gateway-bound one
    assert httpx.get(f"{proxy.url}/x", headers={"Host": "www.example.com"}).status_code == 404
    assert httpx.get(f"{proxy.url}/y", headers={"Host": "internal:8000"}).status_code == 200
    assert internal.count("/y") == 1 and internal.count("/x") == 0


def test_gateway_exposes_only_the_hosts_its_servers_list(
    backend: Callable[[str], RecordingServer], start_proxy: StartProxy
) -> None:
    web = backend("web")
    gw_port = free_port()
    gateway = {
        "apiVersion": "networking.istio.io/v1", "kind": "Gateway",
        "metadata": {"name": "edge"},
        "spec": {"servers": [{"port": {"number": gw_port, "name": "http", "protocol": "HTTP"},
                              "hosts": ["shop.example.com"]}]},
    }
    vs = yb.virtual_service("web", [yb.to("web")], hosts=["shop.example.com", "admin.example.com"],
                            name="web-ingress")
    vs["spec"]["gateways"] = ["edge"]
    proxy = start_proxy(yb.dump([yb.service_entry("web", endpoints=[yb.endpoint(web.port)]),
                                 gateway, vs]))
    assert proxy.wait_stderr(rf"gateway default/edge listening on http://127\.0\.0\.1:{gw_port}")
    gw = f"http://127.0.0.1:{gw_port}"
    assert httpx.get(f"{gw}/a", headers={"Host": "shop.example.com"}).status_code == 200
    assert httpx.get(f"{gw}/b", headers={"Host": "admin.example.com"}).status_code == 404
    assert web.count("/a") == 1 and web.count("/b") == 0
