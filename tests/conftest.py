"""Shared by every test folder: the end-to-end support fixtures (tests/support/fixtures.py)."""

import sys
from pathlib import Path

# `tests.support` must import the same way under `pytest` and `python -m pytest`, so the
# repository root goes on the path (plain `pytest` only adds this folder).
ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

pytest_plugins = ["tests.support.fixtures"]
