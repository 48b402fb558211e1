"""`shadowmesh compare`: the comparison report, and a release verdict for CI.

Reads the report from a running shadowmesh's admin API (like `shadowmesh get`), or with
`--compare-store URL` directly from the store. `--verdict` prints PROMOTE / HOLD /
NOT ENOUGH DATA with the reasons and exits 0 / 1 / 3 (2: the report could not be read).
`--html FILE` writes one Comparison's report as a self-contained page (html_report.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from shadowmesh.admin.client import ADMIN_ENV, DEFAULT_ADMIN, AdminClient, AdminError
from shadowmesh.admin.guard import TOKEN_ENV
from shadowmesh.compare.render import render_comparison, render_verdict
from shadowmesh.compare.verdict import EXIT_CODES, HOLD, NOT_ENOUGH_DATA, PROMOTE, VerdictOptions

EXIT_UNREADABLE = 2


class ReadError(click.ClickException):
    exit_code = EXIT_UNREADABLE


def _fraction(value: str, option: str) -> float:
    text = value.strip()
    try:
        if text.endswith("%"):
            return float(text[:-1]) / 100.0
        return float(text)
    except ValueError as exc:
        raise click.BadParameter(f"expected a percentage such as 1% or 0.01, got {value!r}",
                                 param_hint=option) from exc


class AdminSource:
    def __init__(self, url: str, token: str | None) -> None:
        self.client = AdminClient(url, token)

    def report(self, params: dict[str, Any]) -> dict[str, Any]:
        _, body = self.client.request("GET", "/api/v1/comparisons", params=params)
        result: dict[str, Any] = body
        return result

    def details(self, ns: str, name: str, endpoint: str) -> tuple[list[Any], list[Any]]:
        base = f"/api/v1/comparisons/{ns}/{name}"
        _, fields = self.client.request("GET", f"{base}/fields", params={"endpoint": endpoint})
        _, samples = self.client.request("GET", f"{base}/samples",
                                         params={"endpoint": endpoint, "limit": 1})
        return fields["fields"], samples["samples"]

    def read(self, ns: str, name: str, what: str, params: dict[str, str]) -> Any:
        _, body = self.client.request("GET", f"/api/v1/comparisons/{ns}/{name}/{what}",
                                      params=params)
        return body

    def reset(self, ns: str | None, name: str | None) -> None:
        self.client.request("POST", "/api/v1/comparisons/reset",
                            params={"namespace": ns, "name": name})


class StoreSource:
    def __init__(self, url: str) -> None:
        from shadowmesh.compare.store import open_store

        self.store = open_store(url)

    def report(self, params: dict[str, Any]) -> dict[str, Any]:
        from shadowmesh.compare.report import build_report

        options = VerdictOptions(max_diff_rate=params["max_diff_rate"],
                                 max_latency_regression=params["max_latency_regression"],
                                 min_pairs=params["min_pairs"])
        since = None
        if params.get("since"):
            from shadowmesh.telemetry.logquery import parse_duration

            try:
                since = time.time() - parse_duration(params["since"])
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--since") from exc
        return build_report(self.store, options, endpoint=params.get("endpoint"), since=since)

    def details(self, ns: str, name: str, endpoint: str) -> tuple[list[Any], list[Any]]:
        from shadowmesh.compare.report import field_rows

        stored = self.store.load(ns, name)
        fields = field_rows(stored, endpoint) if stored is not None else []
        return fields, self.store.samples(ns, name, endpoint, None, 1)

    def read(self, ns: str, name: str, what: str, params: dict[str, str]) -> Any:
        """The admin API's per-endpoint documents (admin/compare_api.py), from the store."""
        from shadowmesh.compare.report import field_rows, latency_histogram

        endpoint = params["endpoint"]
        if what == "samples":
            return {"samples": self.store.samples(ns, name, endpoint, params.get("path"), 1)}
        stored = self.store.load(ns, name)
        if what == "fields":
            return {"fields": field_rows(stored, endpoint) if stored is not None else []}
        if stored is None:
            return {"endpoint": endpoint, "bounds_ms": [], "primary": [], "candidate": []}
        return latency_histogram(stored, endpoint)

    def reset(self, ns: str | None, name: str | None) -> None:
        self.store.reset(ns, name)


@click.command()
@click.argument("name", required=False)
@click.option("-n", "--namespace", default=None, help="Only Comparisons of this namespace.")
@click.option("--admin", "admin_url", envvar=ADMIN_ENV, default=DEFAULT_ADMIN,
              show_default=True, help=f"Admin API of the running shadowmesh (or ${ADMIN_ENV}).")
@click.option("--token", envvar=TOKEN_ENV, default=None,
              help=f"Admin token, for --reset (or ${TOKEN_ENV}).")
@click.option("--compare-store", default=None, metavar="URL",
              help="Read the store directly (sqlite:////PATH or postgresql://...) instead of "
                   "the admin API.")
@click.option("--json", "as_json", is_flag=True,
              help="The report as JSON (the admin API's document).")
@click.option("--endpoint", default=None, help="Only this endpoint, e.g. 'GET /users/{id}'.")
@click.option("--since", default=None, help="Only pairs of the last DURATION (e.g. 10m, 1h).")
@click.option("--verdict", "verdict_only", is_flag=True,
              help="Print PROMOTE / HOLD / NOT ENOUGH DATA with the reasons; exit 0 / 1 / 3.")
@click.option("--max-diff-rate", default="1%", show_default=True,
              help="Verdict: largest share of pairs with a regression difference.")
@click.option("--max-latency-regression", default="10%", show_default=True,
              help="Verdict: largest slowdown of the median latency (if significant).")
@click.option("--min-pairs", default=200, show_default=True, type=click.IntRange(1),
              help="Verdict: pairs needed before PROMOTE.")
@click.option("--reset", is_flag=True, help="Forget the report(s) (NAME, or all).")
@click.option("--html", "html_file", default=None, metavar="FILE",
              type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write the report as one self-contained HTML page (opens without a "
                   "network) instead of printing it; with several Comparisons, name one.")
def compare(name: str | None, namespace: str | None, admin_url: str, token: str | None,
            compare_store: str | None, as_json: bool, endpoint: str | None,
            since: str | None, verdict_only: bool, max_diff_rate: str,
            max_latency_regression: str, min_pairs: int, reset: bool,
            html_file: Path | None) -> None:
    """Show how the mirrored candidate's answers differ from the primary's, and whether it
    is safe to release."""
    source: AdminSource | StoreSource
    try:
        source = StoreSource(compare_store) if compare_store else AdminSource(admin_url, token)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--compare-store") from exc
    from shadowmesh.compare.store import StoreUnavailable

    try:
        if reset:
            ns = (namespace or "default") if name else None
            source.reset(ns, name)
            click.echo(f"comparison report {ns}/{name} reset" if name
                       else "all comparison reports reset")
            return
        params = {"endpoint": endpoint, "since": since,
                  "max_diff_rate": _fraction(max_diff_rate, "--max-diff-rate"),
                  "max_latency_regression": _fraction(max_latency_regression,
                                                      "--max-latency-regression"),
                  "min_pairs": min_pairs}
        report = source.report(params)
        comparisons = [c for c in report["comparisons"]
                       if (name is None or c["name"] == name)
                       and (namespace is None or c["namespace"] == namespace)]
        if html_file is not None and comparisons:
            _write_html(html_file, comparisons, source, compare_store or admin_url)
        if as_json:
            click.echo(json.dumps({"comparisons": comparisons}, indent=2))
        elif verdict_only:
            for cmp in comparisons:
                click.echo("\n".join(render_verdict(cmp)))
        elif html_file is None:
            for cmp in comparisons:
                click.echo("\n".join(render_comparison(cmp, source.details)))
                click.echo("")
    except (AdminError, StoreUnavailable) as exc:
        raise ReadError(str(exc)) from exc
    if not comparisons:
        which = f"{namespace or 'default'}/{name}" if name else "any Comparison"
        click.echo(f"no comparison report for {which} yet", err=True)
        if verdict_only:
            click.echo(f"NOT ENOUGH DATA: no report for {which}")
            raise SystemExit(EXIT_CODES[NOT_ENOUGH_DATA])
        return
    if verdict_only:
        decisions = {c["verdict"]["decision"] for c in comparisons}
        overall = (HOLD if HOLD in decisions
                   else NOT_ENOUGH_DATA if NOT_ENOUGH_DATA in decisions else PROMOTE)
        raise SystemExit(EXIT_CODES[overall])


def _write_html(path: Path, comparisons: list[dict[str, Any]],
                source: AdminSource | StoreSource, origin: str) -> None:
    from shadowmesh.compare.html_report import ReportError, collect_documents, render_html

    if len(comparisons) > 1:
        names = ", ".join(f"{c['namespace']}/{c['name']}" for c in comparisons)
        raise click.UsageError(f"--html writes one Comparison's report; name one of {names}")
    (summary,) = comparisons
    ns, name = str(summary["namespace"]), str(summary["name"])
    fields, samples, latency = collect_documents(
        summary, lambda what, params: source.read(ns, name, what, params))
    try:
        page = render_html(summary, fields, samples, latency, source=origin)
    except ReportError as exc:
        raise ReadError(str(exc)) from exc
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise click.FileError(str(path), hint=exc.strerror or str(exc)) from exc
    decision = str((summary.get("verdict") or {}).get("decision", "NOT_ENOUGH_DATA"))
    click.echo(f"wrote {path}: comparison report {ns}/{name}, "
               f"{decision.replace('_', ' ')}", err=True)
