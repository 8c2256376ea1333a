"""API keys: created by operators, stored hashed, checked on every request.

A key looks like ``cfr_<id>_<secret>``. Only ``sha256(key)`` is stored; the ``id`` part finds the
row and the digest is compared in constant time. Verified keys are cached per process for
``COFFER_KEY_CACHE_SECONDS`` (default 5), so a revoked key stops working within that time.
"""

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from coffer_api.errors import Overloaded, Unauthenticated

SCOPES = ("read", "write", "admin")
PREFIX = "cfr_"


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    scopes: frozenset[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _from_row(row: asyncpg.Record) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        scopes=frozenset(row["scopes"]),
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


async def create_key(conn: asyncpg.Connection, name: str, scopes: list[str]) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret; the secret is never stored or shown again."""
    key_id = secrets.token_hex(6)
    token = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    row = await conn.fetchrow(
        """
        INSERT INTO api_keys (id, name, secret_hash, scopes) VALUES ($1, $2, $3, $4)
        RETURNING id, name, scopes, created_at, last_used_at, revoked_at
        """,
        key_id,
        name,
        _digest(token),
        sorted(set(scopes)),
    )
    return _from_row(row), token


async def list_keys(conn: asyncpg.Connection) -> list[ApiKey]:
    rows = await conn.fetch(
        "SELECT id, name, scopes, created_at, last_used_at, revoked_at FROM api_keys ORDER BY created_at, id"
    )
    return [_from_row(row) for row in rows]


async def revoke_key(conn: asyncpg.Connection, name: str) -> ApiKey | None:
    row = await conn.fetchrow(
        """
        UPDATE api_keys SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL
        RETURNING id, name, scopes, created_at, last_used_at, revoked_at
        """,
        name,
    )
    return _from_row(row) if row else None


async def touch_keys(conn: asyncpg.Connection, key_ids: list[str]) -> None:
    await conn.execute("UPDATE api_keys SET last_used_at = now() WHERE id = ANY($1::text[])", key_ids)


class KeyVerifier:
    """Checks bearer tokens against the database, with a short per-process cache."""

    def __init__(self, pool: asyncpg.Pool, cache_seconds: float, acquire_timeout: float = 5.0) -> None:
        self._pool = pool
        self._cache_seconds = cache_seconds
        self._acquire_timeout = acquire_timeout
        self._cache: dict[str, tuple[float, bytes, ApiKey]] = {}

    async def verify(self, token: str) -> ApiKey:
        key_id = _parse_id(token)
        now = time.monotonic()
        cached = self._cache.get(key_id)
        if cached is None or cached[0] < now:
            try:
                conn = await self._pool.acquire(timeout=self._acquire_timeout)
            except TimeoutError:
                # the same bounded wait as every other request's connection: refuse, never hang
                raise Overloaded(
                    "Every database connection is busy; retry in a moment.", headers={"Retry-After": "1"}
                ) from None
            try:
                row = await conn.fetchrow(
                    """
                    SELECT id, name, secret_hash, scopes, created_at, last_used_at, revoked_at
                    FROM api_keys WHERE id = $1 AND revoked_at IS NULL
                    """,
                    key_id,
                )
            finally:
                await self._pool.release(conn)
            if row is None:
                self._cache.pop(key_id, None)
                raise Unauthenticated("Unknown or revoked API key.")
            cached = (now + self._cache_seconds, bytes(row["secret_hash"]), _from_row(row))
            if self._cache_seconds > 0:
                self._cache[key_id] = cached
        if not hmac.compare_digest(cached[1], _digest(token)):
            raise Unauthenticated("Unknown or revoked API key.")
        return cached[2]


def _parse_id(token: str) -> str:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] + "_" != PREFIX or len(parts[1]) != 12:
        raise Unauthenticated("Malformed API key: expected 'Authorization: Bearer cfr_...'.")
    return parts[1]
