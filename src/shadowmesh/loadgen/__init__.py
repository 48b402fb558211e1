"""`shadowmesh load`: a fortio-style open-loop HTTP load generator (uvloop + httptools).

config.py    LoadConfig (frozen, validated) and fortio's value syntaxes
pacing.py    the schedule: intended start times, per-connection shares, lateness
client.py    the request bytes; keep-alive connections (asyncio + httptools), error kinds
histogram.py exact counters, HDR percentiles, fortio's buckets
progress.py  the live progress line
runner.py    run_load / run_load_sync: workers, shutdown, Ctrl-C
report.py    Recorder (counting), LoadResult: JSON (fortio's names), text summary
commands.py  the `shadowmesh load` command
"""

from shadowmesh.loadgen.config import LoadConfig, LoadConfigError
from shadowmesh.loadgen.report import LoadResult
from shadowmesh.loadgen.runner import TargetError, run_load, run_load_sync

__all__ = [
    "LoadConfig",
    "LoadConfigError",
    "LoadResult",
    "TargetError",
    "run_load",
    "run_load_sync",
]
