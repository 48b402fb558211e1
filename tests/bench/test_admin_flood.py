"""bench.admin_flood: the summary of quiet/flooded pairs, and the flooder against a real
server (the harness run itself needs nginx and is not part of the tests)."""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.admin_flood import FloodPair, flood, result_line, summarize
from bench.latency import LoadRun


def run(p50: float, p99: float, errors: int = 0) -> LoadRun:
    return LoadRun(requests=1000, actual_qps=1000.0, p50_ms=p50, p99_ms=p99, errors=errors,
                   non_2xx=0)


def test_summary_takes_medians_and_per_pair_differences() -> None:
    pairs = [
        FloodPair(run(1.0, 2.0), run(1.1, 2.5), Counter({"200": 900, "429": 3}), 9.0),
        FloodPair(run(1.0, 3.0), run(1.2, 3.1), Counter({"200": 1800}), 9.0),
        FloodPair(run(1.0, 2.2), run(1.0, 2.0), Counter({"200": 450}), 9.0),
    ]
    s = summarize(pairs)
    assert (s.quiet_p99_ms, s.flooded_p99_ms) == (2.2, 2.5)
    assert round(s.added_p99_ms, 6) == 0.1  # median of 0.5, 0.1, -0.2
    assert s.scrapes_per_s == 100.0 and s.refused_scrapes == 3 and s.valid
    assert "added +0.100 ms" in result_line(s)
    broken = summarize([FloodPair(run(1, 2), run(1, 2, errors=4), Counter(), 9.0)])
    assert not broken.valid and result_line(broken).startswith("INVALID")


def test_the_flooder_counts_answers_by_status() -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/metrics" else 404)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        counts = flood(server.server_address[1], connections=2, seconds=0.3)
    finally:
        server.shutdown()
        server.server_close()
    assert counts["200"] > 10 and set(counts) == {"200"}
