"""The balance outbox: live balance updates published to Roblox through Open Cloud MessagingService.

Rows are enqueued inside PostgreSQL, in the same transaction as the money change, by the trigger
of migration 0003 (every player whose balance changed outside a game server; see its docstring).
This module drains them:

- ``claim`` leases due rows with ``FOR UPDATE SKIP LOCKED`` in a short transaction, so several API
  processes drain side by side and a crashed process's lease simply runs out;
- the player's balances are read *after* the claim, so a change committed later has a row of its
  own and is published in a later round (nothing is lost, several changes coalesce into one message);
- each player's message ``{"user_id": .., "balances": {..}}`` is POSTed to
  ``{base}/messaging-service/v1/universes/{universe}/topics/{topic}`` with ``x-api-key``;
- failures (network, 429 with Retry-After, 5xx, a wrong key) back off exponentially with jitter and
  give up after ``MAX_ATTEMPTS``. Nothing here runs inside a request, so a slow or failing Roblox
  never blocks or fails a transaction.

Outbox rows hold a Roblox user id, so they are deleted ``RETENTION`` after they were enqueued,
published or not; that also bounds the table when Open Cloud is not configured.
"""

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

import asyncpg
import httpx
import orjson

from coffer_api import ledger
from coffer_api.settings import Settings

log = logging.getLogger(__name__)

BATCH = 100
CONCURRENCY = 8
POLL_SECONDS = 0.5
LEASE_SECONDS = 30.0
MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 300.0
RETENTION = timedelta(days=1)
PURGE_EVERY_SECONDS = 3600.0
MESSAGE_MAX_BYTES = 1024
HTTP_TIMEOUT_SECONDS = 10.0

DATABASE_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


@dataclass(frozen=True, slots=True)
class Pending:
    """One player to publish, with the outbox rows that asked for it."""

    user_id: int
    ids: tuple[int, ...]
    attempts: int


class PublishFailed(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def enabled(settings: Settings) -> bool:
    return settings.opencloud_api_key is not None and settings.opencloud_universe_id is not None


def message_for(user_id: int, balances: dict[str, int]) -> str:
    """The MessagingService message; balances are left out (null) when they would not fit in 1 kB."""
    message = orjson.dumps({"user_id": user_id, "balances": balances}).decode()
    if len(message.encode()) > MESSAGE_MAX_BYTES:
        message = orjson.dumps({"user_id": user_id, "balances": None}).decode()
    return message


def backoff_seconds(attempts: int) -> float:
    """Full jitter: a random delay up to base * 2^(attempts - 1), capped."""
    ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))
    return random.uniform(ceiling / 2, ceiling)


async def claim(conn: asyncpg.Connection, limit: int = BATCH, lease_seconds: float = LEASE_SECONDS) -> list[Pending]:
    """Lease up to ``limit`` due rows; rows of one player come back as one Pending."""
    rows = await conn.fetch(
        """
        UPDATE balance_outbox o
        SET attempts = o.attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
        WHERE o.id IN (
            SELECT id FROM balance_outbox
            WHERE published_at IS NULL AND next_attempt_at <= now()
            ORDER BY next_attempt_at, id
            LIMIT $1
            FOR UPDATE SKIP LOCKED)
        RETURNING o.id, o.user_id, o.attempts
        """,
        limit,
        lease_seconds,
    )
    by_user: dict[int, tuple[list[int], int]] = {}
    for row in rows:
        ids, attempts = by_user.get(row["user_id"], ([], 0))
        ids.append(row["id"])
        by_user[row["user_id"]] = (ids, max(attempts, row["attempts"]))
    return [Pending(user_id, tuple(sorted(ids)), attempts) for user_id, (ids, attempts) in by_user.items()]


async def mark_published(conn: asyncpg.Connection, ids: list[int]) -> None:
    await conn.execute(
        "UPDATE balance_outbox SET published_at = now(), last_error = NULL WHERE id = ANY($1::bigint[])", ids
    )


async def mark_failed(conn: asyncpg.Connection, pending: Pending, error: str, retry_after: float | None) -> bool:
    """Schedule the next attempt; returns False when the rows have used up their attempts."""
    if pending.attempts >= MAX_ATTEMPTS:
        await conn.execute(
            "UPDATE balance_outbox SET next_attempt_at = 'infinity', last_error = $2 WHERE id = ANY($1::bigint[])",
            list(pending.ids),
            error,
        )
        return False
    delay = max(backoff_seconds(pending.attempts), retry_after or 0.0)
    await conn.execute(
        """
        UPDATE balance_outbox SET next_attempt_at = now() + make_interval(secs => $2), last_error = $3
        WHERE id = ANY($1::bigint[])
        """,
        list(pending.ids),
        delay,
        error,
    )
    return True


async def purge(conn: asyncpg.Connection, retention: timedelta = RETENTION) -> int:
    """Delete rows enqueued longer ago than ``retention`` (published, given up or never drained)."""
    result = await conn.execute("DELETE FROM balance_outbox WHERE created_at < now() - $1::interval", retention)
    return int(result.split()[-1])


class Publisher:
    """Publishes one message to the experience's MessagingService topic through Open Cloud."""

    def __init__(self, http: httpx.AsyncClient, settings: Settings) -> None:
        if settings.opencloud_api_key is None or settings.opencloud_universe_id is None:
            raise ValueError("COFFER_OPENCLOUD_API_KEY and COFFER_OPENCLOUD_UNIVERSE_ID are both required")
        base = settings.opencloud_base_url.rstrip("/")
        topic = quote(settings.opencloud_topic, safe="")
        self.url = f"{base}/messaging-service/v1/universes/{settings.opencloud_universe_id}/topics/{topic}"
        self._key = settings.opencloud_api_key
        self._http = http

    async def publish(self, message: str) -> None:
        try:
            response = await self._http.post(
                self.url,
                content=orjson.dumps({"message": message}),
                headers={"x-api-key": self._key.get_secret_value(), "content-type": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise PublishFailed(f"network: {type(exc).__name__}") from exc
        if response.status_code < 300:
            return
        retry_after = None
        if response.status_code == 429:
            try:
                retry_after = float(response.headers.get("retry-after", ""))
            except ValueError:
                retry_after = None
        raise PublishFailed(f"HTTP {response.status_code}", retry_after)


async def _publish_one(pool: asyncpg.Pool, publisher: Publisher, pending: Pending) -> float | None:
    """Publish one player's balances and record the result; returns a Retry-After to honour, if any."""
    async with pool.acquire() as conn:
        (player,) = await ledger.player_balances(conn, [pending.user_id])
    try:
        await publisher.publish(message_for(player.user_id, player.balances))
    except PublishFailed as failure:
        async with pool.acquire() as conn:
            retrying = await mark_failed(conn, pending, failure.reason, failure.retry_after)
        log.warning(
            "balance publish failed" if retrying else "balance publish gave up",
            extra={"error": failure.reason, "attempts": pending.attempts},
        )
        return failure.retry_after
    async with pool.acquire() as conn:
        await mark_published(conn, list(pending.ids))
    return None


async def drain_once(pool: asyncpg.Pool, publisher: Publisher) -> tuple[int, float | None]:
    """One round: claim, publish in parallel, record. Returns (players handled, Retry-After)."""
    async with pool.acquire() as conn:
        batch = await claim(conn)
    if not batch:
        return 0, None
    gate = asyncio.Semaphore(CONCURRENCY)

    async def guarded(pending: Pending) -> float | None:
        async with gate:
            return await _publish_one(pool, publisher, pending)

    waits = [w for w in await asyncio.gather(*(guarded(p) for p in batch)) if w]
    return len(batch), max(waits) if waits else None


async def run(pool: asyncpg.Pool, settings: Settings) -> None:
    """The background task: drain (when Open Cloud is configured) and purge old rows, until cancelled."""
    publisher = None
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS) as http:
        if enabled(settings):
            publisher = Publisher(http, settings)
            log.info("publishing balance changes to Open Cloud", extra={"topic": settings.opencloud_topic})
        next_purge = 0.0
        while True:
            pause = PURGE_EVERY_SECONDS if publisher is None else POLL_SECONDS
            try:
                if time.monotonic() >= next_purge:
                    async with pool.acquire() as conn:
                        await purge(conn)
                    next_purge = time.monotonic() + PURGE_EVERY_SECONDS
                if publisher is not None:
                    handled, retry_after = await drain_once(pool, publisher)
                    if retry_after:
                        pause = retry_after  # Open Cloud asked every publisher to slow down
                    elif handled:
                        pause = 0
            except DATABASE_ERRORS as exc:
                log.warning("balance outbox: database unavailable; will retry", extra={"error": type(exc).__name__})
                pause = max(pause, 1.0)
            await asyncio.sleep(pause)
