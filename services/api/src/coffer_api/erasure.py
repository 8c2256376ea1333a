"""Right to erasure: Roblox's signed RightToErasureRequest webhook, the durable queue, and the
erasure itself (``erase``), applied by a background worker or by ``coffer erase USER_ID``.

An erasure replaces a Roblox user id with a random negative pseudonym (never derived from the
id) everywhere it is stored, in one database transaction per user:

- accounts.user_id (so balances, entries and both ledger invariants stay exact: entries hold
  account ids, never user ids), receipts.user_id and receipts.response;
- every mention of the id in transactions.metadata and transactions.reason (the append-only
  trigger allows this UPDATE only under ``SET LOCAL coffer.erasure = 'on'``);
- stored idempotent replies: the key, the response and the request hash (a hash of a request
  naming the id could be brute-forced back to it), so a replay can never bring the id back;
- Discord links, link codes, failed-link counters and queued balance messages are deleted.

Concurrency. A live posting first inserts its missing accounts, then locks them ``FOR UPDATE``.
If the erasure renamed an account between those two steps, the posting would wake up to find
no account for the player and book only the issuer's side. So the erasure takes ``SHARE ROW
EXCLUSIVE`` on ``accounts`` before it renames anything: it waits for every posting in flight
(all of them commit before it, and are then rewritten too), and postings that start later wait
for the erasure and then create a fresh account for the id: the player starts over. To keep
that write pause short, the full-table searches run first, without that lock (phase 1); under
the lock only the rows found and the rows written since the erasure began are rewritten (phase 2).
"""

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass

import asyncpg
import orjson

from coffer_api.errors import InvalidSignature

log = logging.getLogger(__name__)

SIGNATURE_TOLERANCE_SECONDS = 300
POLL_SECONDS = 5.0
LOCK_TIMEOUT = "5s"  # how long an erasure may hold up new postings while it waits for the table lock
SEARCH_TIMEOUT_SECONDS = 3600.0
MAX_BACKOFF_SECONDS = 3600
ERASURE_EVENT = "RightToErasureRequest"
SAMPLE_EVENT = "SampleNotification"


@dataclass(frozen=True, slots=True)
class Erasure:
    """What one erasure changed: rows per table (the id itself is never kept)."""

    rows_changed: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.rows_changed.values())


# --- the webhook's signature -------------------------------------------------------------------


def _signature_parts(header: str) -> tuple[int, list[bytes]]:
    timestamp: int | None = None
    signatures: list[bytes] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            signatures.append(value.encode())
    if timestamp is None or not signatures:
        raise InvalidSignature("The roblox-signature header must look like 't=<unix seconds>,v1=<base64 signature>'.")
    return timestamp, signatures


def _sign(secret: bytes, timestamp: int, body: bytes) -> bytes:
    digest = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).digest()
    return base64.b64encode(digest)


def verify_signature(secret: str, header: str | None, body: bytes, now: float | None = None) -> None:
    """Check Roblox's ``roblox-signature`` over the raw body, then over the compact re-serialized
    JSON (what Roblox's own example signs); raise InvalidSignature when neither matches or the
    timestamp is more than 5 minutes away."""
    if not header:
        raise InvalidSignature("The roblox-signature header is missing; only Roblox's signed webhooks are accepted.")
    timestamp, signatures = _signature_parts(header)
    now = time.time() if now is None else now
    if abs(now - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
        raise InvalidSignature("The signature's timestamp is more than 5 minutes away from now (a replay?).")
    key = secret.encode()
    candidates = [body]
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        compact = json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()
        if compact != body:
            candidates.append(compact)
    expected = [_sign(key, timestamp, candidate) for candidate in candidates]
    # every comparison runs, in constant time, whichever matches
    matched = False
    for signature in signatures:
        for wanted in expected:
            matched |= hmac.compare_digest(signature, wanted)
    if not matched:
        raise InvalidSignature("The webhook signature does not match; check COFFER_ROBLOX_WEBHOOK_SECRET.")


# --- the queue -------------------------------------------------------------------------------


async def enqueue(conn: asyncpg.Connection, notification_id: str, user_id: int) -> bool:
    """Queue an erasure durably; False when this NotificationId was queued before."""
    request_id = await conn.fetchval(
        """
        INSERT INTO erasure_requests (notification_id, user_id) VALUES ($1, $2)
        ON CONFLICT (notification_id) DO NOTHING RETURNING id
        """,
        notification_id,
        user_id,
    )
    if request_id is not None:
        log.info("erasure queued", extra={"erasure_request": request_id})
    return request_id is not None


async def erase(conn: asyncpg.Connection, user_id: int) -> Erasure:
    """Erase a user now, in one transaction, leaving a finished erasure record (``coffer erase``)."""
    async with conn.transaction():
        request_id = await conn.fetchval("INSERT INTO erasure_requests (user_id) VALUES ($1) RETURNING id", user_id)
        erasure = await _apply(conn, request_id, user_id)
    log.info("erasure done", extra={"erasure_request": request_id, "rows_changed": erasure.rows_changed})
    return erasure


async def apply_next(conn: asyncpg.Connection) -> bool:
    """Apply the oldest due request, if any; False when none is due. Safe with many API processes:
    a request being applied is locked and skipped by the others. A failure is recorded on the
    request (class name only) and retried later with backoff."""
    async with conn.transaction():
        claimed = await conn.fetchrow(
            """
            SELECT id, user_id, attempts FROM erasure_requests
            WHERE status = 'pending' AND next_attempt_at <= now()
            ORDER BY next_attempt_at, id LIMIT 1
            FOR UPDATE SKIP LOCKED
            """
        )
        if claimed is None:
            return False
        try:
            async with conn.transaction():
                erasure = await _apply(conn, claimed["id"], claimed["user_id"])
        except asyncpg.PostgresError as exc:
            backoff = min(MAX_BACKOFF_SECONDS, 5 * 2 ** min(claimed["attempts"], 12))
            await conn.execute(
                """
                UPDATE erasure_requests SET attempts = attempts + 1, last_error = $2,
                    next_attempt_at = now() + make_interval(secs => $3)
                WHERE id = $1
                """,
                claimed["id"],
                type(exc).__name__,
                backoff,
            )
            log.warning(
                "erasure failed; will retry",
                extra={"erasure_request": claimed["id"], "error": type(exc).__name__, "retry_in_s": backoff},
            )
            return True
    log.info("erasure done", extra={"erasure_request": claimed["id"], "rows_changed": erasure.rows_changed})
    return True


async def run(pool: asyncpg.Pool, wake: asyncio.Event, poll_seconds: float = POLL_SECONDS) -> None:
    """The background worker: applies due requests, then sleeps until woken or the poll interval."""
    while True:
        wake.clear()
        try:
            async with pool.acquire() as conn:
                while await apply_next(conn):
                    pass
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("erasure worker: database unavailable; will retry", extra={"error": type(exc).__name__})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), poll_seconds)


# --- the erasure -----------------------------------------------------------------------------

_HORIZON = """
SELECT CASE
    -- sessions of other roles hide their start time: assume the API's longest statement timeout
    WHEN bool_or(state IS NULL) THEN now() - interval '6 minutes'
    ELSE least(now(), min(xact_start)) - interval '1 second'
END
FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'
"""


async def _tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch(
        """
        SELECT t FROM unnest($1::text[]) AS t WHERE to_regclass(t) IS NOT NULL
        """,
        ["links", "link_codes", "link_attempts", "balance_outbox"],
    )
    return {r["t"] for r in rows}


async def _pseudonym(conn: asyncpg.Connection) -> int:
    """A random negative id that no account uses (a pseudonym shared by the user's accounts)."""
    while True:
        candidate = -(secrets.randbelow(2**63 - 1) + 1)
        if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM accounts WHERE user_id = $1)", candidate):
            return candidate


def _count(status: str) -> int:
    return int(status.split()[-1])


async def _apply(conn: asyncpg.Connection, request_id: int, user_id: int) -> Erasure:
    """Erase ``user_id`` inside the caller's transaction and mark the request done."""
    slow = SEARCH_TIMEOUT_SECONDS
    await conn.execute(f"SET LOCAL statement_timeout = {int(slow * 1000)}")
    tables = await _tables(conn)

    # Phase 1, no lock that blocks anyone: find every stored mention by full scans. Rows written
    # by postings still in flight are caught in phase 2 (they start after `horizon`).
    horizon = await conn.fetchval(_HORIZON)
    seqs = await conn.fetchval(
        """
        SELECT coalesce(array_agg(seq), '{}') FROM transactions
        WHERE coffer_mentions(reason || ' ' || metadata::text, $1)
        """,
        user_id,
        timeout=slow,
    )
    keys = await conn.fetchval(
        """
        SELECT coalesce(array_agg(key), '{}') FROM idempotency_keys
        WHERE coffer_mentions(key || ' ' || coalesce(response::text, ''), $1)
        """,
        user_id,
        timeout=slow,
    )
    outbox_ids: list[int] = []
    if "balance_outbox" in tables:
        outbox_ids = await conn.fetchval(
            "SELECT coalesce(array_agg(id), '{}') FROM balance_outbox WHERE user_id = $1", user_id, timeout=slow
        )

    # Phase 2: wait for postings in flight, hold new ones back, rewrite, rename the accounts.
    await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    await conn.execute("LOCK TABLE accounts IN SHARE ROW EXCLUSIVE MODE")
    await conn.execute("SET LOCAL lock_timeout = 0")
    await conn.execute("SET LOCAL coffer.erasure = 'on'")
    account_ids = [
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM accounts WHERE user_id = $1 ORDER BY currency, user_id FOR UPDATE", user_id
        )
    ]
    pseudonym = await _pseudonym(conn)
    changed: dict[str, int] = {}
    changed["transactions"] = _count(
        await conn.execute(
            """
            UPDATE transactions SET
                metadata = coffer_erase_json(metadata, $1, $2),
                reason = left(coffer_erase_text(reason, $1, $2), 200)
            WHERE (seq = ANY($3::bigint[])
                   OR seq IN (SELECT transaction_seq FROM entries WHERE account_id = ANY($4::bigint[])))
              AND coffer_mentions(reason || ' ' || metadata::text, $1)
            """,
            user_id,
            pseudonym,
            seqs,
            account_ids,
            timeout=slow,
        )
    )
    changed["idempotency_keys"] = _count(
        await conn.execute(
            """
            UPDATE idempotency_keys SET
                key = coffer_erase_text(key, $1, $2),
                response = coffer_erase_json(response, $1, $2),
                request_hash = sha256(convert_to(gen_random_uuid()::text, 'UTF8'))
            WHERE (key = ANY($3::text[]) OR created_at >= $4)
              AND coffer_mentions(key || ' ' || coalesce(response::text, ''), $1)
            """,
            user_id,
            pseudonym,
            keys,
            horizon,
            timeout=slow,
        )
    )
    changed["receipts"] = _count(
        await conn.execute(
            """
            UPDATE receipts SET user_id = $2, response = coffer_erase_json(response, $1, $2)
            WHERE user_id = $1
            """,
            user_id,
            pseudonym,
        )
    )
    if "links" in tables:
        changed["links"] = _count(await conn.execute("DELETE FROM links WHERE user_id = $1", user_id))
    if "link_codes" in tables:
        changed["link_codes"] = _count(await conn.execute("DELETE FROM link_codes WHERE user_id = $1", user_id))
    if "link_attempts" in tables:
        changed["link_attempts"] = _count(
            await conn.execute("DELETE FROM link_attempts WHERE user_id = $1", user_id, timeout=slow)
        )
    if "balance_outbox" in tables:
        changed["balance_outbox"] = _count(
            await conn.execute(
                "DELETE FROM balance_outbox WHERE (id = ANY($2::bigint[]) OR created_at >= $3) AND user_id = $1",
                user_id,
                outbox_ids,
                horizon,
                timeout=slow,
            )
        )
    changed["accounts"] = _count(
        await conn.execute("UPDATE accounts SET user_id = $2 WHERE id = ANY($1::bigint[])", account_ids, pseudonym)
    )
    await conn.execute(
        """
        UPDATE erasure_requests SET status = 'done', user_id = NULL, completed_at = now(),
            rows_changed = $2::jsonb, last_error = NULL, attempts = attempts + 1
        WHERE id = $1
        """,
        request_id,
        orjson.dumps(changed).decode(),
    )
    return Erasure(changed)
