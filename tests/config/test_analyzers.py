"""Checks over the whole set, like `istioctl analyze`: references, duplicates, annotations."""

from __future__ import annotations

from typing import Any

import yaml

from shadowmesh.config import Issue, load_text

API = "networking.istio.io/v1"


def doc(
    kind: str,
    name: str,
    spec: dict[str, Any],
    namespace: str = "default",
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": API, "kind": kind, "metadata": metadata, "spec": spec}


def issues(*docs: dict[str, Any]) -> list[Issue]:
    return load_text(yaml.safe_dump_all(docs), "set.yaml").issues


def summary(found: list[Issue]) -> list[tuple[str, str | None, str | None, str]]:
    return [(i.level, i.code, i.path, i.message) for i in found]


def reviews_service(ports: list[int] | None = None) -> dict[str, Any]:
    return doc(
        "ServiceEntry",
        "reviews",
        {
            "hosts": ["reviews"],
            "ports": [
                {"number": p, "name": f"http-{p}", "protocol": "HTTP"} for p in ports or [9080]
            ],
            "resolution": "STATIC",
            "endpoints": [{"address": "127.0.0.1"}],
        },
    )


def reviews_rule(namespace: str = "default") -> dict[str, Any]:
    return doc(
        "DestinationRule",
        "reviews",
        {
            "host": "reviews",
            "subsets": [{"name": "v1", "labels": {"version": "v1"}}],
        },
        namespace,
    )


def route_to(destination: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return doc(
        "VirtualService",
        "reviews",
        {
            "hosts": ["reviews"],
            "http": [{"route": [{"destination": destination}], **extra}],
        },
    )


def test_subset_defined_by_a_rule_for_the_same_host_in_any_spelling() -> None:
    for host in ("reviews", "reviews.default", "reviews.default.svc.cluster.local"):
        assert issues(reviews_rule(), route_to({"host": host, "subset": "v1"})) == []


def test_subset_of_a_rule_in_another_namespace_is_not_found() -> None:
    found = issues(reviews_rule("other"), route_to({"host": "reviews", "subset": "v1"}))
    assert summary(found) == [
        (
            "warning",
            "IST0101",
            "spec.http[0].route[0].destination.subset",
            'Referenced host+subset in destinationrule not found: "reviews+v1"',
        )
    ]


def test_mirrors_list_subsets_are_checked_too() -> None:
    found = issues(
        reviews_rule(),
        route_to(
            {"host": "reviews", "subset": "v1"},
            mirrors=[{"destination": {"host": "reviews", "subset": "v9"}}],
        ),
    )
    assert summary(found) == [
        (
            "warning",
            "IST0101",
            "spec.http[0].mirrors[0].destination.subset",
            'Referenced mirror+subset in destinationrule not found: "reviews+v9"',
        )
    ]


def test_hosts_are_only_checked_when_the_set_declares_services() -> None:
    assert issues(route_to({"host": "ratings"})) == []
    found = issues(reviews_service(), route_to({"host": "ratings"}, mirror={"host": "nowhere"}))
    assert summary(found) == [
        (
            "warning",
            "IST0101",
            "spec.http[0].route[0].destination.host",
            'Referenced host not found: "ratings"',
        ),
        (
            "warning",
            "IST0101",
            "spec.http[0].mirror.host",
            'Referenced mirror host not found: "nowhere"',
        ),
    ]


def test_wildcard_service_entries_cover_hosts() -> None:
    external = doc(
        "ServiceEntry",
        "ext",
        {
            "hosts": ["*.example.com"],
            "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}],
            "resolution": "NONE",
        },
    )
    vs = doc(
        "VirtualService",
        "api",
        {
            "hosts": ["api.example.com"],
            "http": [{"route": [{"destination": {"host": "api.example.com"}}]}],
        },
    )
    assert issues(external, vs) == []


def test_ports_of_the_destination_service() -> None:
    found = issues(reviews_service(), route_to({"host": "reviews", "port": {"number": 9999}}))
    assert summary(found) == [
        (
            "warning",
            "IST0101",
            "spec.http[0].route[0].destination.port",
            'Referenced host:port not found: "reviews:9999"',
        )
    ]
    found = issues(reviews_service([9080, 9090]), route_to({"host": "reviews"}))
    assert summary(found) == [
        (
            "warning",
            "IST0112",
            "spec.http[0].route[0].destination",
            'This VirtualService routes to a service "reviews" that exposes multiple ports '
            "[9080 9090]. Specifying a port in the destination is required to disambiguate.",
        )
    ]


def test_referenced_gateways() -> None:
    gateway = doc(
        "Gateway",
        "public",
        {
            "servers": [
                {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}
            ],
        },
        "edge",
    )
    vs = doc(
        "VirtualService",
        "web",
        {
            "hosts": ["web.example.com"],
            "gateways": ["edge/public", "mesh", "missing"],
            "http": [{"route": [{"destination": {"host": "web"}}]}],
        },
    )
    assert summary(issues(gateway, vs)) == [
        ("warning", "IST0101", "spec.gateways[2]", 'Referenced gateway not found: "missing"'),
    ]


def test_duplicates_are_errors() -> None:
    found = issues(reviews_rule(), reviews_rule())
    assert summary(found) == [
        (
            "error",
            None,
            None,
            "duplicate DestinationRule default/reviews (first defined in set.yaml, document 1)",
        )
    ]
    assert found[0].document == "DestinationRule default/reviews"


def test_two_virtual_services_for_one_host_conflict() -> None:
    first = route_to({"host": "reviews"})
    second = doc(
        "VirtualService",
        "reviews-2",
        {
            "hosts": ["reviews.default.svc.cluster.local"],
            "http": [{"route": [{"destination": {"host": "reviews"}}]}],
        },
    )
    found = issues(first, second)
    assert [(i.code, i.document) for i in found] == [
        ("IST0109", "VirtualService default/reviews"),
        ("IST0109", "VirtualService default/reviews-2"),
    ]
    assert found[0].message.startswith(
        "The VirtualServices default/reviews,default/reviews-2 associated with mesh gateway "
        "define the same host reviews.default.svc.cluster.local"
    )


def test_unknown_shadowmesh_annotations_warn_and_others_pass() -> None:
    rule = reviews_rule()
    rule["metadata"]["annotations"] = {
        "shadowmesh.io/mirror-method": "GET",
        "shadowmesh.io/zzz": "1",
        "shadowmesh.io/mirror-methods": "GET,HEAD",
        "example.com/other": "x",
    }
    typo, unknown = summary(issues(rule))
    assert typo == (
        "warning",
        None,
        "metadata.annotations[shadowmesh.io/mirror-method]",
        'unknown shadowmesh annotation "shadowmesh.io/mirror-method" '
        '(did you mean "shadowmesh.io/mirror-methods"?)',
    )
    assert unknown[3].startswith('unknown shadowmesh annotation "shadowmesh.io/zzz"; known: ')
    assert "shadowmesh.io/mirror-timeout" in unknown[3]
