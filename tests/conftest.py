"""Shared by every test folder: the end-to-end support fixtures (tests/support/fixtures.py)."""

import sys
from pathlib import Path

# `tests.support` must import the same way under `pytest` and `python -m pytest`, so the
# repository root goes on the path (plain `pytest` only adds this folder).
ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

pytest_plugins = ["tests.support.fixtures"]


def pytest_configure(config: object) -> None:
    # A compiled module older than its source would test old code (Python prefers the .so).
    from shadowmesh.native import stale_modules

    stale = stale_modules()
    if stale:
        import pytest

        pytest.exit(
            "compiled request-path modules are older than their sources: "
            + ", ".join(stale) + "; run `make build` (or `make pure` to run interpreted)",
            returncode=4,
        )
