"""The shadow side's own limits and annotations, end to end over loopback with a data plane
in the test's loop: the queue and its byte limit, expiry and the concurrency limit, the
circuit breaker driven by real failures, consistent sampling, `correlation-header` and
`mirror-host-rewrite`, and a client that gives up (flag DC)."""

from __future__ import annotations

import asyncio
import socket

from tests.support import yaml_builders as yb
from tests.support.inproc import InProcProxy, get, inproc_proxy, request
from tests.support.scripted import Conn, ScriptedUpstream, answer, echo_path

from shadowmesh.mirror.dispatcher import MirrorLimits

SERVICE = "svc.default.svc.cluster.local"
NO_PIPELINING = {"shadowmesh.io/shadow-pipelining": "false"}


def config(primary: int, shadow: int, annotations: dict[str, str] | None = None,
           percent: float | None = None) -> str:
    rule = yb.to("svc", "v1", mirror=yb.dest("svc", "v2"))
    if percent is not None:
        rule["mirrorPercentage"] = {"value": percent}
    return yb.dump(yb.service("svc", {"v1": primary, "v2": shadow}, http=[rule],
                              vs_annotations=annotations))


def skipped(proxy: InProcProxy) -> list[str]:
    return [reason for _, reason in proxy.observer.skipped]


async def _slow_shadow(conn: Conn) -> None:
    while await conn.read_request() is not None:
        await asyncio.sleep(0.4)
        await conn.send(answer(b"shadow"))


def post(path: str, size: int) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: svc:8000\r\nConnection: close\r\n"
            f"Content-Length: {size}\r\n\r\n").encode() + b"p" * size


def test_queue_and_concurrency_limits() -> None:
    async def scenario() -> None:
        limits = MirrorLimits(concurrency=1, queue_size=1)
        async with ScriptedUpstream(echo_path) as primary, \
                ScriptedUpstream(_slow_shadow) as shadow, \
                inproc_proxy(config(primary.port, shadow.port, NO_PIPELINING), limits) as proxy:
            for i in range(3):
                assert (await request(proxy.port, get(f"/{i}"))).status == 200
            assert proxy.dp.mirror.inflight == 1 and proxy.dp.mirror.queue_depth == 1
            assert skipped(proxy) == ["queue_full"]
            await proxy.wait_records(2, shadow=True, timeout=3)
            assert sorted(s.path for s in shadow.seen) == ["/0", "/1"]
    asyncio.run(scenario())


def test_queued_bytes_are_limited() -> None:
    async def scenario() -> None:
        limits = MirrorLimits(concurrency=1, queue_size=100, queue_bytes=50)
        async with ScriptedUpstream(echo_path) as primary, \
                ScriptedUpstream(_slow_shadow) as shadow, \
                inproc_proxy(config(primary.port, shadow.port, NO_PIPELINING), limits) as proxy:
            for i in range(3):
                assert (await request(proxy.port, post(f"/{i}", 40))).status == 200
            # one in flight, one queued (40 bytes), the third would make 80 > 50
            assert skipped(proxy) == ["queue_full"]
            await proxy.wait_records(2, shadow=True, timeout=3)
            assert all(s.body == b"p" * 40 for s in shadow.seen)
    asyncio.run(scenario())


def test_copies_that_waited_too_long_expire() -> None:
    async def scenario() -> None:
        limits = MirrorLimits(concurrency=1, queue_size=10, timeout=0.2)
        async with ScriptedUpstream(echo_path) as primary, \
                ScriptedUpstream(_slow_shadow) as shadow, \
                inproc_proxy(config(primary.port, shadow.port, NO_PIPELINING), limits) as proxy:
            for path in ("/first", "/second", "/third"):
                await request(proxy.port, get(path))
            # /first times out after 0.2 s, by when /second has waited about as long; if
            # /second still starts, /third has waited for both: one of them expires.
            async with asyncio.timeout(3):
                while proxy.dp.mirror.queue_depth or proxy.dp.mirror.inflight:
                    await asyncio.sleep(0.02)
            assert proxy.observer.shadows()[0].response_flags == "UT"
            expired = skipped(proxy).count("queue_expired")
            assert expired >= 1 and len(proxy.observer.shadows()) + expired == 3
    asyncio.run(scenario())


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_circuit_breaker_opens_on_real_failures() -> None:
    async def scenario() -> None:
        limits = MirrorLimits(breaker_failures=2, breaker_cooldown=30)
        async with ScriptedUpstream(echo_path) as primary, \
                inproc_proxy(config(primary.port, dead_port()), limits) as proxy:
            for i in range(2):
                await request(proxy.port, get(f"/{i}"))
                await proxy.wait_records(i + 1, shadow=True)
            assert [r.response_flags for r in proxy.observer.shadows()] == ["UF", "UF"]
            assert proxy.dp.mirror.breaker_states() == {
                "outbound|8000|v2|svc.default.svc.cluster.local": "open"}
            for i in range(3):
                assert (await request(proxy.port, get(f"/later{i}"))).status == 200
            assert skipped(proxy) == ["circuit_open"] * 3
            assert len(proxy.observer.shadows()) == 2
    asyncio.run(scenario())


def test_consistent_sampling_keeps_a_key_in_or_out() -> None:
    async def scenario() -> None:
        async with ScriptedUpstream(echo_path) as primary, \
                ScriptedUpstream(echo_path) as shadow, \
                inproc_proxy(config(primary.port, shadow.port,
                                    {"shadowmesh.io/mirror-sample-key": "header:x-user"},
                                    percent=50.0)) as proxy:
            for user in range(20):
                for _ in range(3):
                    await request(proxy.port, get(f"/u{user}", extra=f"x-user: user-{user}\r\n"))
            await asyncio.sleep(0.2)
            per_user: dict[str, int] = {}
            for seen in shadow.seen:
                per_user[seen.path] = per_user.get(seen.path, 0) + 1
            assert set(per_user.values()) == {3}  # all or nothing, per key
            assert 2 <= len(per_user) <= 18  # and about half the keys
    asyncio.run(scenario())


def test_correlation_header_and_host_rewrite_annotations() -> None:
    async def scenario() -> None:
        annotations = {"shadowmesh.io/correlation-header": "x-corr",
                       "shadowmesh.io/mirror-host-rewrite": "candidate.internal:9000"}
        async with ScriptedUpstream(echo_path) as primary, \
                ScriptedUpstream(echo_path) as shadow, \
                inproc_proxy(config(primary.port, shadow.port, annotations)) as proxy:
            await request(proxy.port, get("/a", extra="x-request-id: rid-42\r\n"))
            await proxy.wait_records(1, shadow=True)
            [copy] = shadow.seen
            assert copy.header("x-corr") == "rid-42"
            assert copy.header("host") == "candidate.internal:9000"
            assert primary.seen[0].header("host") == "svc:8000"
            assert primary.seen[0].header("x-corr") is None
    asyncio.run(scenario())


def test_a_client_that_gives_up_mid_body_is_flagged_dc_and_not_mirrored() -> None:
    async def scenario() -> None:
        async with ScriptedUpstream(echo_path) as primary, \
                ScriptedUpstream(echo_path) as shadow, \
                inproc_proxy(config(primary.port, shadow.port)) as proxy:
            _reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(b"POST /p HTTP/1.1\r\nHost: svc:8000\r\nContent-Length: 1000\r\n\r\n"
                         + b"x" * 10)
            await writer.drain()
            await asyncio.sleep(0.1)
            writer.close()
            await proxy.wait_records(1)
            record = proxy.observer.primary()[0]
            assert "DC" in record.response_flags
            assert record.response_code_details == "downstream_remote_disconnect"
            assert skipped(proxy) == ["client_aborted"]
            assert shadow.seen == []
            # the primary's half-sent request spoiled its connection: it was not kept
            assert proxy.dp.clusters.get(proxy.dp.table.clusters[
                "outbound|8000|v1|svc.default.svc.cluster.local"]).pool.idle == 0
    asyncio.run(scenario())
