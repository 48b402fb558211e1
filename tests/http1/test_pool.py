"""The pool, its connections and the per-try attempt, driven step by step: a real data plane
and real upstream sockets, with the client side replaced by an in-memory transport so each
state change can be looked at (`ClusterPool.__repr__` shows the live state)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support import yaml_builders as yb
from tests.support.inproc import parse_answer, table
from tests.support.scripted import Conn, ScriptedUpstream, answer

from shadowmesh.http1.pool import ClusterPool
from shadowmesh.proxy.attempt import Attempt
from shadowmesh.proxy.dataplane import DataPlane
from shadowmesh.proxy.downstream import DownstreamProtocol
from shadowmesh.proxy.exchange import Exchange
from shadowmesh.proxy.request import Request
from shadowmesh.telemetry.record import MemoryObserver

NAME = "outbound|8000|v1|svc.default.svc.cluster.local"


class MemoryTransport:
    """What a downstream protocol writes to, kept in memory."""

    def __init__(self) -> None:
        self.data = b""
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name in ("peername", "sockname") else default

    def write(self, data: bytes) -> None:
        self.data += data

    def close(self) -> None:
        self.closed = True

    abort = close

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def plane(port: int, policy: yb.Doc | None = None) -> tuple[DataPlane, ClusterPool]:
    dp = DataPlane(observer=MemoryObserver())
    dp.set_table(table(yb.dump(yb.service("svc", {"v1": port}, http=[yb.to("svc", "v1")],
                                          traffic_policy=policy))))
    return dp, dp.clusters.get(dp.table.clusters[NAME]).pool


def client(dp: DataPlane, raw: bytes) -> MemoryTransport:
    transport = MemoryTransport()
    down = DownstreamProtocol(dp, "mesh")
    down.connection_made(transport)  # type: ignore[arg-type]
    down.data_received(raw)
    return transport


async def answered(*transports: MemoryTransport) -> None:
    async with asyncio.timeout(5):
        while not all(parse_answer(t.data).complete for t in transports):
            await asyncio.sleep(0.005)


GET = b"GET /%d HTTP/1.1\r\nHost: svc:8000\r\n\r\n"


def test_a_clean_connection_goes_idle_and_is_reused() -> None:
    async def scenario() -> None:
        async with ScriptedUpstream() as up:
            dp, pool = plane(up.port)
            first = client(dp, GET % 1)
            assert repr(pool).endswith("[Requests: 0 active, 0 queued | "
                                       "Connections: 1 total, 0 idle]>")  # opening
            await answered(first)
            assert repr(pool).endswith("[Requests: 0 active, 0 queued | "
                                       "Connections: 1 total, 1 idle]>")
            second = client(dp, GET % 2)
            assert repr(pool).endswith("[Requests: 1 active, 0 queued | "
                                       "Connections: 1 total, 0 idle]>")  # taken at once
            await answered(second)
            assert parse_answer(second.data).body == b"/2"
            assert up.connections == 1 and pool.idle == 1
            await dp.drain(0.1)
    asyncio.run(scenario())


def test_a_waiter_gets_the_connection_once_the_answer_is_read() -> None:
    async def scenario() -> None:
        one = {"connectionPool": {"tcp": {"maxConnections": 1},
                                  "http": {"http1MaxPendingRequests": 1}}}
        async with ScriptedUpstream() as up:
            dp, pool = plane(up.port, one)
            first, second = client(dp, GET % 1), client(dp, GET % 2)
            assert repr(pool).endswith("[Requests: 0 active, 1 queued | "
                                       "Connections: 1 total, 0 idle]>")
            third = client(dp, GET % 3)  # past maxConnections and the queue: UO
            await answered(first, second, third)
            assert [parse_answer(t.data).status for t in (first, second, third)] == [
                200, 200, 503]
            assert parse_answer(second.data).body == b"/2"
            assert up.connections == 1
            flags = sorted(r.response_flags for r in dp.observer.records)  # type: ignore[attr-defined]
            assert flags == ["-", "-", "UO"]
            await dp.drain(0.1)
    asyncio.run(scenario())


async def _close_after_each(conn: Conn) -> None:
    if (seen := await conn.read_request()) is not None:
        await conn.send(answer(seen.path.encode(), extra=b"connection: close\r\n"))
        conn.close()


def test_a_connection_the_upstream_closes_is_not_kept() -> None:
    async def scenario() -> None:
        async with ScriptedUpstream(_close_after_each) as up:
            dp, pool = plane(up.port)
            await answered(client(dp, GET % 1))
            assert repr(pool).endswith("[Requests: 0 active, 0 queued | "
                                       "Connections: 0 total, 0 idle]>")
            await answered(client(dp, GET % 2))
            assert up.connections == 2
            await dp.drain(0.1)
    asyncio.run(scenario())


def test_an_attempt_given_up_while_connecting_cannot_touch_its_exchange() -> None:
    async def scenario() -> None:
        async with ScriptedUpstream() as up:
            dp, pool = plane(up.port)
            cluster = dp.clusters.get(dp.table.clusters[NAME])
            host = cluster.hosts[0]
            down = DownstreamProtocol(dp, "mesh")
            down.connection_made(MemoryTransport())  # type: ignore[arg-type]
            req = Request(b"GET", b"/", [(b"Host", b"svc:8000")], "1.1", True, False,
                          "127.0.0.1:40000", "127.0.0.1")
            exchange = Exchange(dp, down, req)
            attempt = Attempt(exchange, cluster, host, 1)
            assert host.active_requests == 1
            pool.acquire(attempt, host)  # the socket is being opened
            attempt.end(False)  # e.g. its per-try timeout fired meanwhile
            assert host.active_requests == 0
            async with asyncio.timeout(5):
                while pool.idle == 0:
                    await asyncio.sleep(0.005)
            # the late connection went back to the pool unused; the exchange saw nothing
            assert repr(pool).endswith("[Requests: 0 active, 0 queued | "
                                       "Connections: 1 total, 1 idle]>")
            assert exchange.attempts == 0 and exchange.status == 0
            assert up.seen == []
            await dp.drain(0.1)
    asyncio.run(scenario())
