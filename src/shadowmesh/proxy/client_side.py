"""What an exchange and the data plane need from the client connection a request came on.

`downstream.DownstreamProtocol` is the one implementation. The exchange and the data plane
know it through this base class, so `proxy/` has no import cycle (downstream -> exchange ->
client_side; dataplane -> client_side). A base class rather than a Protocol: compiled, a
call through it goes through its method table.
"""

from __future__ import annotations

import asyncio


class ClientSide(asyncio.Protocol):
    __slots__ = ()

    transport: asyncio.Transport | None
    context: str  # the listener's routing context (mesh or a gateway)
    remote: str
    local_address: str
    local_port: int
    server_name: str | None  # the SNI of a TLS connection
    draining: bool  # no keep-alive from now on
    writable: bool

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def cork(self) -> None:
        raise NotImplementedError

    def uncork(self) -> None:
        raise NotImplementedError

    def pause_reading(self) -> None:
        raise NotImplementedError

    def resume_reading(self) -> None:
        raise NotImplementedError

    def exchange_done(self, exchange: object, abort: bool, now: float) -> None:
        """The exchange answered (or gave up, `abort`) at `now` (the monotonic clock, read
        once for the access log and the connection's idle clock): the next request may
        start."""
        raise NotImplementedError

    def begin_tunnel(self, exchange: object) -> None:
        """The upstream accepted an upgrade: bytes from the client now go to `exchange`."""
        raise NotImplementedError

    def drain(self) -> None:
        raise NotImplementedError
