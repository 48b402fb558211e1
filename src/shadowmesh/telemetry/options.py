"""The access-log options of `shadowmesh run`, and building a `Telemetry` from them.

`run` stacks `@telemetry_options` under its `@click.command()`, receives `access_log` and
`access_log_format`, and passes both to `build_telemetry(...)`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from shadowmesh.telemetry.accesslog import FORMATTERS
from shadowmesh.telemetry.logsink import open_sink
from shadowmesh.telemetry.observer import Telemetry

F = TypeVar("F", bound=Callable[..., Any])


def telemetry_options(fn: F) -> F:
    fn = click.option(
        "--access-log",
        "access_log",
        default="-",
        show_default=True,
        metavar="TARGET",
        help=(
            "Where access-log lines go: '-' stdout, 'off', a file, or a directory ending "
            "in '/' for one file per destination workload (like each pod's sidecar log)."
        ),
    )(fn)
    fn = click.option(
        "--access-log-format",
        "access_log_format",
        type=click.Choice(sorted(FORMATTERS)),
        default="text",
        show_default=True,
        help="Envoy's default text line, or Istio's JSON encoding.",
    )(fn)
    return fn


def build_telemetry(*, access_log: str = "-", access_log_format: str = "text") -> Telemetry:
    """A `Telemetry` writing to `access_log`. Raises click.BadParameter for an unusable target."""
    target = access_log
    if target not in ("-", "off") and not target.endswith("/") and os.path.isdir(target):
        target += "/"  # an existing directory means one file per workload
    try:
        sink = open_sink(target)
    except OSError as exc:
        raise click.BadParameter(
            f"cannot open {access_log!r}: {exc.strerror or exc}", param_hint="--access-log"
        ) from exc
    return Telemetry(log_format=access_log_format, sink=sink, keep_recent_logs=target != "off")
