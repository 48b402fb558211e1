"""Match predicates: Istio/Envoy semantics, table-driven, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from shadowmesh.routing.matchers import RequestView, compile_match


@dataclass
class SM:
    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None


@dataclass
class Match:
    name: str | None = None
    uri: SM | None = None
    scheme: SM | None = None
    method: SM | None = None
    authority: SM | None = None
    headers: dict[str, SM] | None = None
    without_headers: dict[str, SM] | None = None
    query_params: dict[str, SM] | None = None
    ignore_uri_case: bool = False
    port: int | None = None


@dataclass
class Req:
    path: str = "/"
    query: str = ""
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    authority: str = "httpbin:8000"
    port: int = 8000

    def view(self) -> RequestView:
        return RequestView(self.method, self.path, self.query, "http", self.authority,
                           self.port, self.headers)


CASES: list[tuple[str, Any, Req, bool]] = [
    ("uri exact", Match(uri=SM(exact="/get")), Req("/get"), True),
    ("uri exact ignores query", Match(uri=SM(exact="/get")), Req("/get", query="a=1"), True),
    ("uri exact is case-sensitive", Match(uri=SM(exact="/get")), Req("/GET"), False),
    ("ignoreUriCase exact", Match(uri=SM(exact="/get"), ignore_uri_case=True), Req("/GET"), True),
    ("ignoreUriCase prefix", Match(uri=SM(prefix="/api"), ignore_uri_case=True),
     Req("/API/x"), True),
    ("ignoreUriCase not for regex", Match(uri=SM(regex="/get"), ignore_uri_case=True),
     Req("/GET"), False),
    ("uri prefix", Match(uri=SM(prefix="/status")), Req("/status/200"), True),
    ("uri prefix miss", Match(uri=SM(prefix="/status")), Req("/stat"), False),
    ("regex is a full match", Match(uri=SM(regex="/st.*")), Req("/status/200"), True),
    ("regex not a search", Match(uri=SM(regex="status")), Req("/status"), False),
    ("regex (?i)", Match(uri=SM(regex="(?i)/GET")), Req("/get"), True),
    ("method", Match(method=SM(exact="POST")), Req(method="POST"), True),
    ("method miss", Match(method=SM(exact="POST")), Req(method="GET"), False),
    ("authority includes port", Match(authority=SM(exact="httpbin:8000")), Req(), True),
    ("authority prefix", Match(authority=SM(prefix="httpbin")), Req(), True),
    ("header exact", Match(headers={"End-User": SM(exact="jason")}),
     Req(headers={"end-user": "jason"}), True),
    ("header missing never matches", Match(headers={"end-user": SM(exact="")}), Req(), False),
    ("header presence {}", Match(headers={"x-a": SM()}), Req(headers={"x-a": ""}), True),
    ("header presence regex *", Match(headers={"x-a": SM(regex="*")}),
     Req(headers={"x-a": "v"}), True),
    ("header presence missing", Match(headers={"x-a": SM()}), Req(), False),
    ("cookie regex", Match(headers={"cookie": SM(regex="^(.*?;)?(SESSIONID=XXX)(;.*)?$")}),
     Req(headers={"cookie": "a=b;SESSIONID=XXX;c=d"}), True),
    ("cookie regex miss", Match(headers={"cookie": SM(regex="^(.*?;)?(SESSIONID=XXX)(;.*)?$")}),
     Req(headers={"cookie": "SESSIONID=YYY"}), False),
    ("withoutHeaders absent value matcher matches",
     Match(without_headers={"x-a": SM(exact="1")}), Req(), True),
    ("withoutHeaders present equal -> no match",
     Match(without_headers={"x-a": SM(exact="1")}), Req(headers={"x-a": "1"}), False),
    ("withoutHeaders present other -> match",
     Match(without_headers={"x-a": SM(exact="1")}), Req(headers={"x-a": "2"}), True),
    ("withoutHeaders {} means absent", Match(without_headers={"x-a": SM()}), Req(), True),
    ("withoutHeaders {} present -> no", Match(without_headers={"x-a": SM()}),
     Req(headers={"x-a": "1"}), False),
    ("query exact", Match(query_params={"v": SM(exact="2")}), Req(query="v=2"), True),
    ("query first value wins", Match(query_params={"v": SM(exact="2")}),
     Req(query="v=1&v=2"), False),
    ("query missing", Match(query_params={"v": SM(exact="2")}), Req(query="w=2"), False),
    ("query presence", Match(query_params={"v": SM()}), Req(query="v="), True),
    ("query decoded", Match(query_params={"q": SM(exact="a b")}), Req(query="q=a+b"), True),
    ("port", Match(port=8000), Req(port=8000), True),
    ("port miss", Match(port=9080), Req(port=8000), False),
    ("AND within block", Match(uri=SM(prefix="/"), method=SM(exact="POST")),
     Req(method="GET"), False),
    ("empty block = catch-all", Match(), Req("/anything"), True),
    # pseudo-headers, which Istio accepts as header names, are the request's own fields
    (":authority header", Match(headers={":authority": SM(prefix="httpbin")}), Req(), True),
    (":authority header miss", Match(headers={":authority": SM(exact="other")}), Req(), False),
    (":method header", Match(headers={":method": SM(exact="POST")}), Req(method="POST"), True),
    (":path has the query", Match(headers={":path": SM(exact="/get?a=1")}),
     Req("/get", query="a=1"), True),
    (":path without a query", Match(headers={":path": SM(exact="/get")}), Req("/get"), True),
    (":scheme header", Match(headers={":scheme": SM(exact="http")}), Req(), True),
    (":status never on a request", Match(headers={":status": SM()}), Req(), False),
    ("withoutHeaders :status {}", Match(without_headers={":status": SM()}), Req(), True),
    ("withoutHeaders :method", Match(without_headers={":method": SM(exact="GET")}), Req(), False),
]


@pytest.mark.parametrize(("case", "match", "req", "expected"), CASES, ids=[c[0] for c in CASES])
def test_match(case: str, match: Match, req: Req, expected: bool) -> None:
    assert compile_match(match)(req.view()) is expected


def test_uri_prefix_recorded_for_rewrite() -> None:
    assert compile_match(Match(uri=SM(prefix="/api"))).uri_prefix == "/api"
    assert compile_match(Match(uri=SM(exact="/x"))).uri_prefix is None
    assert compile_match(Match()).uri_prefix == "/"
