"""The Compare view and the `shadowmesh compare --html` report in Debian's Chromium.

The view's tests run the real page against a stand-in admin server that serves fixed
COMPARE-API.md documents (tests/support/compare_admin.py): the page only consumes that
contract, so this checks its drawing and its writes exactly. The report is opened from a
file, as a person opening an attachment would. Screenshots go to each test's tmp dir.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.admin.test_dashboard_browser import (
    CHROMIUM,
    WAIT_MS,
    Dashboard,
    browser,
    dashboard,
    expect,
)
from tests.support import compare_documents as docs
from tests.support.backends import HttpbinServer
from tests.support.compare_admin import CompareAdmin, CompareAdminServer
from tests.support.proxy import ShadowmeshProcess

from shadowmesh.compare.html_report import REPORT_CSP, collect_report, render_html
from shadowmesh.demo.manifests import AUTHORITY, COMPARISON_YAML, tutorial_yaml

__all__ = ["browser", "dashboard"]  # fixtures shared with the dashboard's browser tests

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"
    ),
]


@pytest.fixture
def admin() -> Iterator[Callable[..., tuple[CompareAdmin, str]]]:
    """`admin(**state)`: a stand-in admin server; (its state, its URL)."""
    servers: list[CompareAdminServer] = []

    def start(**kw: Any) -> tuple[CompareAdmin, str]:
        server = CompareAdminServer(CompareAdmin(**kw)).__enter__()
        servers.append(server)
        return server.state, server.url

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def paths(locator: Any) -> list[str]:
    return [str(p) for p in locator.evaluate_all("(els) => els.map((e) => e.dataset.path)")]


def test_compare_view_shows_the_planted_difference(
    admin: Callable[..., tuple[CompareAdmin, str]],
    dashboard: Callable[[str], Dashboard],
    tmp_path: Path,
) -> None:
    _, url = admin()
    board = dashboard(url)
    page = board.page
    panel = page.locator("#compare-panel")

    # the overall verdict and its reasons
    expect(panel.locator(".cmp-verdict .verdict")).to_have_text("HOLD")
    expect(panel.locator(".cmp-verdict .cmp-reasons li")).to_have_count(2)
    expect(panel.locator(".cmp-headline")).to_contain_text("noise copy to v1 at 100%")

    # the endpoints, ranked as the engine ranked them, with a badge each
    rows = panel.locator(".cmp-endpoints tbody tr")
    expect(rows).to_have_count(3)
    assert rows.evaluate_all("(rs) => rs.map((r) => r.dataset.endpoint)") == [
        docs.JSON_EP, docs.GET_EP, docs.UUID_EP,
    ]  # fmt: skip
    json_row = rows.nth(0)
    expect(json_row.locator("td.diff-rate")).to_have_text("100.0%")
    expect(json_row.locator("td.diff-rate")).to_have_class("diff-rate bad")
    expect(json_row.locator("td.noise-rate")).to_have_text("0.0%")
    get_row = rows.nth(1)
    expect(get_row.locator("td.p50")).to_have_text("1.3 → 41.3")
    expect(get_row.locator("td.p50-change")).to_have_text("+3077%")
    expect(get_row.locator("td.p50-change")).to_have_class("p50-change bad")
    expect(get_row.locator("td.p99")).to_have_text("3.0 → 44.9")
    assert rows.locator("td.decision").all_inner_texts() == ["HOLD", "HOLD", "PROMOTE"]
    expect(rows.nth(2).locator("td.noise-rate")).to_have_text("100.0%")

    # the drill-down opens on the endpoint that differs most: the planted field first
    detail = panel.locator(".cmp-detail")
    expect(detail).to_have_attribute("data-endpoint", docs.JSON_EP)
    expect(detail.locator(".cmp-facts")).to_have_text(
        "120 pairs: 120 different, 0 noise, 0 same · 5xx primary 0 / candidate 0 · "
        "candidate failed 0, timed out 0 · mean size 429 → 428 bytes"
    )
    expect(detail.locator(".cmp-reasons li")).to_have_text(
        ["$.slideshow.author removed in 100.0% of pairs (noise 0.0%)"]
    )
    regression = detail.locator(f'.cmp-fields.compared tr[data-path="{docs.PLANTED}"]')
    expect(regression.locator("td.classification")).to_have_text("regression")
    expect(regression.locator("td.raw-rate")).to_have_text("100.0%")
    expect(regression.locator("td.noise-rate")).to_have_text("0.0%")
    header_noise = detail.locator('tr[data-path="header:x-served-by"] td.classification')
    expect(header_noise).to_have_text("noise")

    # the sample pair: the highlight is on the renamed field, on the side that has it
    primary = detail.locator('.cmp-side[data-side="primary"]')
    candidate = detail.locator('.cmp-side[data-side="candidate"]')
    expect(primary.locator(".cmp-body .j-diff")).to_have_count(1)
    assert paths(primary.locator(".cmp-body .j-diff")) == [docs.PLANTED]
    assert paths(candidate.locator(".cmp-body .j-diff")) == [docs.PLANTED_NEW]
    expect(primary.locator(".cmp-body .j-diff")).to_contain_text('"author": "Yours Truly"')
    expect(candidate.locator(".cmp-body .j-diff")).to_contain_text('"owner": "Yours Truly"')
    # headers and status beside the bodies; the differing header is marked, the rest not
    expect(primary.locator('tr.j-diff[data-header="x-served-by"]')).to_have_count(1)
    expect(primary.locator('tr[data-header="content-type"]')).not_to_have_class("j-diff")
    expect(primary.locator('tr[data-header="authorization"] td')).to_have_text("[redacted]")
    expect(primary.locator(".cmp-status")).to_contain_text("HTTP 200")
    expect(detail.locator(".cmp-sample .note code")).to_have_text("GET /json")

    shot = tmp_path / "compare-json.png"
    panel.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000

    # the slow endpoint: the two distributions apart, the regression stated
    get_row.get_by_role("button", name=docs.GET_EP).click()
    expect(detail).to_have_attribute("data-endpoint", docs.GET_EP)
    chart = detail.locator("figure.cmp-latency svg.cdf")
    expect(chart.locator("polyline")).to_have_count(2)
    assert chart.locator("polyline").evaluate_all(
        "(ls) => ls.map((l) => [l.dataset.side, l.dataset.total])"
    ) == [["primary", "120"], ["candidate", "120"]]
    expect(detail.locator("figure.cmp-latency figcaption .bad")).to_contain_text("p50 +3077%")
    expect(detail.locator(".cmp-field-list")).to_contain_text("No differing fields.")
    # the candidate's line reaches 50% far to the right of the primary's: at x of 41 ms
    xs = chart.locator("polyline").evaluate_all(
        """(ls) => ls.map((l) => {
            const pts = l.getAttribute("points").split(" ").map((p) => p.split(",").map(Number));
            return pts.find(([, y]) => y <= 14 + (1 - 0.5) * (190 - 14 - 34))[0];
        })"""
    )
    assert xs[1] - xs[0] > 100
    chart_shot = tmp_path / "compare-latency.png"
    detail.locator("figure.cmp-latency").screenshot(path=str(chart_shot))

    # per-request values are noise (and volatile ones apart), not regressions
    rows.nth(2).get_by_role("button", name=docs.UUID_EP).click()
    expect(detail).to_have_attribute("data-endpoint", docs.UUID_EP)
    expect(detail.locator('.cmp-fields.compared tr[data-path="$.uuid"] td.classification')
           ).to_have_text("noise")  # fmt: skip
    expect(detail.locator('.cmp-fields.volatile tr[data-path="$.generated_at"]')).to_have_count(1)
    expect(detail.locator(".cmp-fields tr.regression")).to_have_count(0)

    # the traffic graph's mirror edge carries the comparison
    edge = page.locator('#graph .edge.mirror[data-target="workload:default:httpbin-v2"]')
    expect(edge.locator(".cmp-note")).to_have_text("diff 33.3% · p50 +3077% · HOLD")
    expect(page.locator("#graph .edge.primary .cmp-note")).to_have_count(0)
    page.locator("#graph-panel").screenshot(path=str(tmp_path / "graph.png"))

    page.screenshot(path=str(tmp_path / "dashboard-compare.png"), full_page=True)
    board.assert_clean()


def test_ignore_this_field_reapplies_the_comparison(
    admin: Callable[..., tuple[CompareAdmin, str]], dashboard: Callable[[str], Dashboard]
) -> None:
    state, url = admin()
    board = dashboard(url)
    page = board.page
    detail = page.locator("#compare-panel .cmp-detail")
    row = detail.locator(f'tr[data-path="{docs.PLANTED}"]')
    expect(row).to_have_count(1)
    row.get_by_role("button", name=f"Ignore {docs.PLANTED}").click()
    expect(page.locator("#cmp-ignore-result")).to_contain_text(f"Now ignoring {docs.PLANTED}")
    expect(page.locator("#cmp-ignore-result")).to_contain_text(
        "comparison.shadowmesh.io/httpbin configured"
    )
    assert len(state.posted) == 1
    sent = state.posted[0]
    assert sent.content_type == "application/yaml"
    assert sent.origin == url  # a same-origin request, as the admin's write checks want
    assert yaml.safe_load(sent.body) == {
        "apiVersion": "shadowmesh.io/v1alpha1",
        "kind": "Comparison",
        "metadata": {"name": "httpbin", "namespace": "default"},  # no server-written fields
        "spec": {
            "host": "httpbin",
            "candidate": {"subset": "v2"},
            "noise": {"subset": "v1", "percentage": 100},
            "ignore": {"fields": ["$.origin", docs.PLANTED]},
        },
    }
    # the engine stops reporting it: gone from the regressions on the next refresh
    expect(row).to_have_count(0, timeout=WAIT_MS)
    expect(detail.locator(f'tr[data-path="{docs.PLANTED_NEW}"]')).to_have_count(1)

    # a header goes to ignore.headers; the form shows the Comparison as it now is
    detail.get_by_role("button", name="Ignore header:x-served-by").click()
    expect(page.locator("#cmp-ignore-result")).to_contain_text("Now ignoring header:x-served-by")
    assert yaml.safe_load(state.posted[1].body)["spec"]["ignore"] == {
        "fields": ["$.origin", docs.PLANTED],
        "headers": ["x-served-by"],
    }
    expect(page.locator("#cmp-ignore-fields")).to_have_value(f"$.origin\n{docs.PLANTED}")
    expect(page.locator("#cmp-ignore-headers")).to_have_value("x-served-by")
    board.assert_clean()


def test_the_form_writes_a_comparison(
    admin: Callable[..., tuple[CompareAdmin, str]], dashboard: Callable[[str], Dashboard]
) -> None:
    state, url = admin(with_comparison=False)
    board = dashboard(url)
    page = board.page
    expect(page.locator("#cmp-summary")).to_contain_text("No Comparison yet")
    # the mirrored host and its subsets are offered: mirror as candidate, primary as noise
    expect(page.locator("#cmp-host")).to_have_value("httpbin")
    expect(page.locator("#cmp-candidate")).to_have_value("v2")
    expect(page.locator("#cmp-noise")).to_have_value("v1")
    expect(page.locator("#cmp-problems")).to_contain_text("name the Comparison")
    page.get_by_label("Comparison name", exact=True).fill("httpbin")
    page.get_by_label("Noise copy %").fill("20")
    page.get_by_label("Ignored fields (JSONPath, one a line)").fill(
        "$.origin\n$.headers.X-Amzn-Trace-Id"
    )
    expected = {
        "apiVersion": "shadowmesh.io/v1alpha1",
        "kind": "Comparison",
        "metadata": {"name": "httpbin", "namespace": "default"},
        "spec": {
            "host": "httpbin",
            "candidate": {"subset": "v2"},
            "noise": {"subset": "v1", "percentage": 20},
            "ignore": {"fields": ["$.origin", "$.headers.X-Amzn-Trace-Id"]},
        },
    }
    assert yaml.safe_load(page.locator("#cmp-yaml").inner_text()) == expected
    page.get_by_role("button", name="Save Comparison").click()
    expect(page.locator("#cmp-result")).to_contain_text("comparison.shadowmesh.io/httpbin created")
    assert [p.content_type for p in state.posted] == ["application/yaml"]
    assert yaml.safe_load(state.posted[0].body) == expected
    # now in force: the form shows it, and the view shows its report
    expect(page.locator("#cmp-pick")).to_have_value("default/httpbin")
    expect(page.locator("#compare-panel .cmp-verdict .verdict")).to_have_text("HOLD")

    # what keeps it from being sent
    page.locator("#cmp-pick").select_option("")
    page.get_by_label("Mirrored host").fill("")
    page.get_by_label("Noise copy %").fill("150")
    page.get_by_label("Ignored fields (JSONPath, one a line)").fill("origin")
    page.get_by_role("button", name="Save Comparison").click()
    expect(page.locator("#cmp-result")).to_have_attribute("data-outcome", "error")
    assert page.locator("#cmp-problems li").all_inner_texts() == [
        "choose the mirrored host to compare",
        "the noise copy's percentage must be a number from 0 to 100",
        "ignored fields are JSONPaths starting with $: origin",
    ]
    assert len(state.posted) == 1
    board.assert_clean()


def test_without_the_engine_the_view_says_so(
    admin: Callable[..., tuple[CompareAdmin, str]], dashboard: Callable[[str], Dashboard]
) -> None:
    _, url = admin(engine=False)
    board = dashboard(url)
    expect(board.page.locator("#cmp-summary")).to_contain_text("does not compare")
    expect(board.page.locator("#status")).not_to_have_class("status bad")
    board.assert_clean()


PATH_CASES: list[tuple[str, Any]] = [
    ("$.a.b", ["a", "b"]),
    ("$['a'].b", ["a", "b"]),
    ('$["a b"][0]', ["a b", 0]),
    ("$.items[*].id", ["items", "*", "id"]),
    ("$['it\\'s']", ["it's"]),
    ("$", []),
    ("header:content-type", None),
    ("status", None),
    ("$.a[", None),
]


def test_the_drawing_helpers(
    admin: Callable[..., tuple[CompareAdmin, str]], dashboard: Callable[[str], Dashboard]
) -> None:
    _, url = admin(engine=False)
    board = dashboard(url)
    got = board.page.evaluate(
        """async (paths) => {
            const r = await import("/ui/comparerender.js");
            const f = await import("/ui/compareform.js");
            const base = {apiVersion: "shadowmesh.io/v1alpha1", kind: "Comparison",
                          metadata: {name: "c", namespace: "ns", creationTimestamp: "x"},
                          spec: {host: "h", ignore: {headers: ["Date"]}}};
            return {
                paths: paths.map((p) => r.parsePath(p)),
                formatted: r.formatPath(["a b", 0, "c", "it's"]),
                cdf: r.cdf([1, 10], [1, 2, 1]),
                empty: r.cdf([1, 10], [0, 0, 0]),
                signed: [r.signedPercent(0.25), r.signedPercent(-0.05), r.signedPercent(30.77),
                         r.signedPercent(null)],
                ignoredHeader: f.withIgnored(base, "header:X-Foo").spec.ignore,
                ignoredTwice: f.withIgnored(base, "header:date"),
                status: f.withIgnored(base, "status"),
                edge: r.edgeComparison({endpoints: [
                    {pairs: 10, different: 1, latency: {p50_change: -0.5}},
                    {pairs: 30, different: 3, latency: {p50_change: 0.2}}]}),
                bodies: [
                    '{"id": 12345678901234567891, "x": 1.50, "ok": [true, null]}',
                    "[".repeat(200) + "]".repeat(200),
                    "<b>not json</b>",
                ].map((body) => r.renderBody({body, body_encoding: "text"}, [], "primary")
                                 .textContent),
                binary: r.renderBody({body: "AAEC", body_encoding: "base64", truncated: true},
                                     [], "primary").textContent,
            };
        }""",
        [p for p, _ in PATH_CASES],
    )
    assert got["paths"] == [expected for _, expected in PATH_CASES]
    assert got["formatted"] == "$['a b'][0].c['it\\'s']"
    assert got["cdf"] == {"points": [[1, 0.25], [10, 0.75]], "total": 4, "overflow": 1}
    assert got["empty"] is None
    assert got["signed"] == ["+25.0%", "\u22125.0%", "+3077%", "\u2013"]  # minus, en dash
    assert got["ignoredHeader"] == {"headers": ["Date", "x-foo"]}
    assert got["ignoredTwice"] is None and got["status"] is None
    assert got["edge"] == {"pairs": 40, "diffRate": 0.1, "p50Change": -0.5, "decision": None}
    # a backend's numbers as it wrote them, deep nesting cut short, other text as text
    big, deep, text = got["bodies"]
    assert '"id": 12345678901234567891' in big and '"x": 1.50' in big
    assert '"ok": [\n    true,\n    null\n  ]' in big
    assert "nested deeper than 64 levels" in deep and deep.count("[") == 64
    assert text == "<b>not json</b>"
    assert got["binary"] == (
        "3 bytes of binary body (base64 in the sample)\n… truncated at the capture limit"
    )
    board.assert_clean()


# -- the HTML report ------------------------------------------------------------------------


def test_collect_report_reads_the_admin_documents(
    admin: Callable[..., tuple[CompareAdmin, str]],
) -> None:
    _, url = admin()
    summary, fields, samples, latency = collect_report(url, docs.NAMESPACE, docs.NAME)
    assert summary == docs.SUMMARY
    assert fields == docs.FIELDS
    assert latency == docs.LATENCY
    # one sample per endpoint, for its first regression (else its first field)
    assert samples == {docs.JSON_EP: docs.SAMPLES[docs.JSON_EP], docs.GET_EP: [],
                       docs.UUID_EP: docs.SAMPLES[docs.UUID_EP]}  # fmt: skip


def test_the_html_report_opens_offline_and_shows_the_planted_difference(
    browser: Any, tmp_path: Path
) -> None:
    summary = {**docs.SUMMARY, "verdict": {**docs.SUMMARY["verdict"]}}
    hostile = '</script><script>document.title="owned"</script><!--'
    summary["verdict"]["reasons"] = [*summary["verdict"]["reasons"], hostile]
    report = tmp_path / "report.html"
    report.write_text(render_html(summary, docs.FIELDS, docs.SAMPLES, docs.LATENCY),
                      encoding="utf-8")  # fmt: skip
    assert REPORT_CSP in report.read_text(encoding="utf-8")

    context = browser.new_context(viewport={"width": 1280, "height": 800}, offline=True)
    try:
        page = context.new_page()
        errors: list[str] = []
        requests: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(report.as_uri())
        expect(page.locator("body")).to_have_attribute("data-rendered", "true")
        assert errors == []
        assert requests == [report.as_uri()]  # nothing but the file itself
        assert page.title() == "shadowmesh comparison default/httpbin: HOLD"
        expect(page.locator(".cmp-verdict .verdict")).to_have_text("HOLD")
        expect(page.locator(".cmp-verdict .cmp-reasons li").last).to_have_text(hostile)
        # every endpoint's detail is there at once
        details = page.locator("section.cmp-detail")
        assert details.evaluate_all("(ds) => ds.map((d) => d.dataset.endpoint)") == [
            docs.JSON_EP, docs.GET_EP, docs.UUID_EP,
        ]  # fmt: skip
        json_detail = details.nth(0)
        regression = json_detail.locator(f'tr[data-path="{docs.PLANTED}"] td.classification')
        expect(regression).to_have_text("regression")
        marked = json_detail.locator('.cmp-side[data-side="primary"] .cmp-body .j-diff')
        assert paths(marked) == [docs.PLANTED]
        expect(marked).to_be_visible()
        expect(details.nth(1).locator("svg.cdf polyline")).to_have_count(2)
        expect(page.locator("button.ignore")).to_have_count(0)  # nothing to write to
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    finally:
        context.close()


# -- against a real shadowmesh with httpbin v1 and a v2 with the demo's planted change -------


@pytest.fixture
def planted_mesh(tmp_path: Path) -> Iterator[ShadowmeshProcess]:
    """httpbin v1, v2 behind demo/planted.py, and shadowmesh mirroring 100% of v1's traffic."""
    v2_app = "shadowmesh.demo.planted:planted_httpbin()"
    with (
        HttpbinServer("v1", tmp_path) as v1,
        HttpbinServer("v2", tmp_path, app=v2_app) as v2,
        ShadowmeshProcess(tutorial_yaml({"v1": v1.port, "v2": v2.port}, mirror=True),
                          tmp_path / "proxy") as proxy,
    ):  # fmt: skip
        yield proxy


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_compare_view_on_a_real_mesh(
    planted_mesh: ShadowmeshProcess, dashboard: Callable[[str], Dashboard], tmp_path: Path
) -> None:
    proxy = planted_mesh
    applied = httpx.post(f"{proxy.admin_url}/api/v1/resources", content=COMPARISON_YAML,
                         headers={"Content-Type": "application/yaml"}, trust_env=False,
                         timeout=10)  # fmt: skip
    assert applied.status_code == 200, applied.text
    # (a server without the engine ignores the kind it does not know, and has no such route)
    assert proxy.admin_get("/api/v1/comparisons").status_code == 200

    def send(n: int) -> None:
        with httpx.Client(base_url=proxy.url, trust_env=False, timeout=10) as client:
            for _ in range(n):
                for path in ("/json", "/get", "/uuid"):
                    assert client.get(path, headers={"Host": AUTHORITY}).status_code == 200

    send(40)
    board = dashboard(proxy.admin_url)
    page = board.page
    panel = page.locator("#compare-panel")
    row = panel.locator(f'.cmp-endpoints tr[data-endpoint="{docs.JSON_EP}"]')
    expect(row.locator("td.diff-rate")).to_have_class("diff-rate bad", timeout=WAIT_MS)
    expect(panel.locator(".cmp-verdict .verdict")).to_have_text("HOLD", timeout=WAIT_MS)
    row.get_by_role("button", name=docs.JSON_EP).click()
    detail = panel.locator(".cmp-detail")
    field = detail.locator(f'.cmp-fields tr.regression[data-path="{docs.PLANTED}"]')
    expect(field).to_have_count(1, timeout=WAIT_MS)
    primary = detail.locator('.cmp-side[data-side="primary"] .cmp-body .j-diff')
    expect(primary.first).to_be_visible()
    assert docs.PLANTED in paths(primary)
    candidate = detail.locator('.cmp-side[data-side="candidate"] .cmp-body .j-diff')
    assert docs.PLANTED_NEW in paths(candidate)
    assert not any("uuid" in p for p in paths(primary))
    get_row = panel.locator(f'.cmp-endpoints tr[data-endpoint="{docs.GET_EP}"]')
    expect(get_row.locator("td.p50-change")).to_have_class("p50-change bad")
    page.screenshot(path=str(tmp_path / "compare-real.png"), full_page=True)

    field.get_by_role("button", name=f"Ignore {docs.PLANTED}").click()
    expect(page.locator("#cmp-ignore-result")).to_contain_text(f"Now ignoring {docs.PLANTED}")
    stored = proxy.admin_get("/api/v1/resources/Comparison/default/httpbin").json()
    assert docs.PLANTED in stored["spec"]["ignore"]["fields"]
    send(10)
    expect(field).to_have_count(0, timeout=WAIT_MS)
    page.screenshot(path=str(tmp_path / "compare-real-ignored.png"), full_page=True)
    board.assert_clean()
