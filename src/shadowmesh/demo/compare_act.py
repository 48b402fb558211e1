"""The demo's third step: compare what v2 answered with what v1 answered.

v2 carries two changes announced up front (demo/planted.py). The step applies the
`Comparison` (04-comparison.yaml, with a noise copy to v1), sends load to three endpoints,
prints `shadowmesh compare`, its verdict and its HTML report, and checks from the
admin API's documents (COMPARE-API.md) that exactly the planted changes were found: the
renamed field on `GET /json` and the slowdown of `GET /get` are regressions, httpbin's
per-request values on `GET /uuid` are noise (or volatile), and the verdict is HOLD.

A proxy without the comparison engine has no `/api/v1/comparisons`: the step then says so
and is skipped, so the first two steps still stand on their own.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from shadowmesh.compare.html_report import ReportError, collect_report
from shadowmesh.demo import DemoError
from shadowmesh.demo.checks import Check
from shadowmesh.demo.planted import (
    ADDED_DELAY_MS,
    RENAMED_FROM,
    RENAMED_PATH,
    RENAMED_TO,
    SLOW_PATH,
)

NAMESPACE = "default"
NAME = "httpbin"  # metadata.name in 04-comparison.yaml
NOISE_PATH = "/uuid"  # a new random value in every answer, from v1 as from v2
PATHS = (RENAMED_PATH, SLOW_PATH, NOISE_PATH)
REQUESTS_PER_PATH = 70
CONCURRENCY = 4
MIN_PAIRS = 50  # per the verdict's --min-pairs: fewer than sent, so a few lost pairs do not matter
REQUEST_TIMEOUT_S = 10.0
SETTLE_TIMEOUT_S = 15.0
SETTLE_QUIET_S = 1.0
CLI_TIMEOUT_S = 60.0
REPORT_FILE = "compare-report.html"
EXIT_HOLD = 1  # `shadowmesh compare --verdict`: 0 PROMOTE, 1 HOLD, 3 NOT ENOUGH DATA

# The planted field, as the JSONPaths the engine reports for the rename.
PLANTED_PATHS = (f"$.slideshow.{RENAMED_FROM}", f"$.slideshow.{RENAMED_TO}")


def endpoint_name(path: str) -> str:
    """The endpoint the engine infers for a literal path: METHOD + template."""
    return f"GET {path}"


# -- checks (pure) --------------------------------------------------------------------------


def _endpoint(summary: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    return next((e for e in summary.get("endpoints", []) if e.get("endpoint") == name), None)


def _regressions(fields: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[tuple[str, str]]:
    return [
        (endpoint, str(f.get("path")))
        for endpoint, rows in fields.items()
        for f in rows
        if f.get("classification") == "regression"
    ]


def check_comparison(
    summary: Mapping[str, Any],
    fields: Mapping[str, Sequence[Mapping[str, Any]]],
    verdict_exit: int | None,
) -> list[Check]:
    """What step 3 claims, against the engine's documents and the verdict's exit status."""
    checks: list[Check] = []
    renamed, slow, noisy = (endpoint_name(p) for p in PATHS)
    regressions = _regressions(fields)

    found = sorted(p for e, p in regressions if e == renamed and p in PLANTED_PATHS)
    checks.append(Check(
        bool(found),
        f"the renamed field is a regression on {renamed}: {', '.join(found)}" if found
        else f"no regression on {renamed} names {' or '.join(PLANTED_PATHS)}",
    ))  # fmt: skip

    lat = (_endpoint(summary, slow) or {}).get("latency") or {}
    p50 = (lat.get("primary") or {}).get("p50"), (lat.get("candidate") or {}).get("p50")
    said = f"p50 {_ms(p50[0])} ms on v1, {_ms(p50[1])} ms on v2"
    checks.append(Check(
        bool(lat.get("regression")),
        f"{slow} is flagged slower ({said}, {lat.get('test')} p={_p(lat.get('p_value'))})"
        if lat.get("regression") else f"{slow} is not flagged slower ({said})",
    ))  # fmt: skip

    uuid = {str(f.get("path")): f.get("classification") for f in fields.get(noisy, [])}
    quiet = uuid.get("$.uuid") in ("noise", "volatile")
    checks.append(Check(
        quiet and not any(e == noisy for e, _ in regressions),
        f"httpbin's per-request $.uuid on {noisy} is {uuid.get('$.uuid')}, not a regression"
        if quiet else f"$.uuid on {noisy} is classified {uuid.get('$.uuid')!r}",
    ))  # fmt: skip

    planted = {(renamed, p) for p in PLANTED_PATHS}
    unexpected = sorted(set(regressions) - planted)
    slower = sorted(
        str(e.get("endpoint")) for e in summary.get("endpoints", [])
        if (e.get("latency") or {}).get("regression") and e.get("endpoint") != slow
    )  # fmt: skip
    # Content differences beyond the planted ones are a failure. A latency flag on another
    # endpoint is reported but not failed: those endpoints answer in a few milliseconds, and
    # on a busy machine v1 (which also takes the noise copies) and v2 can drift apart by
    # more than the 10% the verdict allows, which is a fact about the machine, not the demo.
    note = f" (latency also flagged on a busy machine: {', '.join(slower)})" if slower else ""
    checks.append(Check(
        not unexpected,
        ("nothing else differs in content" + note) if not unexpected
        else "also reported: " + ", ".join([f"{e} {p}" for e, p in unexpected]),
    ))  # fmt: skip

    decision = (summary.get("verdict") or {}).get("decision")
    held = decision == "HOLD" and verdict_exit in (None, EXIT_HOLD)
    checks.append(Check(
        held,
        f"the verdict is HOLD (`shadowmesh compare --verdict` exit status {verdict_exit})"
        if held else f"the verdict is {decision} with exit status {verdict_exit}; expected HOLD, 1",
    ))  # fmt: skip
    return checks


def check_report(path: Path, exit_status: int) -> Check:
    """`shadowmesh compare --html` wrote the page."""
    try:
        written = path.read_text(encoding="utf-8").startswith("<!doctype html>")
    except OSError:
        written = False
    if written and exit_status == 0:
        return Check(True, f"the HTML report is written: {path.name}")
    return Check(False, f"`shadowmesh compare --html` exit status {exit_status}; "
                        f"{path.name} {'written' if written else 'not written'}")


# -- the step -------------------------------------------------------------------------------


@dataclass
class LoadTally:
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def answered(self) -> int:
        return self.statuses.get(200, 0)

    def summary(self) -> str:
        codes = ", ".join(f"{n} x {code}" for code, n in sorted(self.statuses.items()))
        errors = ", ".join(f"{n} x {kind}" for kind, n in sorted(self.errors.items()))
        return f"answers: {codes or 'none'}" + (f"; errors: {errors}" if errors else "")


def has_engine(admin_url: str) -> bool:
    """True when the admin API serves the comparison documents."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{admin_url}/api/v1/comparisons", timeout=5.0) as response:
            return int(response.status) == 200
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return False
        raise DemoError(f"the admin API answered /api/v1/comparisons with {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DemoError(f"cannot reach the admin API at {admin_url}: {exc}") from exc


def send_load(proxy_url: str, authority: str) -> LoadTally:
    """REQUESTS_PER_PATH GETs to each of PATHS through the proxy, CONCURRENCY at a time."""
    tally = LoadTally()
    targets = [path for _ in range(REQUESTS_PER_PATH) for path in PATHS]

    def one(client: httpx.Client, path: str) -> int | str:
        try:
            return client.get(path, headers={"Host": authority}).status_code
        except httpx.HTTPError as exc:
            return type(exc).__name__

    with (
        httpx.Client(base_url=proxy_url, timeout=REQUEST_TIMEOUT_S, trust_env=False) as client,
        ThreadPoolExecutor(CONCURRENCY) as pool,
    ):
        for outcome in pool.map(lambda p: one(client, p), targets):
            if isinstance(outcome, int):
                tally.statuses[outcome] = tally.statuses.get(outcome, 0) + 1
            else:
                tally.errors[outcome] = tally.errors.get(outcome, 0) + 1
    return tally


def _pairs(admin_url: str) -> int:
    try:
        body = httpx.get(f"{admin_url}/api/v1/comparisons", timeout=5.0, trust_env=False).json()
    except (httpx.HTTPError, ValueError):
        return -1
    for c in body.get("comparisons", []):
        if (c.get("namespace"), c.get("name")) == (NAMESPACE, NAME):
            return int(c.get("pairs", 0))
    return 0


def wait_for_pairs(admin_url: str, expected: int) -> int:
    """The pairs compared once all `expected` are in, or the count stopped growing for
    SETTLE_QUIET_S, or SETTLE_TIMEOUT_S passed (the comparer works off the request path)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    seen, since = _pairs(admin_url), time.monotonic()
    while seen < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        now = _pairs(admin_url)
        if now != seen:
            seen, since = now, time.monotonic()
        elif seen > 0 and time.monotonic() - since > SETTLE_QUIET_S:
            break
    return seen


def compare_argv(admin_url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "shadowmesh", "compare", *extra, "--admin", admin_url]


def run_cli(argv: Sequence[str], cwd: Path) -> tuple[int, list[str]]:
    """Exit status and output lines of one `shadowmesh compare` run."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=CLI_TIMEOUT_S, cwd=cwd
        )
    except subprocess.TimeoutExpired as exc:
        raise DemoError(f"`{' '.join(argv[2:])}` did not finish in {CLI_TIMEOUT_S:g} s") from exc
    lines = (done.stdout + done.stderr).rstrip("\n").splitlines()
    return done.returncode, lines


def read_documents(admin_url: str) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The documents the checks read (the same the HTML report is made of): summary, fields."""
    try:
        summary, fields, _, _ = collect_report(admin_url, NAMESPACE, NAME)
    except ReportError as exc:
        raise DemoError(f"cannot read the comparison report: {exc}") from exc
    return summary, fields


def planted_announcement() -> list[str]:
    return [
        "httpbin-v2 has two changes planted in it (shadowmesh/demo/planted.py) for step 3:",
        f"  GET {RENAMED_PATH} renames slideshow.{RENAMED_FROM} to slideshow.{RENAMED_TO};",
        f"  GET {SLOW_PATH} answers {ADDED_DELAY_MS} ms later.",
    ]


def _ms(value: object) -> str:
    return f"{value:.1f}" if isinstance(value, int | float) else str(value)


def _p(value: object) -> str:
    return f"{value:.2g}" if isinstance(value, int | float) else str(value)
