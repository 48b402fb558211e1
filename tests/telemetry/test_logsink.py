"""Access-log targets: files on disk (tmp_path), written by the sink's own thread."""

import asyncio
import os
from pathlib import Path

import click
import pytest
from tests.telemetry.records import primary, shadow

from shadowmesh.telemetry.logsink import LogSink, _line_chunks, workload_filename
from shadowmesh.telemetry.options import build_telemetry, telemetry_options


def test_one_file_per_destination_workload(tmp_path: Path) -> None:
    async def scenario() -> None:
        telemetry = build_telemetry(access_log=f"{tmp_path}/logs/", access_log_format="text")
        telemetry.on_request(primary())
        telemetry.on_request(shadow())
        await telemetry.aclose()

    asyncio.run(asyncio.wait_for(scenario(), 10))
    v1 = (tmp_path / "logs" / "httpbin-v1.log").read_text().splitlines()
    v2 = (tmp_path / "logs" / "httpbin-v2.log").read_text().splitlines()
    assert len(v1) == len(v2) == 1
    assert '"httpbin:8000"' in v1[0] and '"httpbin-shadow:8000"' in v2[0]
    # primary and copy share the request id, as in the tutorial's two logs
    assert '"0b6f6c2e-1"' in v1[0] and '"0b6f6c2e-1"' in v2[0]


def test_an_existing_directory_without_slash_also_splits(tmp_path: Path) -> None:
    async def scenario() -> None:
        telemetry = build_telemetry(access_log=str(tmp_path), access_log_format="json")
        telemetry.on_request(primary())
        await telemetry.aclose()

    asyncio.run(asyncio.wait_for(scenario(), 10))
    assert (tmp_path / "httpbin-v1.log").read_text().startswith('{"start_time":')


def test_one_file_for_everything(tmp_path: Path) -> None:
    async def scenario() -> None:
        telemetry = build_telemetry(access_log=str(tmp_path / "access.log"))
        for _ in range(3):
            telemetry.on_request(primary())
            telemetry.on_request(shadow())
        await telemetry.aclose()

    asyncio.run(asyncio.wait_for(scenario(), 10))
    assert len((tmp_path / "access.log").read_text().splitlines()) == 6


def test_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    async def scenario() -> None:
        telemetry = build_telemetry(access_log="-")
        telemetry.on_request(primary())
        await telemetry.aclose()

    asyncio.run(asyncio.wait_for(scenario(), 10))
    assert capsys.readouterr().out.startswith("[2026-11-21T19:40:01.123Z] ")


def test_off_writes_nothing_and_keeps_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    telemetry = build_telemetry(access_log="off")
    telemetry.on_request(primary())
    assert telemetry.snapshot().logs == {}
    assert capsys.readouterr().out == ""


def test_an_unwritable_target_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(click.BadParameter, match="cannot open"):
        build_telemetry(access_log=str(tmp_path / "missing" / "access.log"))


def test_a_writer_that_cannot_keep_up_drops_and_counts(tmp_path: Path) -> None:
    sink = LogSink(str(tmp_path / "a.log"))
    # Stop the writer first so every batch stays queued.
    sink.close()
    for _ in range(1005):
        sink.write({"w": ["line"]})
    assert sink.dropped == 5


def test_workload_file_names_are_safe() -> None:
    assert workload_filename("httpbin-v1") == "httpbin-v1.log"
    assert workload_filename("../etc/passwd") == ".._etc_passwd.log"
    assert workload_filename("") == "unknown.log"


def test_the_click_options() -> None:
    seen = {}

    @click.command()
    @telemetry_options
    def run(access_log: str, access_log_format: str) -> None:
        seen.update(access_log=access_log, access_log_format=access_log_format)

    run.main(["--access-log", "logs/", "--access-log-format", "json"], standalone_mode=False)
    assert seen == {"access_log": "logs/", "access_log_format": "json"}
    run.main([], standalone_mode=False)
    assert seen == {"access_log": "-", "access_log_format": "text"}


@pytest.mark.parametrize("limit", [3, 5, 10, 12, 100])
def test_pipe_chunks_hold_whole_lines(limit: int) -> None:
    data = b"aaaa\nbbbb\ncccccccccccc\ndd\n"
    chunks = _line_chunks(data, limit)
    assert b"".join(chunks) == data
    assert all(chunk.endswith(b"\n") for chunk in chunks)
    assert all(len(chunk) <= limit or chunk.count(b"\n") == 1 for chunk in chunks)


def test_two_writers_sharing_a_file_never_split_lines(tmp_path: Path) -> None:
    # as with --workers N: separate sinks (processes) appending to one file
    path = str(tmp_path / "shared.log")
    sinks = [LogSink(path), LogSink(path)]
    lines = {i: [f"{'xy' * 300}-{i}-{n}" for n in range(50)] for i in range(2)}
    for n in range(20):
        for i, sink in enumerate(sinks):
            sink.write({"w": [f"{line}-{n}" for line in lines[i]]})
    for sink in sinks:
        sink.close()
    written = (tmp_path / "shared.log").read_text().splitlines()
    assert len(written) == 2 * 20 * 50
    assert all(line.startswith("xy" * 300 + "-") for line in written)


def test_stdout_as_a_pipe_is_written_in_whole_lines() -> None:
    read_fd, write_fd = os.pipe()
    try:
        sink = LogSink("-")
        sink._stdout_fd = write_fd
        sink.write({"w": ["a" * 3000, "b" * 3000, "c"]})
        sink.close()
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as pipe:
            assert pipe.read() == b"a" * 3000 + b"\n" + b"b" * 3000 + b"\nc\n"
    except BaseException:
        os.close(read_fd)
        raise
