"""Live balance updates, API side: the outbox trigger enqueues in the money change's transaction,
the drain publishes to (a local fake of) Open Cloud MessagingService, retries when it fails, and a
slow or failing Roblox never fails a transaction."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import asyncpg
import httpx
import orjson
import pytest
from coffer_api import outbox
from coffer_api.settings import Settings

from tests.roblox.fakes import FakeOpenCloud, Publish


@pytest.fixture
def settings_env(opencloud: FakeOpenCloud) -> dict[str, str]:
    opencloud.fail_next = 0
    return {
        "COFFER_KEY_CACHE_SECONDS": "0",
        "COFFER_RATE_LIMIT_PER_MINUTE": "100000",
        "COFFER_OPENCLOUD_API_KEY": opencloud.api_key,
        "COFFER_OPENCLOUD_UNIVERSE_ID": opencloud.universe_id,
        "COFFER_OPENCLOUD_BASE_URL": opencloud.url,
        "COFFER_OPENCLOUD_TOPIC": "coffer-balances",
    }


async def published_for(
    opencloud: FakeOpenCloud,
    user_id: int,
    until: Callable[[Publish], bool] = lambda _p: True,
    timeout: float = 20,
) -> list[Publish]:
    """The publishes for one player, once one satisfies `until` (polling without blocking the app)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mine = [p for p in list(opencloud.published) if p.data()["user_id"] == user_id]
        if any(until(p) for p in mine):
            return mine
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no publish for user {user_id} within {timeout} s")


async def grant(client: httpx.AsyncClient, auth: dict[str, str], user_id: int, amount: int, **extra) -> dict:
    response = await client.post(
        "/v1/transactions",
        json={"entries": [{"user_id": user_id, "currency": "coins", "amount": amount}], "reason": "staff", **extra},
        headers={**auth, "Idempotency-Key": f"grant-{user_id}-{amount}-{time.monotonic_ns()}"},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_staff_grant_is_published_with_the_players_balances(
    client: httpx.AsyncClient, auth: dict[str, str], opencloud: FakeOpenCloud, db: asyncpg.Connection
):
    await grant(client, auth, 20001, 30)
    await grant(client, auth, 20001, 12)
    publishes = await published_for(opencloud, 20001, lambda p: p.data()["balances"] == {"coins": 42})
    assert publishes[-1].data() == {"user_id": 20001, "balances": {"coins": 42}}
    assert len(publishes) <= 2  # one message per drain round, however many changes it covers
    assert publishes[-1].topic == "coffer-balances"
    assert publishes[-1].api_key == opencloud.api_key
    assert publishes[-1].universe_id == opencloud.universe_id
    await asyncio.sleep(0.5)
    pending = await db.fetchval("SELECT count(*) FROM balance_outbox WHERE user_id = 20001 AND published_at IS NULL")
    assert pending == 0


async def test_failing_open_cloud_neither_fails_the_grant_nor_loses_the_update(
    client: httpx.AsyncClient, auth: dict[str, str], opencloud: FakeOpenCloud, db: asyncpg.Connection
):
    opencloud.fail_next = 2
    attempts_before = opencloud.attempts
    started = time.monotonic()
    await grant(client, auth, 20002, 7)
    assert time.monotonic() - started < 2  # the grant did not wait for Roblox
    (publish,) = await published_for(opencloud, 20002, timeout=30)
    assert publish.data() == {"user_id": 20002, "balances": {"coins": 7}}
    assert opencloud.attempts - attempts_before >= 3
    row = await db.fetchrow("SELECT attempts, published_at, last_error FROM balance_outbox WHERE user_id = 20002")
    assert row["attempts"] == 3
    assert row["published_at"] is not None
    assert row["last_error"] is None


async def test_a_transfer_enqueues_both_players_in_the_same_transaction(
    client: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Connection
):
    await grant(client, auth, 20003, 50)
    response = await client.post(
        "/v1/transactions",
        json={
            "entries": [
                {"user_id": 20003, "currency": "coins", "amount": -20},
                {"user_id": 20004, "currency": "coins", "amount": 20},
            ],
            "reason": "discord:pay",
        },
        headers={**auth, "Idempotency-Key": "pay-20003-20004"},
    )
    assert response.status_code == 201
    rows = await db.fetch(
        """
        SELECT o.user_id FROM balance_outbox o
        WHERE o.user_id IN (20003, 20004) ORDER BY o.id
        """
    )
    assert [r["user_id"] for r in rows] == [20003, 20003, 20004]


async def test_a_refused_transaction_enqueues_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Connection
):
    response = await client.post(
        "/v1/transactions",
        json={"entries": [{"user_id": 20005, "currency": "coins", "amount": -1}], "reason": "overspend"},
        headers={**auth, "Idempotency-Key": "overspend-20005"},
    )
    assert response.json()["code"] == "insufficient_funds"
    assert await db.fetchval("SELECT count(*) FROM balance_outbox WHERE user_id = 20005") == 0


async def test_game_server_writes_and_receipts_are_announced_by_the_server_not_published(
    client: httpx.AsyncClient, auth: dict[str, str], db: asyncpg.Connection
):
    await grant(client, auth, 20006, 5, metadata={"source": "roblox"})
    response = await client.post(
        "/v1/receipts",
        json={"purchase_id": "p-20007", "user_id": 20007, "product_id": 77, "currency": "coins", "amount": 100},
        headers=auth,
    )
    assert response.status_code == 201
    assert await db.fetchval("SELECT count(*) FROM balance_outbox WHERE user_id IN (20006, 20007)") == 0


@pytest.fixture
async def two_pools(database_url: str) -> AsyncIterator[tuple[asyncpg.Pool, asyncpg.Pool]]:
    first = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    second = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def test_two_api_processes_drain_side_by_side_without_double_publishing(
    two_pools: tuple[asyncpg.Pool, asyncpg.Pool],
    opencloud: FakeOpenCloud,
    settings_env: dict[str, str],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
):
    first, second = two_pools
    users = list(range(30001, 30251))
    async with first.acquire() as conn:
        await conn.execute("INSERT INTO balance_outbox (user_id) SELECT unnest($1::bigint[])", users)
    for name, value in {**settings_env, "DATABASE_URL": database_url}.items():
        monkeypatch.setenv(name, value)
    before = len(opencloud.published)
    async with httpx.AsyncClient() as http:
        publisher = outbox.Publisher(http, Settings())
        handled = 0
        for _round in range(10):
            rounds = await asyncio.gather(outbox.drain_once(first, publisher), outbox.drain_once(second, publisher))
            handled += sum(count for count, _ in rounds)
            if handled >= len(users):
                break
    assert handled == len(users)
    published = [p.data()["user_id"] for p in opencloud.published[before:]]
    assert sorted(published) == users  # each once, none twice
    async with first.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM balance_outbox WHERE published_at IS NULL") == 0


def test_a_message_too_big_for_messaging_service_asks_the_game_to_fetch_balances():
    balances = {f"currency_{i:02d}": 10**15 for i in range(60)}
    message = outbox.message_for(1, balances)
    assert len(message.encode()) <= 1024
    assert orjson.loads(message) == {"user_id": 1, "balances": None}
    assert orjson.loads(outbox.message_for(1, {"coins": 3})) == {"user_id": 1, "balances": {"coins": 3}}
