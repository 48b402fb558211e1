"""A small HTTPS/1.1 server of our own on loopback: keep-alive, answers with which TLS
connection carried the request and the client certificate's common name."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from tests.support.certs import CA, Pair


@dataclass
class TLSUpstream:
    port: int
    connections: int = 0  # handshakes completed
    requests: list[str] = field(default_factory=list)
    peers: list[str] = field(default_factory=list)  # client certificate CNs ("-" for none)


def server_context(pair: Pair, client_ca: CA | None = None, max_tls12: bool = False
                   ) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pair.cert, pair.key)
    if client_ca is not None:
        ctx.load_verify_locations(client_ca.cert)
        ctx.verify_mode = ssl.CERT_REQUIRED
    if max_tls12:
        # A refused client certificate then fails the client's handshake itself.
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


@contextlib.asynccontextmanager
async def tls_upstream(ctx: ssl.SSLContext) -> AsyncIterator[TLSUpstream]:
    state = TLSUpstream(0)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        conn_id = state.connections
        peer = writer.get_extra_info("peercert") or {}
        cn = next((v for rdn in peer.get("subject", ()) for k, v in rdn
                   if k == "commonName"), "-")
        try:
            for _ in range(1000):
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                state.requests.append(path)
                state.peers.append(cn)
                body = f"conn={conn_id} path={path} peer={cn}".encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=ctx)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1)
