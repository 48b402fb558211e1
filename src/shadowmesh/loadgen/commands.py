"""`shadowmesh load`: fortio's `load` command line, on shadowmesh's load generator.

    shadowmesh load -qps 5 -t 5m -c 4 -H "Host: httpbin:8000" http://127.0.0.1:15001/get

Options keep fortio's single-dash spelling (`-qps`, `-json`, `-timeout`) so the tutorials'
commands work unchanged; each also has a `--long` form. The summary goes to stdout, the live
progress line to stderr; with `-json -` the JSON takes stdout and the summary moves to stderr,
so `shadowmesh load -json - URL | jq` sees JSON only. Exit status: 0 when the run completed
(whatever the answers were, as with fortio), 130 when Ctrl-C ended it early, 2 for invalid
options, 1 when the target cannot be resolved or the JSON file cannot be written.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

import click

from shadowmesh.loadgen.config import (
    LoadConfig,
    LoadConfigError,
    parse_duration,
    parse_header,
    parse_percentiles,
)
from shadowmesh.loadgen.pacing import planned_total
from shadowmesh.loadgen.report import LoadResult, start_line
from shadowmesh.loadgen.runner import TargetError, run_load_sync

EXIT_INTERRUPTED = 130  # the shell's convention for "ended by SIGINT"


@click.command(name="load")
@click.option(
    "-qps",
    "--qps",
    type=float,
    default=8.0,
    show_default=True,
    help="Total requests per second over all connections; 0 or -1 = as fast as possible.",
)
@click.option(
    "-t",
    "--duration",
    "duration_text",
    default="5s",
    show_default=True,
    help="How long to send (Go syntax: 30s, 5m, 1h30m); ignored with -n.",
)
@click.option(
    "-c",
    "--connections",
    type=int,
    default=4,
    show_default=True,
    help="Keep-alive connections, each carrying one request at a time.",
)
@click.option(
    "-n",
    "--requests",
    "count",
    type=int,
    default=None,
    help="Send exactly this many requests instead of running for -t.",
)
@click.option(
    "-H",
    "--header",
    "headers",
    multiple=True,
    metavar="'NAME: VALUE'",
    help="Extra request header (repeatable); 'Host: ...' replaces the URL's authority.",
)
@click.option(
    "-json",
    "--json",
    "json_file",
    metavar="FILE",
    default=None,
    help="Write the results as JSON (fortio's fields) to FILE; '-' = stdout.",
)
@click.option(
    "-p",
    "--percentiles",
    "percentiles_text",
    default="50,75,90,99,99.9",
    show_default=True,
    help="Latency percentiles to report.",
)
@click.option(
    "-timeout",
    "--timeout",
    "timeout_text",
    default="3s",
    show_default=True,
    help="Per-request timeout, connecting included.",
)
@click.option(
    "-X", "--method", default=None, help="HTTP method (default GET, or POST with -payload)."
)
@click.option("-payload", "--payload", default=None, help="Request body (UTF-8 text).")
@click.option(
    "-proxy",
    "--proxy",
    default=None,
    metavar="URL",
    help="Send through this forward proxy (absolute-form requests).",
)
@click.option("-labels", "--labels", default="", help="Free text recorded in the JSON Labels.")
@click.option(
    "-r",
    "--resolution",
    type=float,
    default=0.001,
    show_default=True,
    help="Bucket unit of the latency histogram, in seconds.",
)
@click.option("-quiet", "--quiet", is_flag=True, help="No live progress line on stderr.")
@click.argument("url")
def load(
    qps: float,
    duration_text: str,
    connections: int,
    count: int | None,
    headers: tuple[str, ...],
    json_file: str | None,
    percentiles_text: str,
    timeout_text: str,
    method: str | None,
    payload: str | None,
    proxy: str | None,
    labels: str,
    resolution: float,
    quiet: bool,
    url: str,
) -> None:
    """Send HTTP load to URL at a fixed rate (open loop, keep-alive), like `fortio load`."""
    try:
        config = LoadConfig(
            url=url,
            qps=max(qps, 0.0),  # fortio reads a negative -qps (its docs use -1) as "max"
            duration=parse_duration(duration_text),
            connections=connections,
            count=count,
            headers=tuple(parse_header(h) for h in headers),
            method=method,
            payload=payload.encode() if payload is not None else b"",
            timeout=parse_duration(timeout_text),
            percentiles=parse_percentiles(percentiles_text),
            proxy=proxy,
            labels=labels,
            resolution=resolution,
        )
    except LoadConfigError as exc:
        raise click.UsageError(str(exc)) from None
    out = sys.stderr if json_file == "-" else sys.stdout
    planned = planned_total(config.qps, config.duration, config.count)
    click.echo(start_line(config, planned), file=out)
    try:
        result = run_load_sync(config, progress=None if quiet else sys.stderr, handle_sigint=True)
    except TargetError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(result.summary_text(), file=out, nl=False)
    if json_file is not None:
        _write_json(result, json_file, out)
    if result.interrupted:
        sys.exit(EXIT_INTERRUPTED)


def _write_json(result: LoadResult, json_file: str, out: TextIO) -> None:
    text = result.to_json() + "\n"
    if json_file == "-":
        click.echo(text, nl=False)
        return
    try:
        Path(json_file).write_text(text)
    except OSError as exc:
        raise click.ClickException(f"-json {json_file}: cannot write: {exc}") from None
    click.echo(f"Successfully wrote {len(text)} bytes of JSON data to {json_file}", file=out)
