"""The exit status of `shadowmesh demo`, and that its children are stopped on every way out.

The story itself is replaced here by a stand-in that starts one real child process and then
succeeds, fails a check, hits an error or is interrupted; the real story runs in test_e2e.py.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from shadowmesh.demo import DemoError, commands
from shadowmesh.demo.commands import demo, run_demo
from shadowmesh.demo.output import Printer
from shadowmesh.demo.processes import Child, Children
from shadowmesh.demo.story import DemoOptions

SLEEP = "import time; time.sleep(60)"


class FakeStory:
    outcome: str = "ok"
    compared: bool = False  # step 3 did not run
    started: list[Child] = []

    def __init__(self, options: DemoOptions, printer: Printer, children: Children) -> None:
        self.children = children

    def run(self) -> bool:
        child = self.children.start("sleeper", [sys.executable, "-c", SLEEP])
        FakeStory.started.append(child)
        if self.outcome == "error":
            raise DemoError("httpbin-v1 (gunicorn) did not start")
        if self.outcome == "interrupt":
            raise KeyboardInterrupt
        return self.outcome == "ok"

    def keep_running(self) -> bool:
        raise KeyboardInterrupt  # Ctrl-C after the story


@pytest.mark.parametrize(
    ("outcome", "keep_running", "code", "words"),
    [
        ("ok", False, 0, "Every check held"),
        ("ok", True, 0, "Every check held"),
        ("check-failed", False, 1, "A check failed"),
        ("error", False, 1, "did not start"),
        ("interrupt", False, 130, "interrupted"),
    ],
)
def test_exit_status_and_cleanup(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, outcome: str, keep_running: bool,
    code: int, words: str,
) -> None:
    monkeypatch.setattr(commands, "Story", FakeStory)
    monkeypatch.setattr(FakeStory, "outcome", outcome)
    monkeypatch.setattr(FakeStory, "started", [])
    out = io.StringIO()
    options = DemoOptions(workdir=tmp_path, keep_running=keep_running)
    assert run_demo(options, Printer(out=out, err=out)) == code
    assert words in out.getvalue()
    assert [child.alive for child in FakeStory.started] == [False]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--duration", "soon"], "invalid duration 'soon'"),
        (["--duration", "0s"], "must be a positive duration"),
        (["--qps", "0"], "--qps"),
    ],
)
def test_bad_options(args: list[str], words: str) -> None:
    result = CliRunner().invoke(demo, args)
    assert result.exit_code == 2 and words in result.output
