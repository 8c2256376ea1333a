"""Links between Discord and Roblox accounts, and the one-time codes that make them.

The bot asks for a code for a Discord user (``create_code``); the player types it into the game
and the game server confirms it for the player's Roblox user id (``confirm_code``).

- A code is 6 characters from an alphabet without look-alikes (no 0/O, 1/I/L), valid
  ``CODE_TTL`` (10 minutes) and usable once. Only ``sha256(code)`` is stored; a new code for a
  Discord user replaces that user's unused codes.
- One Discord account links to one Roblox account and the reverse: confirming replaces any link
  either side had.
- Brute force: 31^6 (about 887 million) codes with few live at once. Failed confirmations are
  counted per API key and Roblox user in fixed 10-minute windows; after ``MAX_FAILURES_PER_USER``
  failures for one player, or ``MAX_FAILURES_PER_KEY`` for one API key, confirmations are refused
  (429 ``link_attempts_exceeded`` with Retry-After) without testing the code until the window ends.
- A retried confirmation (same code, same user, before the code expires) gets the same answer.
"""

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from coffer_api.errors import LinkAttemptsExceeded, LinkCodeInvalid

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
CODE_TTL = timedelta(minutes=10)
ATTEMPT_WINDOW = timedelta(minutes=10)
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_KEY = 200


@dataclass(frozen=True, slots=True)
class LinkCode:
    code: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Link:
    discord_user_id: str
    user_id: int
    linked_at: datetime


def normalize_code(code: str) -> str:
    """What the player typed, as stored: upper case, without spaces or dashes."""
    return "".join(ch for ch in code.upper() if ch not in " -\t")


def _digest(code: str) -> bytes:
    return hashlib.sha256(normalize_code(code).encode()).digest()


def _new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


async def create_code(conn: asyncpg.Connection, discord_user_id: str) -> LinkCode:
    """A fresh code for this Discord user; their earlier unused codes stop working."""
    async with conn.transaction():
        await conn.execute(
            "DELETE FROM link_codes WHERE discord_user_id = $1 AND used_at IS NULL",
            discord_user_id,
        )
        # expired codes of anyone are only kept until the next code is made after a day
        await conn.execute("DELETE FROM link_codes WHERE expires_at < now() - interval '1 day'")
        while True:
            code = _new_code()
            # a hash may collide with a dead (used or expired) code: take its place; never a live one
            expires_at = await conn.fetchval(
                """
                INSERT INTO link_codes (code_hash, discord_user_id, expires_at)
                VALUES ($1, $2, now() + $3::interval)
                ON CONFLICT (code_hash) DO UPDATE
                    SET discord_user_id = EXCLUDED.discord_user_id, created_at = now(),
                        expires_at = EXCLUDED.expires_at, used_at = NULL, user_id = NULL
                    WHERE link_codes.expires_at <= now() OR link_codes.used_at IS NOT NULL
                RETURNING expires_at
                """,
                _digest(code),
                discord_user_id,
                CODE_TTL,
            )
            if expires_at is not None:
                return LinkCode(code, expires_at)


def _retry_after(window_start: datetime, now: datetime) -> int:
    return max(1, math.ceil((window_start + ATTEMPT_WINDOW - now).total_seconds()))


async def confirm_code(conn: asyncpg.Connection, api_key_id: str, code: str, user_id: int) -> Link:
    """Use a code for a Roblox user: link the code's Discord user to them, replacing older links."""
    now, window = await conn.fetchrow(
        "SELECT now(), to_timestamp(floor(extract(epoch FROM now()) / $1::int) * $1::int)",
        int(ATTEMPT_WINDOW.total_seconds()),
    )
    counts = await conn.fetchrow(
        """
        SELECT coalesce(sum(failures), 0) AS key_failures,
               coalesce(sum(failures) FILTER (WHERE user_id = $3), 0) AS user_failures
        FROM link_attempts WHERE api_key_id = $1 AND window_start = $2
        """,
        api_key_id,
        window,
        user_id,
    )
    if counts["user_failures"] >= MAX_FAILURES_PER_USER or counts["key_failures"] >= MAX_FAILURES_PER_KEY:
        retry_after = _retry_after(window, now)
        raise LinkAttemptsExceeded(
            f"Too many wrong link codes; try again in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )
    for attempt in range(3):
        try:
            link = await _use_code(conn, _digest(code), user_id)
            break
        except asyncpg.UniqueViolationError:
            # a concurrent confirmation linked one of the two accounts first: the retry replaces it
            if attempt == 2:
                raise
    if link is None:
        await conn.execute(
            """
            WITH stale AS (DELETE FROM link_attempts WHERE window_start < $2::timestamptz - interval '1 hour')
            INSERT INTO link_attempts (api_key_id, user_id, window_start, failures) VALUES ($1, $3, $2, 1)
            ON CONFLICT (api_key_id, window_start, user_id) DO UPDATE SET failures = link_attempts.failures + 1
            """,
            api_key_id,
            window,
            user_id,
        )
        raise LinkCodeInvalid(
            "This link code is unknown, expired or already used; ask the player to run /link in Discord for a new one."
        )
    return link


async def _use_code(conn: asyncpg.Connection, code_hash: bytes, user_id: int) -> Link | None:
    async with conn.transaction():
        row = await conn.fetchrow(
            """
            UPDATE link_codes SET used_at = now(), user_id = $2
            WHERE code_hash = $1 AND used_at IS NULL AND expires_at > now()
            RETURNING discord_user_id
            """,
            code_hash,
            user_id,
        )
        if row is None:
            # a retry of a confirmation that already succeeded gets the same answer
            row = await conn.fetchrow(
                """
                SELECT l.discord_user_id, l.user_id, l.linked_at FROM link_codes c
                JOIN links l ON l.discord_user_id = c.discord_user_id AND l.user_id = c.user_id
                WHERE c.code_hash = $1 AND c.user_id = $2 AND c.expires_at > now()
                """,
                code_hash,
                user_id,
            )
            return Link(row["discord_user_id"], row["user_id"], row["linked_at"]) if row else None
        await conn.execute(
            "DELETE FROM links WHERE discord_user_id = $1 OR user_id = $2", row["discord_user_id"], user_id
        )
        linked = await conn.fetchrow(
            """
            INSERT INTO links (discord_user_id, user_id) VALUES ($1, $2)
            RETURNING discord_user_id, user_id, linked_at
            """,
            row["discord_user_id"],
            user_id,
        )
        return Link(linked["discord_user_id"], linked["user_id"], linked["linked_at"])


async def get_link(conn: asyncpg.Connection, discord_user_id: str) -> Link | None:
    row = await conn.fetchrow(
        "SELECT discord_user_id, user_id, linked_at FROM links WHERE discord_user_id = $1", discord_user_id
    )
    return Link(row["discord_user_id"], row["user_id"], row["linked_at"]) if row else None


async def unlink(conn: asyncpg.Connection, discord_user_id: str) -> Link | None:
    """Remove a Discord user's link; the removed link, or None when there was none."""
    row = await conn.fetchrow(
        "DELETE FROM links WHERE discord_user_id = $1 RETURNING discord_user_id, user_id, linked_at",
        discord_user_id,
    )
    return Link(row["discord_user_id"], row["user_id"], row["linked_at"]) if row else None
