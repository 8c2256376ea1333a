"""Crash mid-write: the API process is SIGKILLed during a storm of writes and restarted.

Nothing acknowledged is lost, and replaying every request that was sent (acknowledged or not)
with its Idempotency-Key applies each one at most once.
"""

import asyncio
import threading
import time

import asyncpg
import httpx

from tests.faults.conftest import Storm, audit_passes, create_key


async def test_sigkill_mid_storm_loses_no_acknowledged_write_and_replays_apply_once(live_api, database_url):
    api = live_api(workers=2)
    token = await create_key(database_url)
    storm = Storm(api.url, token)
    killed = threading.Event()

    def kill_when_busy() -> None:
        deadline = time.monotonic() + 20
        while len(storm.acknowledged) < 200 and time.monotonic() < deadline:
            time.sleep(0.01)
        api.kill()  # SIGKILL to the whole process group: supervisor and workers, mid-request
        killed.set()

    killer = threading.Thread(target=kill_when_busy)
    killer.start()
    await storm.run(until=killed.is_set, concurrency=16, timeout=5)
    killer.join()
    acknowledged = storm.acknowledged
    assert len(acknowledged) >= 200, storm.statuses
    assert all(s.status in (201, None) for s in storm.sent), storm.statuses

    restarted = live_api(workers=2)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=restarted.url, headers=headers, timeout=30) as http:
        # every acknowledged transaction is there, exactly as it was acknowledged
        for sent in acknowledged:
            got = await http.get(f"/v1/transactions/{sent.reply['id']}")
            assert got.status_code == 200
            assert got.json() == sent.reply

        # replay everything that was sent, acknowledged or not
        semaphore = asyncio.Semaphore(16)

        async def replay(sent):
            async with semaphore:
                return sent, await http.post("/v1/transactions", json=sent.body, headers={"Idempotency-Key": sent.key})

        replies = await asyncio.gather(*(replay(s) for s in storm.sent))

    for sent, response in replies:
        assert response.status_code == 201, response.text
        if sent.status == 201:
            assert response.headers.get("Idempotent-Replayed") == "true"
            assert response.json() == sent.reply
    conn = await asyncpg.connect(database_url)
    try:
        keys = [s.key for s in storm.sent]
        applied = await conn.fetchval(
            "SELECT count(*) FROM idempotency_keys WHERE key = ANY($1::text[]) AND status = 201", keys
        )
        transactions = await conn.fetchval("SELECT count(*) FROM transactions WHERE reason = 'fault:storm'")
        coins = await conn.fetchval(
            "SELECT coalesce(sum(balance), 0) FROM accounts WHERE user_id > 0 AND currency = 'coins'"
        )
    finally:
        await conn.close()
    assert applied == len(set(keys)) == transactions  # each request applied exactly once, none twice
    assert coins == sum(s.body["entries"][0]["amount"] for s in storm.sent)
    audit_passes(database_url)
