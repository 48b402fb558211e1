"""HTTPMatchRequest semantics through the real proxy: which version serves which request.

Every test routes matching requests to v2 and everything else to v1 (a catch-all last rule),
then asks the proxy and reads `x-backend` from the answer.
"""

from __future__ import annotations

import pytest
from tests.support.fixtures import StartMesh
from tests.support.yaml_builders import Doc, to

pytestmark = pytest.mark.e2e

SVC = "svc"
FALLBACK = to(SVC, "v1")


def v2_when(*match: Doc) -> list[Doc]:
    """Rules: requests matching any of the blocks -> v2, the rest -> v1."""
    return [to(SVC, "v2", match=list(match)), FALLBACK]


def test_uri_exact_ignores_query_string(mesh: StartMesh) -> None:
    m = mesh(http=v2_when({"uri": {"exact": "/exact"}}))
    assert m.served_by("/exact") == "v2"
    assert m.served_by("/exact?x=1&y=2") == "v2"
    assert m.served_by("/exact/more") == "v1"
    assert m.served_by("/exac") == "v1"
    assert m.served_by("/EXACT") == "v1"  # case-sensitive


def test_uri_prefix(mesh: StartMesh) -> None:
    m = mesh(http=v2_when({"uri": {"prefix": "/api"}}))
    assert m.served_by("/api") == "v2"
    assert m.served_by("/api/users?id=3") == "v2"
    assert m.served_by("/apix") == "v2"  # a string prefix, not a path segment
    assert m.served_by("/ap") == "v1"
    assert m.served_by("/x/api") == "v1"
    assert m.served_by("/API/users") == "v1"


def test_uri_regex_is_a_full_match_without_query(mesh: StartMesh) -> None:
    m = mesh(http=v2_when({"uri": {"regex": "/items/[0-9]+"}}))
    assert m.served_by("/items/42") == "v2"
    assert m.served_by("/items/42?sort=asc") == "v2"
    assert m.served_by("/items/42/reviews") == "v1"  # not a search: the whole path must match
    assert m.served_by("/shop/items/42") == "v1"
    assert m.served_by("/items/abc") == "v1"


def test_ignore_uri_case_for_exact_and_prefix(mesh: StartMesh) -> None:
    m = mesh(["v1", "v2", "v3"], http=[
        to(SVC, "v2", match=[{"uri": {"exact": "/Hello"}, "ignoreUriCase": True}]),
        to(SVC, "v3", match=[{"uri": {"prefix": "/Static/"}, "ignoreUriCase": True}]),
        FALLBACK,
    ])
    assert m.served_by("/hello") == "v2"
    assert m.served_by("/HELLO?q=1") == "v2"
    assert m.served_by("/hello/x") == "v1"
    assert m.served_by("/STATIC/app.js") == "v3"
    assert m.served_by("/static/app.js") == "v3"


def test_method(mesh: StartMesh) -> None:
    m = mesh(["v1", "v2", "v3"], http=[
        to(SVC, "v2", match=[{"method": {"exact": "POST"}}]),
        to(SVC, "v3", match=[{"method": {"regex": "PUT|PATCH"}}]),
        FALLBACK,
    ])
    assert m.served_by("/", method="POST") == "v2"
    assert m.served_by("/", method="PUT") == "v3"
    assert m.served_by("/", method="PATCH") == "v3"
    assert m.served_by("/", method="GET") == "v1"
    assert m.served_by("/", method="DELETE") == "v1"


def test_scheme(mesh: StartMesh) -> None:
    m = mesh(["v1", "v2", "v3"], http=[
        to(SVC, "v3", match=[{"scheme": {"exact": "https"}}]),
        to(SVC, "v2", match=[{"scheme": {"exact": "http"}}]),
        FALLBACK,
    ])
    assert m.served_by("/") == "v2"  # the listener speaks plain HTTP


def test_authority_includes_the_port(mesh: StartMesh) -> None:
    fqdn = "svc.default.svc.cluster.local"
    m = mesh(["v1", "v2", "v3"], http=[
        to(SVC, "v2", match=[{"authority": {"exact": "svc:8000"}}]),
        to(SVC, "v3", match=[{"authority": {"regex": r"svc\.default\..*"}}]),
        FALLBACK,
    ])
    assert m.served_by("/", host="svc:8000") == "v2"
    assert m.served_by("/", host=f"{fqdn}:8000") == "v3"
    assert m.served_by("/", host="svc") == "v1"  # no port: not "svc:8000"


def test_headers_exact_prefix_regex_presence(mesh: StartMesh) -> None:
    m = mesh(["v1", "v2", "v3", "v4", "v5"], http=[
        to(SVC, "v2", match=[{"headers": {"x-user": {"exact": "alice"}}}]),
        to(SVC, "v3", match=[{"headers": {"x-user": {"prefix": "bo"}}}]),
        to(SVC, "v4", match=[{"headers": {"x-team": {"regex": "blue|gr[ae]y"}}}]),
        to(SVC, "v5", match=[{"headers": {"x-beta": {}}}]),
        FALLBACK,
    ])
    assert m.served_by("/", headers={"x-user": "alice"}) == "v2"
    assert m.served_by("/", headers={"x-user": "alice2"}) == "v1"
    assert m.served_by("/", headers={"x-user": "Alice"}) == "v1"  # values are case-sensitive
    assert m.served_by("/", headers={"x-user": "bob"}) == "v3"
    assert m.served_by("/", headers={"x-team": "grey"}) == "v4"
    assert m.served_by("/", headers={"x-team": "blue-ish"}) == "v1"  # full match
    assert m.served_by("/", headers={"x-beta": "anything"}) == "v5"
    assert m.served_by("/", headers={"x-beta": ""}) == "v5"
    assert m.served_by("/") == "v1"  # a missing header never matches


def test_header_names_are_case_insensitive(mesh: StartMesh) -> None:
    m = mesh(http=v2_when({"headers": {"x-user": {"exact": "alice"}}}))
    assert m.served_by("/", headers={"X-USER": "alice"}) == "v2"
    assert m.served_by("/", headers={"X-User": "alice"}) == "v2"


def test_without_headers(mesh: StartMesh) -> None:
    m = mesh(["v1", "v2", "v3"], http=[
        to(SVC, "v2", match=[{"withoutHeaders": {"x-debug": {"exact": "1"}},
                              "uri": {"prefix": "/a"}}]),
        # {} in withoutHeaders: the header must be absent
        to(SVC, "v3", match=[{"withoutHeaders": {"x-canary": {}}, "uri": {"prefix": "/b"}}]),
        FALLBACK,
    ])
    assert m.served_by("/a") == "v2"  # absent counts as "" which is not "1"
    assert m.served_by("/a", headers={"x-debug": "0"}) == "v2"
    assert m.served_by("/a", headers={"x-debug": "1"}) == "v1"
    assert m.served_by("/b") == "v3"
    assert m.served_by("/b", headers={"x-canary": "no"}) == "v1"


def test_query_params_match_the_first_value(mesh: StartMesh) -> None:
    m = mesh(["v1", "v2", "v3"], http=[
        to(SVC, "v2", match=[{"queryParams": {"ver": {"exact": "2"}}}]),
        to(SVC, "v3", match=[{"queryParams": {"tag": {"regex": "[a-z]+"}}}]),
        FALLBACK,
    ])
    assert m.served_by("/?ver=2") == "v2"
    assert m.served_by("/p?a=1&ver=2") == "v2"
    assert m.served_by("/?ver=2&ver=1") == "v2"
    assert m.served_by("/?ver=1&ver=2") == "v1"  # only the first value counts
    assert m.served_by("/?ver=22") == "v1"
    assert m.served_by("/?tag=abc") == "v3"
    assert m.served_by("/?tag=abc1") == "v1"
    assert m.served_by("/") == "v1"


def test_port_is_the_addressed_service_port(mesh: StartMesh) -> None:
    m = mesh(["v1", "v2", "v3"], http=[
        to(SVC, "v3", match=[{"port": 9080}]),
        to(SVC, "v2", match=[{"port": 8000}]),
        FALLBACK,
    ])
    assert m.served_by("/", host="svc:8000") == "v2"


def test_first_matching_rule_wins(mesh: StartMesh) -> None:
    m = mesh(["v1", "v2", "v3"], http=[
        to(SVC, "v2", match=[{"uri": {"prefix": "/api"}}]),
        to(SVC, "v3", match=[{"uri": {"prefix": "/api/v3"}}]),  # shadowed by the rule above
        FALLBACK,
    ])
    assert m.served_by("/api/v3/items") == "v2"
    assert m.backends["v3"].count() == 0


def test_or_across_blocks_and_within_a_block(mesh: StartMesh) -> None:
    m = mesh(http=[
        to(SVC, "v2", match=[
            {"uri": {"prefix": "/a"}, "headers": {"x-env": {"exact": "test"}}},
            {"method": {"exact": "DELETE"}},
        ]),
        FALLBACK,
    ])
    assert m.served_by("/a", headers={"x-env": "test"}) == "v2"  # block 1: both hold
    assert m.served_by("/a") == "v1"  # block 1: only one holds
    assert m.served_by("/b", headers={"x-env": "test"}) == "v1"
    assert m.served_by("/b", method="DELETE") == "v2"  # block 2
    assert m.served_by("/a", method="DELETE") == "v2"


def test_no_rule_matches_means_404(mesh: StartMesh) -> None:
    m = mesh(http=[to(SVC, "v2", match=[{"uri": {"prefix": "/only"}}])])
    resp = m.get("/elsewhere")
    assert resp.status_code == 404
    assert m.total_received() == 0


def test_bookinfo_jason_header_rule(mesh: StartMesh) -> None:
    """istio-samples/bookinfo-virtual-service-reviews-jason-v2-v3.yaml, with its own names."""
    http: list[Doc] = [
        {"match": [{"headers": {"end-user": {"exact": "jason"}}}],
         "route": [{"destination": {"host": "reviews", "subset": "v2"}}]},
        {"route": [{"destination": {"host": "reviews", "subset": "v3"}}]},
    ]
    m = mesh(["v1", "v2", "v3"], http=http, host="reviews")
    assert m.spread(5, headers={"end-user": "jason"}) == {"v2": 5}
    assert m.spread(5, headers={"end-user": "JASON"}) == {"v3": 5}
    assert m.spread(5) == {"v3": 5}
    assert m.backends["v1"].count() == 0
