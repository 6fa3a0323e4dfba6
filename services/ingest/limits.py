"""Per-client limits and retries: a token bucket per client, and the responses kept for `Idempotency-Key` retries.

Both live in the process: one replica is the whole service on one host. Several replicas (the MSK form on Fargate)
share the idempotency window in DynamoDB instead: a table keyed by (client, key) whose items hold the body's hash
and the response, written with a condition (`attribute_not_exists`) so that of two concurrent first attempts one
wins, and expired by the table's TTL attribute at the end of the window. The rate stays per replica there, and the
edge (API Gateway's throttling) caps the total.
"""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass


class RateLimiter:
    """A token bucket per client: `rate` requests a second on average, `burst` at once."""

    def __init__(self, rate: float, burst: int, max_clients: int = 100_000):
        self.rate = rate
        self.burst = float(burst)
        self.max_clients = max_clients
        self._buckets: collections.OrderedDict[str, tuple[float, float]] = collections.OrderedDict()

    def take(self, client: str, now: float | None = None) -> float:
        """0 when the client may send this request now, else the seconds until it may."""
        now = time.monotonic() if now is None else now
        tokens, then = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: bytes


@dataclass(slots=True)
class _Entry:
    digest: bytes
    expires: float
    done: asyncio.Future[StoredResponse | None]


class IdempotencyStore:
    """The first response to each (client, Idempotency-Key), kept for `window_s` seconds (the oldest dropped first
    past `max_keys`). Only a 200 is kept: a request that failed as a whole (a 503, say) may be tried again with the
    same key, and is then processed again."""

    def __init__(self, window_s: float, max_keys: int):
        self.window_s = window_s
        self.max_keys = max_keys
        self._entries: collections.OrderedDict[tuple[str, str], _Entry] = collections.OrderedDict()

    def _expire(self, now: float) -> None:
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if not entry.done.done() or (entry.expires > now and len(self._entries) <= self.max_keys):
                break
            del self._entries[key]

    async def begin(self, client: str, key: str, digest: bytes) -> StoredResponse | bool | None:
        """The kept response for this key (a retry), False when the key was used with another body, or None when
        this request is the first: it must then call `finish`."""
        now = time.monotonic()
        self._expire(now)
        entry = self._entries.get((client, key))
        if entry is not None and entry.done.done() and entry.expires <= now:
            entry = None
        while entry is not None:
            if entry.digest != digest:
                return False
            stored = await asyncio.shield(entry.done)  # a first attempt still in flight: its answer is the answer
            if stored is not None:
                return stored
            entry = self._entries.get((client, key))  # it failed and was dropped, or a retry is already going
        self._entries[(client, key)] = _Entry(digest, now + self.window_s, asyncio.get_running_loop().create_future())
        return None

    def finish(self, client: str, key: str, response: StoredResponse | None) -> None:
        """The first attempt's response (None: not kept, the key may be used again)."""
        entry = self._entries.get((client, key))
        if entry is None or entry.done.done():
            return
        entry.done.set_result(response)
        if response is None:
            del self._entries[(client, key)]

    def __len__(self) -> int:
        return len(self._entries)
