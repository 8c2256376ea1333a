"""Per-API-key rate limits that hold across every API process.

Each key may make ``COFFER_RATE_LIMIT_PER_MINUTE`` requests per fixed clock minute, counted over
all processes and tasks: every process counts its own hits and, about once a second
(``COFFER_RATE_LIMIT_SYNC_SECONDS``), adds them to a shared counter in PostgreSQL
(``rate_limit_windows``) and reads back the total. A request is allowed while the last known
total plus the process's unsynced hits is under the limit, so N processes overshoot by at most
the hits that arrive within one sync interval. No request waits on the database for this.
"""

import asyncio
import logging
import math
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from coffer_api.keys import touch_keys

WINDOW_SECONDS = 60
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # unix time at which the window resets
    retry_after: int  # seconds, when not allowed

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(self.reset).encode()),
        ]


class RateLimiter:
    def __init__(self, limit_per_minute: int, clock=time.time) -> None:
        self.limit = limit_per_minute
        self._clock = clock
        self._window = 0
        self._unsynced: dict[str, int] = defaultdict(int)
        self._synced_total: dict[str, int] = defaultdict(int)
        self._in_flight: dict[str, int] = {}

    def _roll(self, now: float) -> int:
        window = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
        if window != self._window:
            self._window = window
            self._unsynced.clear()
            self._synced_total.clear()
            self._in_flight = {}
        return window

    def hit(self, key_id: str) -> Decision:
        now = self._clock()
        window = self._roll(now)
        reset = window + WINDOW_SECONDS
        used = self._synced_total[key_id] + self._in_flight.get(key_id, 0) + self._unsynced[key_id]
        if used >= self.limit:
            return Decision(False, self.limit, 0, reset, max(1, math.ceil(reset - now)))
        self._unsynced[key_id] += 1
        return Decision(True, self.limit, self.limit - used - 1, reset, 0)

    async def sync(self, pool: asyncpg.Pool) -> None:
        """Add this process's hits to the shared counters and learn the totals of all processes."""
        self._roll(self._clock())
        window = self._window
        keys = list(self._synced_total.keys() | self._unsynced.keys())
        if not keys:
            return
        deltas = [self._unsynced.get(k, 0) for k in keys]
        self._in_flight = dict(zip(keys, deltas, strict=True))
        for k in keys:
            self._unsynced.pop(k, None)
        try:
            async with pool.acquire() as conn:
                rows = await conn.fetch(
                    """
                    INSERT INTO rate_limit_windows (key_id, window_start, hits)
                    SELECT k, $2, d FROM unnest($1::text[], $3::bigint[]) AS t (k, d)
                    ON CONFLICT (key_id, window_start) DO UPDATE
                        SET hits = rate_limit_windows.hits + excluded.hits
                    RETURNING key_id, hits
                    """,
                    keys,
                    datetime.fromtimestamp(window, UTC),
                    deltas,
                )
                used = [k for k, d in zip(keys, deltas, strict=True) if d]
                if used:
                    await touch_keys(conn, used)
        except BaseException:
            # put the hits back so they are counted on the next sync
            if window == self._window:
                for k, d in zip(keys, deltas, strict=True):
                    self._unsynced[k] += d
            self._in_flight = {}
            raise
        if window == self._window:
            for row in rows:
                self._synced_total[row["key_id"]] = row["hits"]
        self._in_flight = {}

    async def run(self, pool: asyncpg.Pool, every: float) -> None:
        last_cleanup = 0.0
        while True:
            await asyncio.sleep(every)
            try:
                await self.sync(pool)
                if time.monotonic() - last_cleanup > 600:
                    await pool.execute("DELETE FROM rate_limit_windows WHERE window_start < now() - interval '1 hour'")
                    last_cleanup = time.monotonic()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("rate limit sync failed; will retry", extra={"error": type(exc).__name__})
