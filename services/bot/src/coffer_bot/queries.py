"""Everything the bot reads, straight from PostgreSQL as its read-only login user.

That user is granted ``coffer_bot_read`` (migration 0002): SELECT on currencies, accounts and
links, nothing else. The pool opens no connection until the first command, so the bot starts
(and answers with a clear message) even while the database is down.
"""

import logging
from dataclasses import dataclass

import asyncpg

from coffer_bot.errors import Unavailable

log = logging.getLogger(__name__)

_DOWN = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.QueryCanceledError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidPasswordError,
)


@dataclass(frozen=True, slots=True)
class RankedPlayer:
    rank: int
    user_id: int
    balance: int


class Reads:
    def __init__(self, pool: asyncpg.Pool, timeout: float) -> None:
        self._pool = pool
        self._timeout = timeout

    async def _fetch(self, sql: str, *args) -> list[asyncpg.Record]:
        try:
            async with self._pool.acquire(timeout=self._timeout) as conn:
                return await conn.fetch(sql, *args, timeout=self._timeout)
        except _DOWN as exc:
            raise Unavailable("database", type(exc).__name__) from exc

    async def linked_user(self, discord_user_id: int) -> int | None:
        """The Roblox user id linked to a Discord user, or None."""
        rows = await self._fetch("SELECT user_id FROM links WHERE discord_user_id = $1", str(discord_user_id))
        return rows[0]["user_id"] if rows else None

    async def balances(self, user_id: int) -> dict[str, int]:
        """The player's balance in every currency, zeros included, by currency name."""
        rows = await self._fetch(
            """
            SELECT c.name, coalesce(a.balance, 0) AS balance
            FROM currencies c LEFT JOIN accounts a ON a.currency = c.name AND a.user_id = $1
            ORDER BY c.name
            """,
            user_id,
        )
        return {r["name"]: r["balance"] for r in rows}

    async def currency_exists(self, name: str) -> bool:
        return bool(await self._fetch("SELECT 1 FROM currencies WHERE name = $1", name))

    async def leaderboard(self, currency: str, limit: int = 10) -> list[RankedPlayer]:
        """The richest linked players of a currency (unlinked players are not listed)."""
        rows = await self._fetch(
            """
            SELECT a.user_id, a.balance FROM accounts a JOIN links l ON l.user_id = a.user_id
            WHERE a.currency = $1 AND a.balance > 0
            ORDER BY a.balance DESC, a.user_id LIMIT $2
            """,
            currency,
            limit,
        )
        return [RankedPlayer(i, r["user_id"], r["balance"]) for i, r in enumerate(rows, start=1)]
