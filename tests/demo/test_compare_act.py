"""Step 3's claims, checked on the engine's documents (the contract's shape, COMPARE-API.md),
and its reads of the admin API against the stand-in admin server."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support import compare_documents as docs
from tests.support.compare_admin import CompareAdmin, CompareAdminServer

from shadowmesh.demo import compare_act
from shadowmesh.demo.compare_act import (
    check_comparison,
    check_report,
    has_engine,
    read_documents,
    run_cli,
)

Docs = tuple[dict[str, Any], dict[str, list[Any]]]


def planted() -> Docs:
    """The documents of a comparison that found exactly the planted changes."""
    return copy.deepcopy(docs.SUMMARY), copy.deepcopy(docs.FIELDS)


def test_the_fixture_is_the_planted_change() -> None:
    assert compare_act.PATHS == ("/json", "/get", "/uuid")
    assert compare_act.PLANTED_PATHS == (docs.PLANTED, docs.PLANTED_NEW)
    checks = check_comparison(*planted(), 1)
    assert [c.ok for c in checks] == [True] * 5, checks
    assert [c.message for c in checks] == [
        f"the renamed field is a regression on GET /json: {docs.PLANTED}, {docs.PLANTED_NEW}",
        "GET /get is flagged slower (p50 1.3 ms on v1, 41.3 ms on v2, mann-whitney-u p=1e-30)",
        "httpbin's per-request $.uuid on GET /uuid is noise, not a regression",
        "nothing else differs in content",
        "the verdict is HOLD (`shadowmesh compare --verdict` exit status 1)",
    ]


def _no_rename(s: dict[str, Any], f: dict[str, list[Any]]) -> None:
    f[docs.JSON_EP] = [x for x in f[docs.JSON_EP] if x["classification"] != "regression"]


def _not_slower(s: dict[str, Any], f: dict[str, list[Any]]) -> None:
    s["endpoints"][1]["latency"]["regression"] = False


def _uuid_regression(s: dict[str, Any], f: dict[str, list[Any]]) -> None:
    f[docs.UUID_EP][0]["classification"] = "regression"


def _host_echo(s: dict[str, Any], f: dict[str, list[Any]]) -> None:
    f[docs.GET_EP] = [{"endpoint": docs.GET_EP, "path": "$.headers.Host", "kind": "changed",
                       "diffs": 9, "raw_rate": 1.0, "noise_rate": 0.0,
                       "classification": "regression"}]  # fmt: skip


def _uuid_slower(s: dict[str, Any], f: dict[str, list[Any]]) -> None:
    s["endpoints"][2]["latency"]["regression"] = True


def _promote(s: dict[str, Any], f: dict[str, list[Any]]) -> None:
    s["verdict"]["decision"] = "PROMOTE"


def test_another_endpoint_slower_is_reported_not_failed() -> None:
    # a few-millisecond endpoint's latency drifts on a busy machine: said, not failed
    summary, fields = planted()
    _uuid_slower(summary, fields)
    checks = check_comparison(summary, fields, 1)
    assert all(c.ok for c in checks), checks
    assert checks[3].message == ("nothing else differs in content (latency also flagged on a "
                                 "busy machine: GET /uuid)")


@pytest.mark.parametrize(
    ("change", "exit_status", "failed"),
    [
        pytest.param(_no_rename, 1, {0: "no regression on GET /json names"}, id="rename missed"),
        pytest.param(_not_slower, 1, {1: "GET /get is not flagged slower"}, id="latency missed"),
        pytest.param(_uuid_regression, 1,
                     {2: "$.uuid on GET /uuid is classified 'regression'",
                      3: "also reported: GET /uuid $.uuid"}, id="noise taken for a regression"),
        pytest.param(_host_echo, 1, {3: "also reported: GET /get $.headers.Host"},
                     id="the shadow Host echo reported"),
        pytest.param(_promote, 0, {4: "the verdict is PROMOTE with exit status 0"},
                     id="PROMOTE"),
        pytest.param(lambda s, f: None, 2, {4: "the verdict is HOLD with exit status 2"},
                     id="the verdict command failed"),
    ],
)  # fmt: skip
def test_each_claim_can_fail(
    change: Callable[[dict[str, Any], dict[str, list[Any]]], None],
    exit_status: int,
    failed: dict[int, str],
) -> None:
    summary, fields = planted()
    change(summary, fields)
    checks = check_comparison(summary, fields, exit_status)
    assert {i for i, c in enumerate(checks) if not c.ok} == set(failed)
    for i, words in failed.items():
        assert checks[i].message.startswith(words), checks[i].message


@pytest.fixture
def admin() -> Iterator[Callable[..., str]]:
    servers: list[CompareAdminServer] = []

    def start(**kw: Any) -> str:
        servers.append(CompareAdminServer(CompareAdmin(**kw)).__enter__())
        return servers[-1].url

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def test_reads_the_admin_api(admin: Callable[..., str], tmp_path: Path) -> None:
    with_engine, without = admin(), admin(engine=False)
    assert has_engine(with_engine) and not has_engine(without)
    summary, fields = read_documents(with_engine)
    assert summary == docs.SUMMARY and fields == docs.FIELDS
    assert [c.ok for c in check_comparison(summary, fields, None)] == [True] * 5
    # the page, as the step writes it: with the real `shadowmesh compare --html`
    report = tmp_path / "report.html"
    assert not check_report(report, 0).ok
    status, said = run_cli(compare_act.compare_argv(with_engine, "--html", str(report)),
                           tmp_path)
    assert status == 0, said
    text = report.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and f"from {with_engine}" in text
    assert check_report(report, status).ok
    assert not check_report(report, 2).ok
