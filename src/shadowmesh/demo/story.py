"""The walkthrough: start everything, step 1 (default route), step 2 (mirror), step 3
(compare v2 with v1), where things are.

Steps 1 and 2 check what they show against the httpbin access logs, step 3 against the
comparison's documents: a step whose check fails makes the run fail (exit status 1), so the
demo doubles as an end-to-end test of the mirroring and comparison paths with a real backend.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shadowmesh.demo import DemoError, compare_act
from shadowmesh.demo.backends import HttpbinBackend, start_httpbins
from shadowmesh.demo.checks import (
    Check,
    check_answers,
    check_default_route,
    check_mirror,
    pair_by_request_id,
)
from shadowmesh.demo.logs import (
    HttpbinLine,
    read_httpbin_log,
    read_proxy_lines_for,
    requests_to,
)
from shadowmesh.demo.manifests import AUTHORITY, Manifests, write_manifests
from shadowmesh.demo.output import Printer, load_summary
from shadowmesh.demo.processes import Children
from shadowmesh.demo.proxy import COMPARE_STORE, ProxyProcess, apply_yaml, start_proxy
from shadowmesh.loadgen import LoadConfig, LoadResult, TargetError, run_load_sync
from shadowmesh.loadgen.config import format_duration

LOAD_PATH = "/headers"  # httpbin echoes the request headers: the copy's Host shows there too
SETTLE_TIMEOUT_S = 2.0  # copies still in flight when the load ends
SETTLE_QUIET_S = 0.3
SHOWN_LINES = 3
WATCH_INTERVAL_S = 0.5


@dataclass(frozen=True, slots=True)
class DemoOptions:
    workdir: Path
    duration: float = 10.0
    qps: float = 5.0
    keep_running: bool = False


def _display(path: Path) -> str:
    """A path as the user would type it: relative to the current directory when inside it."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


class Story:
    def __init__(self, options: DemoOptions, printer: Printer, children: Children) -> None:
        self.options = options
        self.p = printer
        self.children = children
        self.workdir = options.workdir.resolve()
        self.backends: dict[str, HttpbinBackend] = {}
        self.files = Manifests(self.workdir)
        self.proxy_log = self.workdir / "proxy.access.log"
        self._proxy: ProxyProcess | None = None
        self.compared = False  # step 3 ran (the proxy has the comparison engine)

    @property
    def proxy(self) -> ProxyProcess:
        assert self._proxy is not None, "the proxy is started first"
        return self._proxy

    # -- the whole story -------------------------------------------------------------------
    def run(self) -> bool:
        """True when every check held."""
        self.start()
        ok = self.default_route()
        ok = self.mirror() and ok
        ok = self.compare() and ok
        self.where_things_are()
        return ok

    def start(self) -> None:
        self.p.title('shadowmesh demo: the Istio "Mirroring" task with real httpbin v1 and v2')
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.p.blank()
        self.p.say("Starting httpbin v1 and v2 (PyPI's httpbin under gunicorn), the task's two "
                   "Deployments:")
        self.backends = start_httpbins(self.children, self.workdir)
        for b in self.backends.values():
            self.p.item(b.name, f"{b.url}  pid {b.child.pid}  log {_display(b.access_log)}")
        self.p.say(*compare_act.planted_announcement())
        ports = {version: b.port for version, b in self.backends.items()}
        self.files = write_manifests(self.workdir, ports)
        self.p.blank()
        self.p.say(f"Wrote the task's YAML to {_display(self.workdir)}/ (yours to read and edit):")
        for path in self.files.all:
            self.p.detail(path.name)
        self.p.blank()
        self.p.say("Starting the proxy with the services, the subsets and the v1 route:")
        self.p.command("shadowmesh run " + " ".join(f"-f {_display(f)}" for f in self.files.initial)
                       + f" --access-log {_display(self.proxy_log)}")
        self._proxy = start_proxy(self.children, self.files.initial, self.workdir, self.proxy_log)
        self.p.item("proxy", f"{self.proxy.url}  pid {self.proxy.child.pid}")
        self.p.item("admin", self.proxy.admin_url)

    # -- step 1 ----------------------------------------------------------------------------
    def default_route(self) -> bool:
        self.p.step(1, "default route")
        self.p.say(
            f"{self.files.route_v1.name} routes 100% of the requests for httpbin to subset v1",
            "(DestinationRule subsets pick workloads by their `version` label).",
            "Send load through the proxy, as the task does with fortio from the sleep pod:",
        )
        offsets = self._offsets()
        result = self._load()
        v1, v2 = self._settle(offsets, expect_v2=False, answered=result.status_codes.get(200, 0))
        self._show_logs(v1, v2)
        self.p.detail(f"httpbin-v1 received {len(v1)}, httpbin-v2 received {len(v2)}")
        checks = [check_answers(result.status_codes, result.errors),
                  *check_default_route(v1, v2, result.status_codes.get(200, 0))]
        return self._report(checks)

    # -- step 2 ----------------------------------------------------------------------------
    def mirror(self) -> bool:
        self.p.step(2, "mirror")
        route = self.files.route_mirror
        self.p.say(
            f"{route.name} keeps 100% on v1 and adds `mirror: {{host: httpbin, subset: v2}}`",
            "with `mirrorPercentage: {value: 100.0}`: every request is also copied to v2, whose",
            "answer is thrown away. Apply it through the admin API (like `kubectl apply -f`):",
        )
        self.p.command(f"shadowmesh apply -f {_display(route)} --admin {self.proxy.admin_url}")
        applied = apply_yaml(self.proxy.admin_url, route.read_text(encoding="utf-8"), route.name)
        for line in applied.changed:
            self.p.detail(line)
        for warning in applied.warnings:
            self.p.detail(f"Warning: {warning}")
        if not applied.ok:
            raise DemoError(f"the admin API rejected {route.name}: " + "; ".join(applied.errors))
        self.p.say("Send the same load again:")
        offsets = self._offsets()
        result = self._load()
        answered = result.status_codes.get(200, 0)
        v1, v2 = self._settle(offsets, expect_v2=True, answered=answered)
        self._show_mirrored_logs(v1, v2)
        self.p.detail(f"httpbin-v1 received {len(v1)}, httpbin-v2 received {len(v2)} (mirrored)")
        checks = [check_answers(result.status_codes, result.errors),
                  *check_mirror(v1, v2, answered)]
        pairs = pair_by_request_id(v1, v2)
        if pairs and pairs[-1][0].request_id is not None:
            checks.append(self._show_proxy_lines(pairs[-1][0].request_id))
        return self._report(checks)

    def _show_mirrored_logs(self, v1: Sequence[HttpbinLine], v2: Sequence[HttpbinLine]) -> None:
        """The last requests in v1's log, and the copies of those same requests in v2's."""
        shown = list(v1[-SHOWN_LINES:])
        copies = {line.request_id: line for line in v2 if line.request_id}
        same = [copies[line.request_id] for line in shown if line.request_id in copies]
        self.p.log_block(f"{self._backend_log_title('v1', shown, v1)}:", [x.raw for x in shown])
        title = f"{_display(self.backends['v2'].access_log)} (the copies of those requests):"
        self.p.log_block(title, [x.raw for x in same] or [x.raw for x in v2[-SHOWN_LINES:]])

    def _show_proxy_lines(self, request_id: str) -> Check:
        """The proxy's access log for one request id: the primary's line and its copy's."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        lines = read_proxy_lines_for(self.proxy_log, request_id)
        while len(lines) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            lines = read_proxy_lines_for(self.proxy_log, request_id)
        self.p.log_block(f"{_display(self.proxy_log)}, request {request_id} (primary, then copy):",
                         lines)
        if len(lines) >= 2:
            return Check(True, "the proxy logged the request and its shadow copy")
        return Check(False, f"the proxy's access log has {len(lines)} line(s) for request "
                            f"{request_id}; expected the primary and its copy")

    # -- step 3 ----------------------------------------------------------------------------
    def compare(self) -> bool:
        self.p.step(3, "compare")
        admin = self.proxy.admin_url
        if not compare_act.has_engine(admin):
            self.p.say("This shadowmesh has no comparison engine (its admin API does not serve",
                       "/api/v1/comparisons): step 3 is skipped.")
            return True
        self.compared = True
        path = self.files.comparison
        self.p.say(
            f"{path.name} is shadowmesh's own kind, a Comparison: for the mirrored requests,",
            "compare what v2 (the candidate) answered with what v1 answered, and send every",
            "request to v1 a second time (the noise copy): what differs between v1 and itself",
            "is noise, not a regression. Apply it:",
        )
        self.p.command(f"shadowmesh apply -f {_display(path)} --admin {admin}")
        applied = apply_yaml(admin, path.read_text(encoding="utf-8"), path.name)
        for line in applied.changed:
            self.p.detail(line)
        for warning in applied.warnings:
            self.p.detail(f"Warning: {warning}")
        if not applied.ok:
            raise DemoError(f"the admin API rejected {path.name}: " + "; ".join(applied.errors))
        n = compare_act.REQUESTS_PER_PATH
        self.p.say(f"Send {n} requests to each of " + ", ".join(compare_act.PATHS)
                   + f" ({compare_act.CONCURRENCY} at a time):")
        tally = compare_act.send_load(self.proxy.url, AUTHORITY)
        self.p.detail(tally.summary())
        pairs = compare_act.wait_for_pairs(admin, tally.answered)
        self.p.detail(f"{pairs} pairs compared")
        self.p.say("The report, as Diffy users know it:")
        self.p.command(f"shadowmesh compare --admin {admin}")
        status, lines = compare_act.run_cli(compare_act.compare_argv(admin), self.workdir)
        self.p.log_block(f"(exit status {status})", lines)
        self.p.say("The verdict, for a release pipeline (exit status 0 PROMOTE, 1 HOLD):")
        args = ("--verdict", "--min-pairs", str(compare_act.MIN_PAIRS))
        self.p.command(f"shadowmesh compare {' '.join(args)} --admin {admin}")
        status, lines = compare_act.run_cli(compare_act.compare_argv(admin, *args), self.workdir)
        self.p.log_block(f"(exit status {status})", lines)
        report = self.workdir / compare_act.REPORT_FILE
        self.p.say("The same report as one HTML file, to attach to a release ticket:")
        self.p.command(f"shadowmesh compare --html {_display(report)} --admin {admin}")
        status_html, lines = compare_act.run_cli(
            compare_act.compare_argv(admin, "--html", str(report)), self.workdir)
        self.p.log_block(f"(exit status {status_html})", lines)
        summary, fields = compare_act.read_documents(admin)
        checks = [check_answers(tally.statuses, tally.errors),
                  *compare_act.check_comparison(summary, fields, status),
                  compare_act.check_report(report, status_html)]
        return self._report(checks)

    # -- the end ---------------------------------------------------------------------------
    def where_things_are(self) -> None:
        self.p.section("Where things are")
        admin, proxy = self.proxy.admin_url, self.proxy.url
        self.p.item("proxy", f"{proxy}  (send Host: {AUTHORITY})")
        self.p.item("admin", admin)
        self.p.item("dashboard", f"{admin}/  (traffic graph, logs, mirror stats, rule form)")
        if self.compared:
            self.p.item("compare", f"{admin}/  (Compare view: endpoints, fields, samples)")
            self.p.item("report", _display(self.workdir / compare_act.REPORT_FILE))
        self.p.item("metrics", f"{admin}/metrics")
        self.p.item("graph", f"{admin}/api/v1/graph")
        self.p.item("config", f"{admin}/config_dump")
        self.p.item("workdir", f"{_display(self.workdir)}/")
        names = [f.name for f in self.files.all]
        names += [b.access_log.name for b in self.backends.values()]
        names += [self.proxy_log.name, self.proxy.log_path.name]
        if self.compared:
            names.append(COMPARE_STORE)
        for name in names:
            self.p.detail(" " * 13 + name)
        self.p.say("Try:")
        self.p.command(f'shadowmesh load -qps 5 -t 30s -H "Host: {AUTHORITY}" {proxy}{LOAD_PATH}')
        self.p.command(f"shadowmesh get vs --admin {admin}")
        self.p.command(f"shadowmesh logs httpbin-v2 --admin {admin}")
        if self.compared:
            self.p.command(f"shadowmesh compare --admin {admin}")
        self.p.command(f"tail -f {_display(self.backends['v2'].access_log)}")

    def keep_running(self) -> None:
        """Wait for Ctrl-C (KeyboardInterrupt, which the command also raises for SIGTERM);
        a process that stops on its own meanwhile is a DemoError."""
        self.p.blank()
        self.p.outcome("Everything keeps running. Ctrl-C to stop.", True)
        while True:
            dead = self.children.dead()
            if dead:
                names = ", ".join(f"{c.name} (exit status {c.popen.returncode})" for c in dead)
                raise DemoError(f"{names} stopped on its own")
            time.sleep(WATCH_INTERVAL_S)

    # -- helpers ---------------------------------------------------------------------------
    def _load(self) -> LoadResult:
        o = self.options
        url = f"{self.proxy.url}{LOAD_PATH}"
        self.p.command(f'shadowmesh load -qps {o.qps:g} -t {format_duration(o.duration)} '
                       f'-H "Host: {AUTHORITY}" {url}')
        config = LoadConfig(url, qps=o.qps, duration=o.duration,
                            headers=(("Host", AUTHORITY),), percentiles=(50.0, 99.0))
        try:
            result = run_load_sync(config)
        except TargetError as exc:
            raise DemoError(f"cannot send load to {url}: {exc}") from exc
        self.p.detail(load_summary(result))
        return result

    def _offsets(self) -> dict[str, int]:
        return {v: len(read_httpbin_log(b.access_log)) for v, b in self.backends.items()}

    def _new_lines(self, offsets: dict[str, int]) -> tuple[list[HttpbinLine], list[HttpbinLine]]:
        v1, v2 = (requests_to(read_httpbin_log(self.backends[v].access_log)[offsets[v]:],
                              LOAD_PATH) for v in ("v1", "v2"))
        return v1, v2

    def _settle(
        self, offsets: dict[str, int], expect_v2: bool, answered: int
    ) -> tuple[list[HttpbinLine], list[HttpbinLine]]:
        """The new lines once v1 has every call (and v2 every copy) and the logs stopped
        growing, or as they are after SETTLE_TIMEOUT_S."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        v1, v2 = self._new_lines(offsets)
        while time.monotonic() < deadline:
            complete = len(v1) >= answered and (not expect_v2 or len(v2) >= len(v1))
            time.sleep(SETTLE_QUIET_S if complete else 0.05)
            again = self._new_lines(offsets)
            if complete and (len(again[0]), len(again[1])) == (len(v1), len(v2)):
                break
            v1, v2 = again
        return v1, v2

    def _backend_log_title(self, version: str, shown: Sequence[HttpbinLine],
                           new: Sequence[HttpbinLine]) -> str:
        path = _display(self.backends[version].access_log)
        if not new:
            return path
        return f"{path} (last {len(shown)} of {len(new)} new lines)"

    def _show_logs(self, v1: Sequence[HttpbinLine], v2: Sequence[HttpbinLine]) -> None:
        for version, lines in (("v1", v1), ("v2", v2)):
            shown = list(lines[-SHOWN_LINES:])
            self.p.log_block(f"{self._backend_log_title(version, shown, lines)}:",
                             [x.raw for x in shown])

    def _report(self, checks: Sequence[Check]) -> bool:
        self.p.checks(checks)
        return all(check.ok for check in checks)
