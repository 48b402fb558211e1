"""The machine side of the harness: the external tools, CPU pinning and CPU accounting.

Everything here reads the host (PATH, /proc, the affinity mask) and nothing starts a
process, so the pure parts (`plan_pinning`, `parse_proc_stat`) are unit-tested directly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = "apt-get install nginx-light wrk"

# Debian installs nginx in /usr/sbin, which is not on a normal user's PATH.
NGINX_CANDIDATES = ("/usr/sbin/nginx",)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class MissingTools(Exception):
    """nginx or wrk is not installed; the message names them and how to install them."""

    exit_code = 2

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(f"not installed: {', '.join(missing)}; install with: {INSTALL_HINT}")


@dataclass(frozen=True, slots=True)
class Tools:
    nginx: str
    wrk: str


def find_tools() -> Tools:
    nginx = shutil.which("nginx") or next(
        (p for p in NGINX_CANDIDATES if os.access(p, os.X_OK)), None
    )
    wrk = shutil.which("wrk")
    missing = [name for name, path in (("nginx", nginx), ("wrk", wrk)) if path is None]
    if nginx is None or wrk is None:
        raise MissingTools(missing)
    return Tools(nginx=nginx, wrk=wrk)


@dataclass(frozen=True, slots=True)
class Pinning:
    """Which CPUs the proxy under test gets and which the load side (wrk, backends) gets.

    `None` for both means "not pinned": every process may run anywhere.
    """

    proxy_cpus: frozenset[int] | None
    load_cpus: frozenset[int] | None

    @property
    def enabled(self) -> bool:
        return self.proxy_cpus is not None

    def describe(self) -> str:
        if self.proxy_cpus is None or self.load_cpus is None:
            return "not pinned"
        return (
            f"proxy on CPU {_cpu_list(self.proxy_cpus)}, "
            f"load generator and backends on CPU {_cpu_list(self.load_cpus)}"
        )


def _cpu_list(cpus: Iterable[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus))


def plan_pinning(requested: bool | None, available: Iterable[int]) -> Pinning:
    """Give the proxy the lowest CPU and the load side the rest.

    Default (`requested is None`): pin when there are at least two CPUs. On a 2-core machine
    unpinned runs swing 15-30% because wrk, the backends and the proxy fight for the same core.
    """
    cpus = sorted(set(available))
    if requested is False or len(cpus) < 2:
        if requested is True:
            raise ValueError(f"--pin needs at least 2 CPUs, this process may use {len(cpus)}")
        return Pinning(None, None)
    return Pinning(frozenset(cpus[:1]), frozenset(cpus[1:]))


def affinity_setter(cpus: frozenset[int] | None) -> Callable[[], None] | None:
    """A `preexec_fn` that pins the child before it execs, so its forks and threads inherit."""
    if cpus is None:
        return None

    def pin() -> None:
        os.sched_setaffinity(0, cpus)

    return pin


def pin_tree(pid: int, cpus: frozenset[int] | None) -> None:
    """Pin every thread of `pid` and its descendants (in case one reset its own mask)."""
    if cpus is None:
        return
    for proc in process_tree(pid):
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{proc}/task")]
        except FileNotFoundError:
            continue
        for tid in tids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.sched_setaffinity(tid, cpus)


@dataclass(frozen=True, slots=True)
class ProcStat:
    ppid: int
    utime: int
    stime: int


def parse_proc_stat(text: str) -> ProcStat:
    # The command name (field 2) is in parentheses and may itself contain spaces or ')',
    # so split after the last ')'. Fields after it start at field 3 (state).
    rest = text[text.rindex(")") + 2 :].split()
    return ProcStat(ppid=int(rest[1]), utime=int(rest[11]), stime=int(rest[12]))


def _read_stat(pid: int) -> ProcStat | None:
    try:
        return parse_proc_stat(Path(f"/proc/{pid}/stat").read_text())
    except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
        return None


def process_tree(pid: int) -> list[int]:
    """`pid` and all its live descendants (nginx workers, shadowmesh workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _read_stat(int(entry))
            if stat is not None:
                children.setdefault(stat.ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def cpu_ticks(pids: Iterable[int]) -> dict[int, int]:
    """User + system CPU time of each process (all its threads), in clock ticks."""
    ticks = {}
    for pid in pids:
        stat = _read_stat(pid)
        if stat is not None:
            ticks[pid] = stat.utime + stat.stime
    return ticks


def cpu_seconds_between(before: dict[int, int], after: dict[int, int]) -> float:
    # Only processes seen at both ends count: one that exited in between would otherwise
    # make the difference negative.
    ticks = sum(after[pid] - before[pid] for pid in before.keys() & after.keys())
    return ticks / CLOCK_TICKS
