"""Where and with what a session ran: machine, kernel and tool versions, for RESULTS.md."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from bench.tools import Tools

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Machine:
    cpu_model: str
    cores: int
    kernel: str

    def describe(self) -> str:
        return f"{self.cpu_model}, {self.cores} cores, Linux {self.kernel}"


def machine() -> Machine:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return Machine(cpu_model=model, cores=os.cpu_count() or 1, kernel=platform.release())


def machine_during(load_before: float) -> str:
    """The machine, with the load average at the start of a session and now (its end)."""
    return (f"{machine().describe()}; load average (1 min) {load_before:.2f} at start, "
            f"{os.getloadavg()[0]:.2f} at end")


def _output(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, timeout=10, check=False, cwd=REPO)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    # nginx -v and wrk -v print to stderr (and wrk exits 1): take whatever was printed
    return (done.stdout + done.stderr).decode(errors="replace")


def _package(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def parse_nginx_version(text: str) -> str:
    match = re.search(r"nginx/(\S+)", text)
    return match.group(1) if match else "unknown"


def parse_wrk_version(text: str) -> str:
    match = re.search(r"^wrk (\S+)", text, re.M)
    return match.group(1) if match else "unknown"


def git_commit() -> str:
    commit = _output(["git", "rev-parse", "--short=12", "HEAD"]).strip() or "unknown"
    dirty = _output(["git", "status", "--porcelain", "--", "src"]).strip()
    # Uncommitted changes to the package mean the commit alone does not identify the code.
    return f"{commit} (+ uncommitted changes in src/)" if dirty else commit


def versions(tools: Tools) -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "uvloop": _package("uvloop"),
        "httptools": _package("httptools"),
        "nginx": parse_nginx_version(_output([tools.nginx, "-v"])),
        "wrk": parse_wrk_version(_output([tools.wrk, "-v"])),
        "shadowmesh": git_commit(),
    }
