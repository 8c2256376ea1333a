"""Graceful shutdown: SIGTERM during load (what ECS sends on a deploy or scale-in).

In-flight requests complete, new connections are refused, and the process exits by itself within
its grace period (uvicorn's timeout_graceful_shutdown, 20 s; ECS's stopTimeout is longer).
"""

import asyncio
import os
import signal
import time

import asyncpg
import httpx
import pytest

from tests.faults.conftest import audit_passes, create_key

GRACE_SECONDS = 20


async def test_sigterm_lets_in_flight_requests_finish_refuses_new_ones_and_exits_in_time(live_api, database_url):
    api = live_api(workers=2, env={"COFFER_DB_STATEMENT_TIMEOUT_SECONDS": "60"})
    headers = {"Authorization": f"Bearer {await create_key(database_url)}"}
    grant = {"entries": [{"user_id": 9, "currency": "coins", "amount": 1}], "reason": "fault:shutdown"}
    async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30) as http:
        assert (
            await http.post("/v1/transactions", json=grant, headers={"Idempotency-Key": "first"})
        ).status_code == 201

        # in-flight requests: held inside the database by a lock on player 9's account
        holder = await asyncpg.connect(database_url)
        lock = holder.transaction()
        await lock.start()
        await holder.execute("SELECT 1 FROM accounts WHERE user_id = 9 FOR UPDATE")
        keys = [f"in-flight-{i}" for i in range(6)]
        in_flight = [
            asyncio.create_task(http.post("/v1/transactions", json=grant, headers={"Idempotency-Key": k})) for k in keys
        ]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            waiting = await holder.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE application_name = 'coffer-api' AND wait_event_type = 'Lock'"
            )
            activity = await holder.fetch(
                "SELECT state, wait_event_type, wait_event, left(query, 60) AS q FROM pg_stat_activity"
                " WHERE application_name = 'coffer-api'"
            )
            if waiting >= 2:
                break
            await asyncio.sleep(0.05)
        assert waiting >= 2, f"the in-flight requests never reached the database: {activity}"

        await asyncio.sleep(0.5)
        os.kill(api.process.pid, signal.SIGTERM)
        sent_at = time.monotonic()
        await asyncio.sleep(1)
        with pytest.raises(httpx.ConnectError):  # the listening socket is closed: new work goes elsewhere
            async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=5) as fresh:
                await fresh.get("/v1/players/9/balances")

        await lock.rollback()
        await holder.close()
        replies = await asyncio.gather(*in_flight)

    assert [r.status_code for r in replies] == [201] * len(keys), [r.text for r in replies]
    returncode = await asyncio.to_thread(api.process.wait, GRACE_SECONDS + 5)
    assert time.monotonic() - sent_at < GRACE_SECONDS + 5
    assert returncode == 0, api.output()
    conn = await asyncpg.connect(database_url)
    try:
        applied = await conn.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = ANY($1::text[])", keys)
    finally:
        await conn.close()
    assert applied == len(keys)
    audit_passes(database_url)
