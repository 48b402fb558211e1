"""`shadowmesh demo`: the command line, signals, exit status, and stopping everything.

Exit status: 0 when every step's check held, 1 when one failed or a step could not be
carried out, 130 when Ctrl-C (or SIGTERM) ended the story early. With --keep-running,
Ctrl-C after the story is the normal way out and exits 0.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from shadowmesh.demo import DemoError
from shadowmesh.demo.output import Printer, use_color
from shadowmesh.demo.processes import Children
from shadowmesh.demo.story import DemoOptions, Story
from shadowmesh.loadgen.config import LoadConfigError, parse_duration

EXIT_CHECK_FAILED = 1
EXIT_INTERRUPTED = 130


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        seconds = parse_duration(value)
    except LoadConfigError as exc:
        raise click.BadParameter(str(exc)) from exc
    if seconds <= 0:
        raise click.BadParameter(f"must be a positive duration, got {value!r}")
    return seconds


@click.command()
@click.option("--duration", default="10s", show_default=True, callback=_duration,
              help="How long each step sends load (Go syntax: 10s, 1m).")
@click.option("--qps", default=5.0, show_default=True,
              type=click.FloatRange(min=0, min_open=True), help="Requests per second.")
@click.option("--keep-running", is_flag=True,
              help="Leave httpbin and the proxy up after the story, until Ctrl-C.")
@click.option("--workdir", default="demo-work", show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Where the YAML and the access logs go.")
@click.option("--no-color", is_flag=True, help="No ANSI colours (also $NO_COLOR).")
def demo(duration: float, qps: float, keep_running: bool, workdir: Path, no_color: bool) -> None:
    """The Istio "Mirroring" task in one command, with real httpbin v1 and v2.

    Starts httpbin v1 and v2 (gunicorn) and `shadowmesh run`, routes 100% to v1 and sends
    load, then applies the mirror rule and sends load again, checking in httpbin's own
    access logs that v2 received a copy of every request, with Host httpbin-shadow:8000.
    Then compares what v2 answered with what v1 answered: v2 has a renamed field and a
    slower endpoint planted in it, which the comparison must find (verdict HOLD).
    """
    printer = Printer(color=use_color(sys.stdout, no_color))
    options = DemoOptions(workdir=workdir, duration=duration, qps=qps,
                          keep_running=keep_running)
    sys.exit(run_demo(options, printer))


def run_demo(options: DemoOptions, printer: Printer) -> int:
    """Run the story; every process it started is stopped before this returns."""
    children = Children()
    # SIGTERM ends the demo the way Ctrl-C does, through the same cleanup.
    previous_term = signal.signal(signal.SIGTERM, signal.default_int_handler)
    story = Story(options, printer, children)
    told = False
    try:
        ok = story.run()
        told = True
        if not ok:
            printer.blank()
            printer.outcome("A check failed: the demo did not show what it should (see [FAIL] "
                            "above).", False)
            return EXIT_CHECK_FAILED
        printer.blank()
        printer.outcome("Every check held: v1 served all traffic, v2 got a copy of each "
                        "request.", True)
        if story.compared:
            printer.outcome("The comparison found the planted changes and said HOLD.", True)
        if options.keep_running:
            story.keep_running()
        return 0
    except KeyboardInterrupt:
        if told and options.keep_running:
            return 0
        printer.error("interrupted")
        return EXIT_INTERRUPTED
    except DemoError as exc:
        printer.error(str(exc))
        return EXIT_CHECK_FAILED
    finally:
        # A second Ctrl-C must not cut the cleanup short and leave processes behind.
        previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            if any(True for _ in children):
                printer.say("Stopping httpbin v1, v2 and shadowmesh...")
            children.stop_all()
        finally:
            signal.signal(signal.SIGINT, previous_int)
            signal.signal(signal.SIGTERM, previous_term)
