"""Scale-out: two `coffer serve` processes on one database behave as one API.

- The per-key rate limit is shared (counted in PostgreSQL), not multiplied by the process count.
- The same Idempotency-Key sent to both processes at once is applied once; both get the same reply.
- Each process opens at most workers x COFFER_DB_POOL_MAX_SIZE connections: the premise of the
  connection formula in docs/capacity.md.
"""

import asyncio
import time
import uuid

import asyncpg
import httpx

LIMIT = 40


async def _wait_for_fresh_minute(min_left: float = 20) -> None:
    """The limit counts per clock minute: start where the window cannot roll over mid-test."""
    left = 60 - time.time() % 60
    if left < min_left:
        await asyncio.sleep(left + 0.5)


async def test_the_rate_limit_holds_across_two_processes(live_api, make_key):
    env = {"COFFER_RATE_LIMIT_PER_MINUTE": str(LIMIT), "COFFER_RATE_LIMIT_SYNC_SECONDS": "0.2"}
    first, second = live_api(env=env), live_api(env=env)
    headers = {"Authorization": f"Bearer {await make_key('read')}"}
    await _wait_for_fresh_minute()
    allowed = {first.url: 0, second.url: 0}
    limited = []
    async with httpx.AsyncClient(headers=headers, timeout=10) as http:
        for i in range(3 * LIMIT):
            url = (first.url, second.url)[i % 2]
            response = await http.get(f"{url}/v1/players/1/balances")
            if response.status_code == 200:
                allowed[url] += 1
            else:
                assert response.status_code == 429, response.text
                assert response.json()["code"] == "rate_limited"
                assert int(response.headers["retry-after"]) >= 1
                limited.append(url)
            await asyncio.sleep(0.02)  # about 10 requests per sync interval, over both processes
    total = sum(allowed.values())
    # shared: the two processes together allow the key's limit, plus at most what arrives within
    # one sync interval; per-process counters would have allowed 2 x LIMIT
    assert LIMIT <= total <= LIMIT + 12, allowed
    assert set(limited) == {first.url, second.url}, "both processes must refuse once the shared limit is spent"


async def test_one_idempotency_key_sent_to_two_processes_at_once_applies_once(live_api, make_key, database_url):
    first, second = live_api(), live_api()
    headers = {"Authorization": f"Bearer {await make_key('read,write')}"}
    keys = [f"scale-out-{uuid.uuid4().hex}" for _ in range(25)]
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:

        async def post(url: str, key: str) -> httpx.Response:
            body = {"entries": [{"user_id": 77, "currency": "coins", "amount": 3}], "reason": "scale-out"}
            return await http.post(f"{url}/v1/transactions", json=body, headers={"Idempotency-Key": key})

        pairs = await asyncio.gather(*(asyncio.gather(post(first.url, k), post(second.url, k)) for k in keys))
        balance = (await http.get(f"{first.url}/v1/players/77/balances")).json()["balances"]["coins"]

    for a, b in pairs:
        assert (a.status_code, b.status_code) == (201, 201), (a.text, b.text)
        assert a.json() == b.json()  # the same transaction, the same reply
        replayed = [r.headers.get("Idempotent-Replayed") for r in (a, b)]
        assert replayed.count("true") == 1, replayed  # one applied it, the other replayed its reply
    assert balance == 3 * len(keys)
    conn = await asyncpg.connect(database_url)
    try:
        transactions = await conn.fetchval("SELECT count(*) FROM transactions WHERE reason = 'scale-out'")
    finally:
        await conn.close()
    assert transactions == len(keys)


async def test_each_process_stays_within_workers_times_pool_size_connections(live_api, make_key, database_url):
    env = {"COFFER_DB_POOL_MIN_SIZE": "1", "COFFER_DB_POOL_MAX_SIZE": "3"}
    apis = [live_api(workers=2, env=env), live_api(workers=2, env=env)]
    headers = {"Authorization": f"Bearer {await make_key('read,write')}"}
    peak = 0
    conn = await asyncpg.connect(database_url)
    try:
        async with httpx.AsyncClient(headers=headers, timeout=30) as http:

            async def load(url: str) -> None:
                for _ in range(20):
                    body = {"entries": [{"user_id": 5, "currency": "coins", "amount": 1}], "reason": "pool"}
                    await http.post(f"{url}/v1/transactions", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})

            task = asyncio.gather(*(load(api.url) for api in apis for _ in range(10)))
            while not task.done():
                count = await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE application_name = 'coffer-api' AND datname = current_database()"
                )
                peak = max(peak, count)
                await asyncio.sleep(0.05)
            await task
    finally:
        await conn.close()
    # 2 processes x 2 workers x 3 connections
    assert 0 < peak <= 2 * 2 * 3, peak
