"""Pacing admin requests, so that no client can make the admin take the CPU from traffic.

The admin runs on its own thread, but a Python thread shares the interpreter with the
traffic loop: a client that sends scrapes as fast as it can would take every other time
slice. Requests are admitted at `rate` per second with bursts of `burst` (a token bucket);
the rest wait for their turn, which costs nothing, and one that would wait longer than
`max_wait` answers 429 at once. Health probes have an allowance of their own, so that an
orchestrator's probe never queues behind scrapes (and a flood of probes is paced too).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

HEALTH_PATHS = frozenset({"/healthz", "/ready"})


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(max(burst, 1))
        self._tokens = self.burst
        self._at: float | None = None

    def reserve(self, now: float) -> float:
        """Take a token; return how long to wait before it is ours (0: now)."""
        if self._at is None:
            self._at = now
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def give_back(self) -> None:
        self._tokens += 1.0


class Pacer:
    def __init__(self, app: ASGIApp, rate: float, burst: int, max_wait: float,
                 health_rate: float | None = None) -> None:
        self.app = app
        self.bucket = TokenBucket(rate, burst)
        self.health = TokenBucket(health_rate or rate, burst)
        self.max_wait = max_wait
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        bucket = self.health if scope.get("path") in HEALTH_PATHS else self.bucket
        if scope["type"] != "http" or bucket.rate <= 0:
            await self.app(scope, receive, send)
            return
        wait = bucket.reserve(asyncio.get_running_loop().time())
        if wait > self.max_wait:
            bucket.give_back()
            self.refused += 1
            await _too_many(send, wait)
            return
        if wait > 0:
            await asyncio.sleep(wait)
        await self.app(scope, receive, send)


async def _too_many(send: Send, wait: float) -> None:
    body = json.dumps({
        "error": "TooManyRequests",
        "message": "the admin API is pacing requests; retry later",
    }).encode()
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(max(1, int(wait))).encode()),
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})
