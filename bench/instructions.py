"""Instructions per request of the proxy, counted by callgrind: `python -m bench.instructions`.

Throughput on a shared 2-core machine moves by more than 5% from run to run; the number of
instructions the proxy executes per request does not, so that is what a "no more work than
before" question is answered with. It builds nothing: it runs `python -m shadowmesh run`
from the checkout given with `--repo` (its `.venv`, its compiled request path as built), so
the same harness measures an older commit in another worktree.

Per config (no mirror, 100% mirror, 100% mirror with a Comparison for the host): two nginx
backends (the bench's, serving the 1 KB JSON
file), the proxy under `valgrind --tool=callgrind` with the access log on, a warm-up over
keep-alive connections, counters zeroed, N measured requests, counters dumped. The count is
the whole process (every thread: the access-log writer too) divided by N. With `compare`
the comparer process is not traced (callgrind follows no child): the count is what comparing
costs the serving process alone.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import nginx
from bench.comparison import with_comparison
from bench.processes import Child, StartError, Supervisor
from bench.scenarios import free_port
from bench.shadowmesh_server import ADMIN, LISTENING, SERVICE_HOST, mesh_yaml
from bench.tools import NGINX_CANDIDATES
from bench.waiting import wait_for_lines, wait_for_port

REPO = Path(__file__).resolve().parent.parent
CONFIGS = ("plain", "mirror", "compare")
# Python under callgrind starts 50-100x slower than natively.
START_TIMEOUT_S = 300.0
DUMP_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = 30.0
TOTALS = re.compile(r"^(?:summary|totals):\s+(\d+)", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Measurement:
    config: str
    requests: int
    instructions: int  # every thread
    main_thread: int  # the event loop's thread alone
    shadow_requests: int | None  # what the shadow backend received during the measured run

    @property
    def per_request(self) -> float:
        return self.instructions / self.requests

    @property
    def main_per_request(self) -> float:
        return self.main_thread / self.requests


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.instructions",
        description="Instructions per request of `shadowmesh run` under callgrind.",
    )
    parser.add_argument("--repo", type=Path, default=REPO,
                        help="checkout to measure (its .venv and compiled modules as built)")
    parser.add_argument("--python", type=Path, default=None,
                        help="interpreter to run it with (default: REPO/.venv/bin/python)")
    parser.add_argument("--config", choices=CONFIGS, action="append",
                        help="plain (no mirror), mirror (100%%) and/or compare (100%% mirror "
                             "with a Comparison); default plain and mirror")
    parser.add_argument("--requests", type=int, default=5000, help="measured requests")
    parser.add_argument("--warmup", type=int, default=3000, help="requests before zeroing")
    parser.add_argument("--connections", type=int, default=4, help="keep-alive connections")
    parser.add_argument("--keep", type=Path, default=None,
                        help="copy the callgrind outputs here (for callgrind_annotate)")
    parser.add_argument("--label", default="", help="prefix of the kept files' names")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    repo: Path = args.repo.resolve()
    python: Path = args.python or repo / ".venv" / "bin" / "python"
    valgrind = shutil.which("valgrind")
    control = shutil.which("callgrind_control")
    nginx_bin = shutil.which("nginx") or next(
        (p for p in NGINX_CANDIDATES if os.access(p, os.X_OK)), None)
    missing = [n for n, p in (("valgrind", valgrind), ("callgrind_control", control),
                              ("nginx", nginx_bin), (str(python), python.exists() or None))
               if p is None]
    if valgrind is None or control is None or nginx_bin is None or missing:
        print(f"missing: {', '.join(missing)}", file=sys.stderr)
        return 2
    if min(args.requests, args.connections) < 1 or args.warmup < 0:
        print("--requests and --connections must be positive", file=sys.stderr)
        return 2
    configs: list[str] = args.config or ["plain", "mirror"]
    load_before = os.getloadavg()[0]
    print(f"measuring {repo} ({_commit(repo)}) with {python}")
    results: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as tmp:
        workdir = Path(tmp)
        # The child must import the measured checkout, never this one.
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        with Supervisor(workdir, env=env) as supervisor:
            primary, shadow = _start_backends(supervisor, nginx_bin)
            for config in configs:
                try:
                    measured = _measure(supervisor, config, repo, python, valgrind, control,
                                        primary, shadow, args)
                except (StartError, OSError, TimeoutError) as exc:
                    print(f"{config}: failed: {exc}", file=sys.stderr)
                    return 1
                results.append(measured)
                print(f"{config}: {measured.instructions} instructions / {measured.requests} "
                      f"requests = {measured.per_request / 1000:.1f}k per request, "
                      f"{measured.main_per_request / 1000:.1f}k on the loop's thread"
                      + (f" (shadow received {measured.shadow_requests})"
                         if measured.shadow_requests is not None else ""), flush=True)
    print()
    print("| config | instructions per request | of which the loop's thread |")
    print("|---|--:|--:|")
    for m in results:
        print(f"| {m.config} | {m.per_request / 1000:.1f}k | {m.main_per_request / 1000:.1f}k |")
    print(f"load average (1 min): {load_before:.2f} at start, {os.getloadavg()[0]:.2f} at end")
    return 0


def _commit(repo: Path) -> str:
    done = subprocess.run(["git", "-C", str(repo), "describe", "--always", "--dirty"],
                          capture_output=True, text=True, check=False, timeout=10)
    return done.stdout.strip() or "unknown commit"


def _start_backends(supervisor: Supervisor, nginx_bin: str) -> tuple[int, int]:
    body = supervisor.workdir / "body.json"
    body.write_bytes(nginx.json_body())
    ports = []
    for name in ("primary", "shadow"):
        port = free_port()
        conf = nginx.backend_conf(supervisor.workdir / name, port, body)
        nginx.start_nginx(supervisor, nginx_bin, name, conf, port, None)
        ports.append(port)
    return ports[0], ports[1]


def _measure(supervisor: Supervisor, config: str, repo: Path, python: Path, valgrind: str,
             control: str, primary: int, shadow: int,
             args: argparse.Namespace) -> Measurement:
    workdir = supervisor.workdir
    yaml_file = workdir / f"{config}.yaml"
    yaml_text = mesh_yaml(primary, shadow, mirror=config != "plain")
    extra: list[str] = []
    if config == "compare":
        yaml_text = with_comparison(yaml_text)
        extra = ["--compare-store", f"sqlite:///{workdir / 'compare.db'}"]
    yaml_file.write_text(yaml_text)
    out = workdir / f"callgrind.out.{config}"
    argv = [
        # One file per thread: the access-log writer's share depends on how many records
        # each batch holds, which depends on wall-clock time (the flush timer), so the loop's
        # thread is reported apart as well.
        valgrind, "--tool=callgrind", "--separate-threads=yes", f"--callgrind-out-file={out}",
        str(python), "-m", "shadowmesh", "run", "-f", str(yaml_file),
        "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
        "--access-log", str(workdir / f"access.{config}.log"), *extra,
    ]
    # cwd is the work dir: `-m shadowmesh` resolves through the venv's install of `repo`.
    child = supervisor.start(f"proxy-{config}", argv)
    try:
        matches = wait_for_lines(child.log, [LISTENING, ADMIN], START_TIMEOUT_S,
                                 alive=child.alive)
        if matches is None:
            raise child.failure(f"did not report listening within {START_TIMEOUT_S:.0f}s")
        port = int(matches[0].group(1))
        if not wait_for_port(port, START_TIMEOUT_S, alive=child.alive):
            raise child.failure(f"does not accept connections on {port}")
        _load(port, args.warmup, args.connections)
        _control(control, "-z", child)
        before = nginx.stub_status_requests(shadow)
        _load(port, args.requests, args.connections)
        dumps = _dump(control, child, out)
        # copies are sent after the client is answered: let them land before counting
        shadow_seen = _copies_since(shadow, before) if config != "plain" else None
    finally:
        supervisor.stop(child)
    totals = []
    for dump in dumps:
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            kept = dump.name.replace(out.name, f"callgrind.out.{args.label}{config}")
            shutil.copy(dump, args.keep / kept)
        total = TOTALS.search(dump.read_text(errors="replace"))
        if total is None:
            raise OSError(f"no totals in {dump}")
        totals.append(int(total.group(1)))
    # thread 1 is the main thread, which runs the event loop
    return Measurement(config, args.requests, sum(totals), totals[0], shadow_seen)


def _control(control: str, flag: str, child: Child) -> None:
    subprocess.run([control, flag, str(child.pid)], check=True, timeout=DUMP_TIMEOUT_S,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _dump(control: str, child: Child, out: Path) -> list[Path]:
    """Ask for a dump of the counters since the zeroing; the files (one per thread, the
    main thread first) once they are complete."""
    _control(control, "-d", child)
    deadline = time.monotonic() + DUMP_TIMEOUT_S
    while time.monotonic() < deadline:
        # `--separate-threads=yes`: OUT.1-01 for the first dump of thread 1, and so on
        dumps = sorted(out.parent.glob(out.name + ".1-*"))
        if dumps and dumps[0].name.endswith("-01") and all(
                TOTALS.search(d.read_text(errors="replace")) for d in dumps):
            time.sleep(1.0)  # the threads' files are written one after the other
            if sorted(out.parent.glob(out.name + ".1-*")) == dumps:
                return dumps
        time.sleep(0.2)
    raise TimeoutError(f"callgrind did not write {out}.1-*")


def _copies_since(port: int, before: int) -> int:
    """Requests the backend received since its counter read `before`, once the count stops
    moving (bounded: 10 s). nginx counts each status request too: those are taken out."""
    polls = 0
    last = before
    for _ in range(20):
        time.sleep(0.5)
        now = nginx.stub_status_requests(port)
        polls += 1
        if now == last + 1:  # nothing but this status request since the previous one
            break
        last = now
    return now - before - polls


def _load(port: int, requests: int, connections: int) -> None:
    """`requests` sequential GETs spread round-robin over keep-alive connections."""
    request = f"GET {nginx.JSON_PATH} HTTP/1.1\r\nHost: {SERVICE_HOST}\r\n\r\n".encode()
    socks = [socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT_S)
             for _ in range(connections)]
    try:
        for i in range(requests):
            _exchange(socks[i % connections], request)
    finally:
        for s in socks:
            s.close()


def _exchange(sock: socket.socket, request: bytes) -> None:
    sock.sendall(request)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("the proxy closed the connection")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise OSError(f"unexpected answer: {head[:60]!r}")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("the proxy closed the connection mid-body")
        body += chunk


if __name__ == "__main__":
    sys.exit(main())
