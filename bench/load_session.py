"""What the open-loop latency harnesses share (`bench.latency`, `bench.compare_latency`,
`bench.admin_flood`): the nginx JSON backend, one measured `shadowmesh load` run, the check
that the load generator kept its schedule, the work dir, and the command-line frame (tools
present, stop signals, failures reported as exit statuses).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from bench import nginx, shadowmesh_server
from bench.cli import STOP_SIGNALS, Interrupted, on_stop_signal
from bench.processes import StartError, Supervisor
from bench.scenarios import free_port
from bench.tools import Pinning

if TYPE_CHECKING:
    from bench.latency import LoadRun, Settings

# The load generator's own threshold for "behind its schedule" (its report prints a warning).
LAG_WARNING_MS = 5.0
SHORTFALL = 0.9  # achieved below this share of the requested rate: the load side could not keep up
# `shadowmesh load` ends by duration + request timeout (3 s) + 1 s of grace; the rest is for
# starting Python and writing the JSON. Past this the run is killed and the harness fails.
LOAD_MARGIN_S = 30.0
Progress = Callable[[str], None]
T = TypeVar("T")


def stderr_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def start_json_backend(supervisor: Supervisor, nginx_path: str, pinning: Pinning,
                       name: str) -> int:
    """An nginx serving the 1 KB JSON body on the load CPUs; its port."""
    body = supervisor.workdir / "body.json"
    if not body.exists():
        body.write_bytes(nginx.json_body())
    port = free_port()
    nginx.start_nginx(supervisor, nginx_path, name,
                      nginx.backend_conf(supervisor.workdir / name, port, body), port,
                      pinning.load_cpus)
    return port


def timed_run(supervisor: Supervisor, pinning: Pinning, settings: Settings, url: str,
              name: str, duration_s: int) -> LoadRun:
    """One `shadowmesh load` run on the load CPUs, its JSON kept as `<name>.json`."""
    from bench.latency import load_command, run_load

    json_file = supervisor.workdir / f"{name.replace(' ', '-')}.json"
    return run_load(load_command(settings, url, json_file, duration_s), json_file,
                    supervisor.workdir, pinning.load_cpus, duration_s + LOAD_MARGIN_S)


def schedule_problems(run: LoadRun, qps: float) -> list[str]:
    """How the load generator missed its schedule in `run` (nothing: it kept it)."""
    problems = []
    if run.actual_qps < SHORTFALL * qps:
        problems.append(f"achieved {run.actual_qps:,.0f} of {qps:,.0f} req/s")
    if run.unsent:
        problems.append(f"{run.unsent} request(s) not started in time")
    if run.lag_avg_ms > LAG_WARNING_MS:
        problems.append(f"scheduler lag {run.lag_avg_ms:.1f} ms on average")
    return problems


def behind_schedule_notes(runs: Iterable[tuple[str, LoadRun]], qps: float) -> list[str]:
    """Runs (labelled) where the load generator could not keep its schedule: their latencies
    include its own delays, so the load side (not the proxy) may be what they measured."""
    notes = []
    for label, run in runs:
        problems = schedule_problems(run, qps)
        if problems:
            notes.append(f"{label}: the load generator fell behind its schedule "
                         f"({'; '.join(problems)}); lower --qps or free the load CPUs")
    return notes


@contextlib.contextmanager
def work_supervisor(prefix: str, keep: bool, pinning: Pinning,
                    progress: Progress) -> Iterator[Supervisor]:
    """A temp work dir (kept on request) and the supervisor of everything started in it;
    this process moves to the load CPUs (it only waits)."""
    if pinning.load_cpus is not None:
        os.sched_setaffinity(0, pinning.load_cpus)
    progress(f"pinning: {pinning.describe()}")
    workdir: contextlib.AbstractContextManager[str]
    if keep:
        workdir = contextlib.nullcontext(tempfile.mkdtemp(prefix=prefix))
    else:
        workdir = tempfile.TemporaryDirectory(prefix=prefix)
    with workdir as tmp, Supervisor(Path(tmp)) as supervisor:
        if keep:
            progress(f"work dir (kept): {tmp}")
        yield supervisor


def missing_tools(prog: str, nginx_path: str | None, need_run: bool = True) -> str | None:
    """Why the harness cannot run here (printed, exit status 2), or None."""
    if nginx_path is None:
        return f"{prog}: not installed: nginx; install with: apt-get install nginx-light"
    if need_run:
        missing = shadowmesh_server.run_available()
        if missing:
            return f"{prog}: {missing}"
    return None


def guarded(prog: str, measure: Callable[[], T]) -> T | int:
    """Run `measure` with the stop signals handled: an interruption or a failure to start
    or to load is printed and becomes the exit status (every process started is stopped)."""
    from bench.latency import LoadError

    # SIGINT too: a shell starts background jobs with SIGINT ignored, and Python keeps that.
    for sig in STOP_SIGNALS:
        signal.signal(sig, on_stop_signal)
    try:
        return measure()
    except Interrupted as exc:
        print(f"{prog}: interrupted ({exc}); every process it started is stopped",
              file=sys.stderr)
        return exc.exit_code
    except (StartError, LoadError, OSError, ValueError) as exc:
        print(f"{prog}: failed: {exc}", file=sys.stderr)
        return 1
