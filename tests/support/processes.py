"""Finding processes a test started, to check none is left running."""

from __future__ import annotations

import os
from pathlib import Path


def processes_under(directory: Path) -> list[str]:
    """Live processes whose working directory is inside `directory` (the harness's children)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        if cwd.startswith(str(directory)) and "State:\tZ" not in status:
            found.append(f"{entry} {Path(f'/proc/{entry}/cmdline').read_bytes()!r}")
    return found
