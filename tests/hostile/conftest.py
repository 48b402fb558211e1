"""One proxy with default limits in front of one raw backend, shared by the hostile suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.hostile.harness import Stack, stack


@pytest.fixture(scope="package")
def hostile_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack(tmp_path_factory.mktemp("hostile")) as s:
        yield s
