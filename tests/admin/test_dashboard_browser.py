"""The dashboard in a real headless browser: Debian's Chromium driven by Playwright.

The main scenario runs against a real `shadowmesh run` with the tutorial's httpbin v1/v2
under gunicorn: the graph shows the service and both versions, the form creates a 100%
mirror to v2, the mirror edge and the mirror counts appear, an invalid percentage shows
Istio's message and changes nothing, and the logs mark the shadow lines. The form's YAML, the
token and the refresh controls are checked against the in-memory control plane double.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.admin.double import FakeControlPlane
from tests.admin.test_app import DR
from tests.admin.test_commands import AdminThread
from tests.admin.test_e2e_admin import ROUTE_V1, mesh_yaml
from tests.support.backends import HttpbinServer
from tests.support.proxy import ShadowmeshProcess

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
# Generous: a 2-core machine shared with other test runs.
WAIT_MS = 20_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"
    ),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright's Python package")
expect = sync_api.expect

SVC = "httpbin.default.svc.cluster.local"
HOST = "httpbin:8000"


class Dashboard:
    """One page of the dashboard, and what it did that it should not have."""

    def __init__(self, page: Any, origin: str) -> None:
        self.page = page
        self.origin = origin
        self.foreign: list[str] = []
        self.errors: list[str] = []
        page.set_default_timeout(WAIT_MS)
        page.on("request", self._request)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        page.on("console", self._console)

    def _request(self, request: Any) -> None:
        if not request.url.startswith(self.origin + "/"):
            self.foreign.append(request.url)

    def _console(self, message: Any) -> None:
        # A 422 or 403 answer is logged by the browser itself; the page shows it.
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.errors.append(message.text)

    def open(self) -> Dashboard:
        self.page.goto(self.origin + "/")
        expect(self.page.locator("#status")).to_contain_text("Updated", timeout=WAIT_MS)
        return self

    def assert_clean(self) -> None:
        assert self.foreign == [], "the page fetched something from outside the admin server"
        assert self.errors == []


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def dashboard(browser: Any) -> Iterator[Callable[[str], Dashboard]]:
    contexts: list[Any] = []

    def open_dashboard(origin: str) -> Dashboard:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        contexts.append(context)
        return Dashboard(context.new_page(), origin).open()

    yield open_dashboard
    for context in contexts:
        context.close()


@pytest.fixture
def double(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., AdminThread]]:
    """`double(token=None)`: the admin API over the in-memory control plane, in a thread."""
    monkeypatch.delenv("SHADOWMESH_ADMIN_TOKEN", raising=False)
    servers: list[AdminThread] = []

    def start(control: FakeControlPlane, token: str | None = None) -> AdminThread:
        servers.append(AdminThread(control, token))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def send(proxy: ShadowmeshProcess, n: int) -> None:
    with httpx.Client(base_url=proxy.url, trust_env=False, timeout=10) as client:
        for _ in range(n):
            assert client.get("/get", headers={"Host": HOST}).status_code == 200


def wait_until(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def fill_new_rule(page: Any, percentage: str, **annotations: str) -> None:
    """A new VirtualService `httpbin`: 100% to v1, mirror to v2."""
    page.get_by_label("VirtualService", exact=True).select_option("")
    page.get_by_label("Name", exact=True).fill("httpbin")
    page.locator("#rule-host").fill("httpbin")
    page.locator("#primary-subset").select_option("v1")
    page.locator("#mirror-subset").select_option("v2")
    page.get_by_label("Percentage of requests mirrored").fill(percentage)
    for field, value in annotations.items():
        page.locator(f"#ann-{field}").fill(value)


# -- against a real shadowmesh with httpbin v1/v2 --------------------------------------------


@pytest.fixture
def proxy(httpbin_pair: dict[str, HttpbinServer], tmp_path: Path) -> Iterator[ShadowmeshProcess]:
    # No VirtualService yet: requests are balanced across both versions.
    config = mesh_yaml(httpbin_pair["v1"].port, httpbin_pair["v2"].port)
    config = config.replace("---\n" + ROUTE_V1, "")
    assert "VirtualService" not in config
    logs = tmp_path / "logs"
    with ShadowmeshProcess(config, tmp_path / "proxy", args=("--access-log", f"{logs}/")) as p:
        yield p


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_create_a_mirror_rule_and_watch_it_work(
    proxy: ShadowmeshProcess, dashboard: Callable[[str], Dashboard], tmp_path: Path
) -> None:
    # Balanced by Istio's default LEAST_REQUEST, i.e. at random between idle hosts: 40
    # requests leave both versions without traffic with probability 2**-39.
    send(proxy, 40)
    board = dashboard(proxy.admin_url)
    page = board.page
    graph = page.locator("#graph")
    for node in ("service:default:httpbin", "workload:default:httpbin-v1",
                 "workload:default:httpbin-v2"):  # fmt: skip
        expect(graph.locator(f'.node[data-id="{node}"]')).to_be_visible()
    expect(graph.locator(".edge.mirror")).to_have_count(0)
    expect(graph.locator(".edge.primary").first).to_contain_text("req/s")

    fill_new_rule(page, "100", **{"set-headers": "x-shadow=1"})
    assert yaml.safe_load(page.locator("#rule-yaml").inner_text()) == {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {
            "name": "httpbin",
            "namespace": "default",
            "annotations": {"shadowmesh.io/mirror-set-headers": "x-shadow=1"},
        },
        "spec": {
            "hosts": ["httpbin"],
            "http": [
                {
                    "route": [{"destination": {"host": "httpbin", "subset": "v1"}, "weight": 100}],
                    "mirror": {"host": "httpbin", "subset": "v2"},
                    "mirrorPercentage": {"value": 100},
                }
            ],
        },
    }
    page.get_by_role("button", name="Apply").click()
    result = page.locator("#apply-result")
    expect(result).to_contain_text("virtualservice.networking.istio.io/httpbin created")
    expect(result).to_have_attribute("data-outcome", "ok")
    # the form now shows the rule in force
    expect(page.get_by_label("VirtualService", exact=True)).to_have_value("default/httpbin")
    expect(page.locator("#mirror-rules")).to_contain_text(
        "default/httpbin rule #0: route httpbin/v1 → mirror httpbin/v2 at 100%"
    )

    send(proxy, 10)
    mirror_edge = graph.locator('.edge.mirror[data-target="workload:default:httpbin-v2"]')
    expect(mirror_edge).to_have_count(1, timeout=WAIT_MS)
    expect(mirror_edge).to_contain_text("mirror")
    expect(mirror_edge).to_contain_text("req/s")
    dashes = mirror_edge.locator("path").evaluate("p => getComputedStyle(p).strokeDasharray")
    assert dashes not in ("", "none")
    primary_edge = graph.locator('.edge.primary[data-target="workload:default:httpbin-v1"]')
    solid = primary_edge.locator("path").evaluate("p => getComputedStyle(p).strokeDasharray")
    assert solid == "none"

    row = page.locator(f'#mirror-rows tr[data-service="{SVC}"]')
    expect(row.locator("td.sent")).to_have_text("10", timeout=WAIT_MS)
    expect(row.locator("td.succeeded")).to_have_text("10")
    expect(row.locator("td.failed")).to_have_text("0")
    expect(row.locator("td.skipped")).to_have_text("0")
    assert proxy.metric("shadowmesh_mirror_requests_total", {"outcome": "sent"}) == 10

    # an invalid percentage: Istio's message beside the form, and the rule stays as it was
    before = proxy.admin_get("/api/v1/resources/vs/default/httpbin").json()
    page.get_by_label("Percentage of requests mirrored").fill("150")
    page.get_by_role("button", name="Apply").click()
    expect(result).to_have_attribute("data-outcome", "error")
    expect(result).to_contain_text(
        "mirror_percentage must have a max value of 100 (it has 150.000000)"
    )
    expect(result).to_contain_text("nothing changed")
    expect(page.get_by_label("Percentage of requests mirrored")).to_have_attribute(
        "aria-invalid", "true"
    )
    after = proxy.admin_get("/api/v1/resources/vs/default/httpbin").json()
    assert after == before and after["spec"]["http"][0]["mirrorPercentage"] == {"value": 100}
    expect(page.locator("#mirror-rules")).to_contain_text("at 100%")

    # the logs: v2 received only shadow copies since the rule, each marked as such
    page.get_by_label("Workload").select_option("httpbin-v2")
    shadow_lines = page.locator("#log-lines li.shadow")
    expect(shadow_lines.first).to_contain_text('"httpbin-shadow:8000"', timeout=WAIT_MS)
    expect(shadow_lines.first.locator(".badge")).to_have_text("shadow")
    page.get_by_label("Workload").select_option("httpbin-v1")
    expect(page.locator("#log-lines li").first).to_contain_text('"httpbin:8000"')
    expect(page.locator("#log-lines li.shadow")).to_have_count(0)

    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    board.assert_clean()


# -- against the in-memory double ------------------------------------------------------------

VS_TWO_RULES: dict[str, Any] = {
    "apiVersion": "networking.istio.io/v1beta1",
    "kind": "VirtualService",
    "metadata": {
        "name": "reviews",
        "namespace": "prod",
        "labels": {"app": "reviews"},
        "annotations": {"shadowmesh.io/mirror-methods": "GET", "team": "a"},
        "creationTimestamp": "2026-11-21T19:40:01Z",
    },
    "spec": {
        "hosts": ["reviews"],
        "http": [
            {"match": [{"uri": {"prefix": "/old"}}], "redirect": {"uri": "/new"}},
            {
                "route": [
                    {"destination": {"host": "reviews", "subset": "v1"}, "weight": 90},
                    {"destination": {"host": "reviews", "subset": "v3"}, "weight": 10},
                ],
                "mirrors": [{"destination": {"host": "reviews", "subset": "v2"}}],
                "timeout": "5s",
            },
        ],
    },
}
SAME_ROUTE: dict[str, Any] = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "VirtualService",
    "metadata": {"name": "httpbin", "namespace": "default"},
    "spec": {
        "hosts": ["httpbin"],
        "http": [
            {
                "route": [
                    {"destination": {"host": "httpbin", "subset": "v1", "port": {"number": 8000}}}
                ],
                "mirrorPercent": 50,
            }
        ],
    },
}


def choices(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "", "namespace": "default", "host": "", "ruleIndex": 0,
        "primary": {"host": "httpbin", "subset": "v1"},
        "mirror": {"host": "httpbin", "subset": "v2", "port": ""},
        "percentage": "100",
        "annotations": {"hostSuffix": "", "methods": "", "setHeaders": ""},
    }  # fmt: skip
    base.update(kw)
    return base


BUILD_CASES = [
    pytest.param(
        None,
        choices(
            name="web",
            host="web.example.com",
            percentage="0.5",
            primary={"host": "web", "subset": ""},
            mirror={"host": "web-next", "subset": "", "port": "9080"},
            annotations={
                "hostSuffix": "false",
                "methods": "GET,HEAD",
                "setHeaders": "x-shadow=1, x-env=test",
            },
        ),
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {
                "name": "web",
                "namespace": "default",
                "annotations": {
                    "shadowmesh.io/shadow-host-suffix": "false",
                    "shadowmesh.io/mirror-methods": "GET,HEAD",
                    "shadowmesh.io/mirror-set-headers": "x-shadow=1, x-env=test",
                },
            },
            "spec": {
                "hosts": ["web.example.com"],
                "http": [
                    {
                        "route": [{"destination": {"host": "web"}, "weight": 100}],
                        "mirror": {"host": "web-next", "port": {"number": 9080}},
                        "mirrorPercentage": {"value": 0.5},
                    }
                ],
            },
        },
        [],
        id="new VirtualService, port, decimals, annotations as strings",
    ),
    pytest.param(
        VS_TWO_RULES,
        choices(
            ruleIndex=1,
            percentage="25",
            primary={"host": "reviews", "subset": "v1"},
            mirror={"host": "reviews", "subset": "v2", "port": ""},
        ),
        {
            "apiVersion": "networking.istio.io/v1beta1",
            "kind": "VirtualService",
            "metadata": {
                "name": "reviews",
                "namespace": "prod",
                "labels": {"app": "reviews"},
                "annotations": {"team": "a"},
            },
            "spec": {
                "hosts": ["reviews"],
                "http": [
                    VS_TWO_RULES["spec"]["http"][0],
                    {
                        "route": [
                            {"destination": {"host": "reviews", "subset": "v1"}, "weight": 100}
                        ],
                        "mirror": {"host": "reviews", "subset": "v2"},
                        "timeout": "5s",
                        "mirrorPercentage": {"value": 25},
                    },
                ],
            },
        },
        [],
        id="existing rule: other rules kept, mirrors replaced, emptied annotation removed",
    ),
    pytest.param(
        SAME_ROUTE,
        choices(percentage="150"),
        {
            **SAME_ROUTE,
            "spec": {
                "hosts": ["httpbin"],
                "http": [
                    {
                        "route": SAME_ROUTE["spec"]["http"][0]["route"],
                        "mirror": {"host": "httpbin", "subset": "v2"},
                        "mirrorPercentage": {"value": 150},
                    }
                ],
            },
        },
        [],
        id="a route already to the primary stays; out of range is left to the server",
    ),
    pytest.param(
        None,
        choices(
            percentage="lots",
            primary={"host": "", "subset": ""},
            mirror={"host": "b", "subset": "", "port": "80.5"},
        ),
        None,
        [
            "name the new VirtualService",
            "give the host the new VirtualService serves",
            "choose the primary destination host",
            "the percentage must be a number (0-100, decimals allowed)",
            "the mirror port must be a whole number",
        ],
        id="what keeps it from being sent",
    ),
]


@pytest.mark.parametrize(("base", "chosen", "expected", "problems"), BUILD_CASES)
def test_the_form_builds_istio_yaml(
    double: Callable[..., AdminThread],
    dashboard: Callable[[str], Dashboard],
    base: dict[str, Any] | None,
    chosen: dict[str, Any],
    expected: dict[str, Any] | None,
    problems: list[str],
) -> None:
    board = dashboard(double(FakeControlPlane()).url)
    built = board.page.evaluate(
        """async ([base, choices]) => {
            const m = await import("/ui/rulebuild.js");
            const { vs, problems } = m.buildVirtualService(base, choices);
            return { yaml: m.toYaml(vs), problems };
        }""",
        [base, chosen],
    )
    assert built["problems"] == problems
    if expected is not None:
        assert yaml.safe_load(built["yaml"]) == expected
    board.assert_clean()


def test_every_control_has_a_label(
    double: Callable[..., AdminThread], dashboard: Callable[[str], Dashboard]
) -> None:
    page = dashboard(double(FakeControlPlane()).url).page
    unlabelled = page.evaluate(
        """[...document.querySelectorAll("input, select, textarea")]
            .filter((e) => !e.labels || e.labels.length === 0).map((e) => e.id)"""
    )
    assert unlabelled == []
    assert page.locator("main section h2").all_inner_texts() == [
        "Traffic graph", "Mirroring", "Create a mirroring rule", "Compare", "Compare a mirror",
        "Access logs",
    ]  # fmt: skip


def test_writes_need_the_token_the_server_asks_for(
    double: Callable[..., AdminThread], dashboard: Callable[[str], Dashboard]
) -> None:
    control = FakeControlPlane()
    control.apply_text(DR, "dr.yaml")
    board = dashboard(double(control, token="s3cret").url)
    page = board.page
    # subsets come from the DestinationRule
    fill_new_rule(page, "100")
    expect(page.locator("#mirror-subset option")).to_have_text(
        ["none (every endpoint)", "v1", "v2"]
    )
    page.get_by_role("button", name="Apply").click()
    result = page.locator("#apply-result")
    expect(result).to_have_attribute("data-outcome", "error")
    expect(result).to_contain_text("Authorization: Bearer")
    assert ("VirtualService", "default", "httpbin") not in control.store

    page.get_by_label("Admin token (when the server requires one)").fill("s3cret")
    page.get_by_role("button", name="Apply").click()
    expect(result).to_contain_text("virtualservice.networking.istio.io/httpbin created")
    stored = control.store[("VirtualService", "default", "httpbin")]
    assert stored.spec["http"][0]["mirror"] == {"host": "httpbin", "subset": "v2"}
    # kept for this tab: a reload fills the field again
    assert page.evaluate("sessionStorage.getItem('shadowmesh.adminToken')") == "s3cret"
    page.reload()
    expect(page.get_by_label("Admin token (when the server requires one)")).to_have_value("s3cret")
    board.assert_clean()


def test_pause_stops_the_refresh_and_the_window_is_asked_for(
    double: Callable[..., AdminThread], dashboard: Callable[[str], Dashboard]
) -> None:
    board = dashboard(double(FakeControlPlane()).url)
    page = board.page
    graph_fetches: list[str] = []

    def count(request: Any) -> None:
        if "/api/v1/graph" in request.url:
            graph_fetches.append(request.url)

    page.on("request", count)
    pause = page.get_by_role("button", name="Pause updates")
    pause.click()
    expect(page.get_by_role("button", name="Resume updates")).to_have_attribute(
        "aria-pressed", "true"
    )
    page.wait_for_timeout(500)  # a refresh under way when we clicked may still finish
    seen = len(graph_fetches)
    page.wait_for_timeout(4500)  # more than two refresh periods
    assert len(graph_fetches) == seen

    with page.expect_request(lambda r: "/api/v1/graph?window=5m" in r.url):
        page.get_by_label("Window").select_option("5m")
    with page.expect_request(lambda r: "/api/v1/graph?window=5m" in r.url, timeout=WAIT_MS):
        page.get_by_role("button", name="Resume updates").click()
    board.assert_clean()
