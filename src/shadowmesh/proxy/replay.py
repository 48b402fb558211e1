"""The request-body replay buffer: the body as it arrives, kept so that a retry can send it
again and a shadow copy can carry it, while it fits the body limit.

Pieces stream to the current try as they arrive; `sent` counts those that went out on it.
Past the limit the body is no longer replayable (no retry, copies are skipped as
`body_too_large`) and what went out is dropped; if nothing can take the rest (no connection
yet) the client is not read further until one can. Only requests with a body get a buffer.
"""

from __future__ import annotations

from shadowmesh.http1.connection import UpstreamConnection
from shadowmesh.http1.framing import LAST_CHUNK, chunk


class ReplayBuffer:
    __slots__ = ("chunked", "limit", "pieces", "replayable", "sent", "size")

    def __init__(self, limit: int, chunked: bool) -> None:
        self.limit = limit
        self.chunked = chunked  # the upstream request is chunked: frame each piece
        self.pieces: list[bytes] = []
        self.sent = 0  # pieces written on the current try
        self.size = 0  # every byte received, kept or not
        self.replayable = True

    def received(self, data: bytes, conn: UpstreamConnection | None) -> bool:
        """A piece from the client; writes it to `conn` when everything before it went out.
        True: stop reading the client (the upstream or the buffer is full)."""
        pieces = self.pieces
        pieces.append(data)
        self.size += len(data)
        pause = False
        if conn is not None and self.sent == len(pieces) - 1:
            conn.write(chunk(data) if self.chunked else data)
            self.sent += 1
            pause = not conn.writable
        if self.replayable and self.size > self.limit:
            self.replayable = False
        if not self.replayable:
            del pieces[: self.sent]
            self.sent = 0
            if pieces and sum(map(len, pieces)) > self.limit:
                pause = True  # no upstream yet: stop reading the client
        return pause

    def for_new_try(self, out: list[bytes], request_done: bool) -> bool:
        """Append what a new try must send after its head to `out`. True when the client was
        held back for want of a connection and may be read again."""
        chunked = self.chunked
        for piece in self.pieces:
            out.append(chunk(piece) if chunked else piece)
        if request_done and chunked:
            out.append(LAST_CHUNK)
        if self.replayable:
            self.sent = len(self.pieces)
            return False
        self.pieces.clear()
        self.sent = 0
        return True

    def all_sent(self) -> bool:
        return self.sent == len(self.pieces)

    def rewind(self) -> None:
        """The try ended: the next one starts from the first piece."""
        self.sent = 0

    def body(self) -> bytes | None:
        """The whole body for a copy, or None when it was too large to keep."""
        return b"".join(self.pieces) if self.replayable else None
