"""The ledger: posting, reversing and reading transactions, balances, leaderboards and the audit.

Posting happens inside PostgreSQL (``coffer_post_batch`` in the first migration) in one round
trip per request, whatever the number of transactions. Every player account is locked in the
order (currency, user_id), the issuer's side of each currency is booked as an entry (never as an
updated balance row), and each transaction's outcome is stored under its Idempotency-Key in the
same database transaction that applies it, so a crash can never separate the two.
"""

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from coffer_api.errors import render_outcome

ISSUER = None
_RETRYABLE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


@dataclass(frozen=True, slots=True)
class Entry:
    user_id: int
    currency: str
    amount: int


@dataclass(frozen=True, slots=True)
class Posting:
    """One transaction to apply, idempotent under ``key``."""

    key: str
    reason: str
    metadata: dict[str, Any]
    entries: tuple[Entry, ...]

    def request_hash(self) -> bytes:
        return request_hash(
            {
                "entries": [[e.user_id, e.currency, e.amount] for e in self.entries],
                "reason": self.reason,
                "metadata": self.metadata,
            }
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a posting produced: the HTTP status and body of its first reply, and whether this is a replay."""

    status: int
    body: dict[str, Any]
    replayed: bool

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> "Outcome":
        """A posting function's row (status, body as JSON text, replayed), its error bodies rendered."""
        status = row["status"]
        return cls(status, render_outcome(status, orjson.loads(row["body"])), row["replayed"])


@dataclass(frozen=True, slots=True)
class PlayerBalances:
    user_id: int
    balances: dict[str, int]


@dataclass(frozen=True, slots=True)
class HistoryPage:
    transactions: list[dict[str, Any]]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class LeaderboardRow:
    rank: int
    user_id: int
    balance: int


@dataclass(frozen=True, slots=True)
class AuditReport:
    accounts: int
    transactions: int
    currencies: int
    mismatched_accounts: list[str]
    unbalanced_currencies: list[str]
    unbalanced_transactions: list[str]

    @property
    def ok(self) -> bool:
        return not (self.mismatched_accounts or self.unbalanced_currencies or self.unbalanced_transactions)


def request_hash(payload: dict[str, Any]) -> bytes:
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).digest()


async def _with_retry(fn, *args):
    for attempt in range(5):
        try:
            return await fn(*args)
        except _RETRYABLE:
            if attempt == 4:
                raise
            await asyncio.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


_POST_BATCH = (
    "SELECT status, body::text AS body, replayed FROM coffer_post_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
)


async def post_transactions(conn: asyncpg.Connection, postings: list[Posting]) -> list[Outcome]:
    """Apply postings in order, each atomically and idempotently, in one round trip."""
    keys, hashes, reasons, metadata, starts, counts = [], [], [], [], [], []
    users, currencies, amounts = [], [], []
    for posting in postings:
        keys.append(posting.key)
        hashes.append(posting.request_hash())
        reasons.append(posting.reason)
        metadata.append(orjson.dumps(posting.metadata).decode())
        starts.append(len(users) + 1)
        counts.append(len(posting.entries))
        for entry in posting.entries:
            users.append(entry.user_id)
            currencies.append(entry.currency)
            amounts.append(entry.amount)
    reverses = [None] * len(postings)
    rows = await _with_retry(
        conn.fetch,
        _POST_BATCH,
        keys,
        hashes,
        reasons,
        metadata,
        reverses,
        starts,
        counts,
        users,
        currencies,
        amounts,
    )
    return [Outcome.from_row(row) for row in rows]


async def reverse_transaction(
    conn: asyncpg.Connection, key: str, transaction_id: UUID, reason: str, metadata: dict[str, Any]
) -> Outcome | None:
    """Post the exact opposite of a transaction; None when the transaction does not exist."""
    original = await conn.fetch(
        """
        SELECT t.seq, a.user_id, a.currency, e.amount
        FROM transactions t JOIN entries e ON e.transaction_seq = t.seq AND e.ord > 0
        JOIN accounts a ON a.id = e.account_id
        WHERE t.id = $1 ORDER BY e.ord
        """,
        transaction_id,
    )
    if not original:
        return None
    digest = request_hash({"reverses": str(transaction_id), "reason": reason, "metadata": metadata})
    rows = await _with_retry(
        conn.fetch,
        _POST_BATCH,
        [key],
        [digest],
        [reason],
        [orjson.dumps(metadata).decode()],
        [original[0]["seq"]],
        [1],
        [len(original)],
        [r["user_id"] for r in original],
        [r["currency"] for r in original],
        [-r["amount"] for r in original],
    )
    return Outcome.from_row(rows[0])


async def get_transaction(conn: asyncpg.Connection, transaction_id: UUID) -> dict[str, Any] | None:
    body = await conn.fetchval(
        "SELECT coffer_transaction_json(seq)::text FROM transactions WHERE id = $1", transaction_id
    )
    return orjson.loads(body) if body else None


async def player_balances(conn: asyncpg.Connection, user_ids: list[int]) -> list[PlayerBalances]:
    """Every currency's balance for each player, zeros included, in the order asked."""
    rows = await conn.fetch(
        """
        SELECT u.user_id, c.name AS currency,
               coalesce((SELECT a.balance FROM accounts a WHERE a.user_id = u.user_id AND a.currency = c.name), 0)
                   AS balance
        FROM unnest($1::bigint[]) WITH ORDINALITY AS u (user_id, ord)
        CROSS JOIN currencies c
        ORDER BY u.ord, c.name
        """,
        user_ids,
    )
    by_user: dict[int, dict[str, int]] = {uid: {} for uid in user_ids}
    for row in rows:
        by_user[row["user_id"]][row["currency"]] = row["balance"]
    return [PlayerBalances(uid, by_user[uid]) for uid in user_ids]


def _encode_cursor(seq: int) -> str:
    return format(seq, "x")


def decode_cursor(cursor: str) -> int | None:
    try:
        value = int(cursor, 16)
    except ValueError:
        return None
    return value if 0 < value < 2**63 else None


async def player_history(
    conn: asyncpg.Connection, user_id: int, currency: str | None, limit: int, before_seq: int | None
) -> HistoryPage:
    """A player's transactions, newest first, by keyset on the transaction sequence."""
    rows = await conn.fetch(
        """
        SELECT t.seq, coffer_transaction_json(t.seq)::text AS body
        FROM transactions t
        WHERE t.seq IN (
            SELECT e.transaction_seq FROM entries e JOIN accounts a ON a.id = e.account_id
            WHERE a.user_id = $1 AND ($2::text IS NULL OR a.currency = $2)
              AND ($3::bigint IS NULL OR e.transaction_seq < $3)
            ORDER BY e.transaction_seq DESC LIMIT $4)
        ORDER BY t.seq DESC
        """,
        user_id,
        currency,
        before_seq,
        limit + 1,
    )
    page = rows[:limit]
    next_cursor = _encode_cursor(page[-1]["seq"]) if len(rows) > limit else None
    return HistoryPage([orjson.loads(r["body"]) for r in page], next_cursor)


async def leaderboard(conn: asyncpg.Connection, currency: str, limit: int) -> list[LeaderboardRow]:
    rows = await conn.fetch(
        """
        SELECT user_id, balance FROM accounts
        WHERE currency = $1 AND user_id > 0 AND balance > 0
        ORDER BY balance DESC, user_id LIMIT $2
        """,
        currency,
        limit,
    )
    return [LeaderboardRow(i, r["user_id"], r["balance"]) for i, r in enumerate(rows, start=1)]


async def currency_exists(conn: asyncpg.Connection, name: str) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM currencies WHERE name = $1)", name))


async def add_currency(conn: asyncpg.Connection, name: str) -> bool:
    """Add a currency and its issuer account; False when it already exists."""
    return bool(await conn.fetchval("SELECT coffer_add_currency($1)", name))


async def list_currencies(conn: asyncpg.Connection) -> list[str]:
    return [r["name"] for r in await conn.fetch("SELECT name FROM currencies ORDER BY name")]


async def audit(conn: asyncpg.Connection) -> AuditReport:
    """Check both ledger invariants over the whole database, in one consistent snapshot."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        mismatched = await conn.fetch(
            """
            SELECT a.id, a.user_id, a.currency, a.balance, coalesce(s.total, 0) AS total
            FROM accounts a
            LEFT JOIN (SELECT account_id, sum(amount) AS total FROM entries GROUP BY account_id) s
                ON s.account_id = a.id
            WHERE a.user_id IS NOT NULL AND a.balance IS DISTINCT FROM coalesce(s.total, 0)
            ORDER BY a.id
            """
        )
        unbalanced = await conn.fetch(
            """
            SELECT c.name, coalesce(p.total, 0) + coalesce(i.total, 0) AS total
            FROM currencies c
            LEFT JOIN (SELECT currency, sum(balance) AS total FROM accounts
                       WHERE user_id IS NOT NULL GROUP BY currency) p ON p.currency = c.name
            LEFT JOIN (SELECT a.currency, sum(e.amount) AS total FROM entries e
                       JOIN accounts a ON a.id = e.account_id AND a.user_id IS NULL
                       GROUP BY a.currency) i ON i.currency = c.name
            WHERE coalesce(p.total, 0) + coalesce(i.total, 0) <> 0
            ORDER BY c.name
            """
        )
        bad_transactions = await conn.fetch(
            """
            SELECT t.id, a.currency, sum(e.amount) AS total
            FROM entries e JOIN accounts a ON a.id = e.account_id JOIN transactions t ON t.seq = e.transaction_seq
            GROUP BY t.id, a.currency HAVING sum(e.amount) <> 0
            ORDER BY t.id LIMIT 100
            """
        )
        counts = await conn.fetchrow(
            """
            SELECT (SELECT count(*) FROM accounts WHERE user_id IS NOT NULL) AS accounts,
                   (SELECT count(*) FROM transactions) AS transactions,
                   (SELECT count(*) FROM currencies) AS currencies
            """
        )
    return AuditReport(
        accounts=counts["accounts"],
        transactions=counts["transactions"],
        currencies=counts["currencies"],
        mismatched_accounts=[
            f"account {r['id']} (user {r['user_id']}, {r['currency']}): balance {r['balance']}"
            f" but entries sum to {r['total']}"
            for r in mismatched
        ],
        unbalanced_currencies=[f"currency {r['name']}: all balances sum to {r['total']}, not 0" for r in unbalanced],
        unbalanced_transactions=[
            f"transaction {r['id']} ({r['currency']}): entries sum to {r['total']}, not 0" for r in bad_transactions
        ],
    )


async def purge_idempotency_keys(conn: asyncpg.Connection, retention_days: int) -> int:
    """Forget idempotency keys older than the retention (purchase ids are never forgotten)."""
    result = await conn.execute(
        """
        DELETE FROM idempotency_keys WHERE key IN (
            SELECT key FROM idempotency_keys WHERE created_at < now() - make_interval(days => $1) LIMIT 10000)
        """,
        retention_days,
    )
    return int(result.split()[-1])
