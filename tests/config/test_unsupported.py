"""shadowmesh's notes on settings it validates but does not act on: shown by `validate` and
logged by `run`, never part of Istio's webhook verdict."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from shadowmesh.config import load_text
from shadowmesh.config.validation import validate_webhook

ROUTE = [{"destination": {"host": "a.example.com"}}]


def _document(kind: str, spec: dict[str, Any]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": kind,
            "metadata": {"name": "r", "namespace": "default"},
            "spec": spec,
        }
    )


# (case, kind, spec, path of the note, text the note contains)
NOTES: list[tuple[str, str, dict[str, Any], str, str]] = [
    (
        "tcp routes",
        "VirtualService",
        {"hosts": ["a.example.com"], "tcp": [{"route": ROUTE}]},
        "spec.tcp",
        "tcp routes are not served by shadowmesh (it proxies HTTP only)",
    ),
    (
        "tls routes",
        "VirtualService",
        {
            "hosts": ["a.example.com"],
            "tls": [{"match": [{"sniHosts": ["a.example.com"]}], "route": ROUTE}],
        },
        "spec.tls",
        "tls routes are not served by shadowmesh",
    ),
    (
        "mirror on a redirect",
        "VirtualService",
        {
            "hosts": ["a.example.com"],
            "http": [{"redirect": {"uri": "/b"}, "mirror": {"host": "b.example.com"}}],
        },
        "spec.http[0]",
        "mirror has no effect on a rule with redirect or directResponse",
    ),
    (
        "delegate",
        "VirtualService",
        {"hosts": ["a.example.com"], "http": [{"delegate": {"name": "b", "namespace": "n"}}]},
        "spec.http[0].delegate",
        "delegate is accepted for Istio but not implemented by shadowmesh: requests this rule",
    ),
    (
        "source labels",
        "VirtualService",
        {
            "hosts": ["a.example.com"],
            "http": [{"match": [{"sourceLabels": {"app": "x"}}], "route": ROUTE}],
        },
        "spec.http[0].match[0].sourceLabels",
        "sourceLabels is accepted for Istio but not implemented by shadowmesh: this match applies",
    ),
    (
        "locality",
        "DestinationRule",
        {
            "host": "a.example.com",
            "trafficPolicy": {
                "outlierDetection": {"interval": "10s"},
                "loadBalancer": {"localityLbSetting": {"failover": [{"from": "a", "to": "b"}]}},
            },
        },
        "spec.trafficPolicy.loadBalancer.localityLbSetting",
        "localityLbSetting is accepted for Istio but not implemented by shadowmesh",
    ),
    (
        "subset tunnel",
        "DestinationRule",
        {
            "host": "a.example.com",
            "subsets": [
                {
                    "name": "v1",
                    "trafficPolicy": {"tunnel": {"targetHost": "b.example.com", "targetPort": 8}},
                }
            ],
        },
        "spec.subsets[0].trafficPolicy.tunnel",
        "tunnel is accepted for Istio but not implemented",
    ),
    (
        "cookie attributes, as spelled",
        "DestinationRule",
        {
            "host": "a.example.com",
            "trafficPolicy": {
                "portLevelSettings": [
                    {
                        "port": {"number": 80},
                        "loadBalancer": {
                            "consistentHash": {
                                "httpCookie": {
                                    "name": "c",
                                    "ttl": "10s",
                                    "attributes": [{"name": "SameSite", "value": "Lax"}],
                                }
                            }
                        },
                    }
                ]
            },
        },
        "spec.trafficPolicy.portLevelSettings[0].loadBalancer.consistentHash.httpCookie.attributes",
        "attributes is accepted for Istio but not implemented",
    ),
    (
        "ISTIO_MUTUAL origination",
        "DestinationRule",
        {"host": "a.example.com", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}},
        "spec.trafficPolicy.tls.mode",
        "tls mode ISTIO_MUTUAL is accepted for Istio but not implemented by shadowmesh (it has "
        "no mesh certificates): connections to this destination are plain text",
    ),
    (
        "PASSTHROUGH gateway server",
        "Gateway",
        {"servers": [{"port": {"number": 8443, "name": "https", "protocol": "HTTPS"},
                      "hosts": ["a.example.com"], "tls": {"mode": "PASSTHROUGH"}}]},
        "spec.servers[0].tls.mode",
        "tls mode PASSTHROUGH is accepted for Istio but not implemented by shadowmesh (no TLS "
        "routes, no mesh certificates): this server is not served, nothing listens for its "
        "hosts on port 8443",
    ),
    (
        "TLS gateway server",
        "Gateway",
        {"servers": [{"port": {"number": 8443, "name": "tls", "protocol": "TLS"},
                      "hosts": ["a.example.com"],
                      "tls": {"mode": "SIMPLE", "credentialName": "c"}}]},
        "spec.servers[0].port.protocol",
        "port protocol TLS is not served by shadowmesh (it proxies HTTP only)",
    ),
    (
        "client certificate SANs",
        "Gateway",
        {"servers": [{"port": {"number": 8443, "name": "https", "protocol": "HTTPS"},
                      "hosts": ["a.example.com"],
                      "tls": {"mode": "MUTUAL", "credentialName": "c",
                              "subjectAltNames": ["client.example.com"]}}]},
        "spec.servers[0].tls.subjectAltNames",
        "subjectAltNames is accepted for Istio but not implemented by shadowmesh: client "
        "certificates are verified against caCertificates (and caCrl) only",
    ),
    (
        "dynamic DNS",
        "ServiceEntry",
        {
            "hosts": ["*.example.com"],
            "resolution": "DYNAMIC_DNS",
            "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
        },
        "spec.resolution",
        "resolution DYNAMIC_DNS is accepted for Istio but not implemented by shadowmesh",
    ),
]


@pytest.mark.parametrize(
    ("kind", "spec", "path", "text"), [n[1:] for n in NOTES], ids=[n[0] for n in NOTES]
)
def test_note_is_a_warning_outside_istios_verdict(
    kind: str, spec: dict[str, Any], path: str, text: str
) -> None:
    loaded = load_text(_document(kind, spec), "t.yaml")
    notes = [i for i in loaded.issues if text in i.message]
    assert [(i.level, i.path) for i in notes] == [("warning", path)], loaded.issues
    assert not loaded.errors
    (resource,) = loaded.resources
    assert not any(text in i.message for i in validate_webhook(resource))


def test_a_plain_http_route_gets_no_note() -> None:
    loaded = load_text(
        _document("VirtualService", {"hosts": ["a.example.com"], "http": [{"route": ROUTE}]}),
        "t.yaml",
    )
    assert loaded.issues == []
