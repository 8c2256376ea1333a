"""PostgreSQL restarts (fast and immediate) under load.

While the database is down the API answers 503 problem+json with Retry-After quickly (no hang, no
500) and /readyz says not ready; afterwards it recovers by itself, without a restart, and every
acknowledged write is still there. The test runs its own cluster, so restarting it disturbs no
other test and the test never needs to skip.
"""

import asyncio
import json
import time
import uuid
from collections.abc import Iterator

import asyncpg
import httpx
import pytest

from tests import postgres
from tests.conftest import run_coffer
from tests.faults.conftest import Storm, audit_passes, create_key
from tests.live import start_live_api

BOUND_SECONDS = 8  # the slowest acceptable reply while the database is gone


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[postgres.Cluster]:
    cluster = postgres.create_cluster()
    try:
        yield cluster
    finally:
        postgres.remove_cluster(cluster)


async def _fresh_database(cluster: postgres.Cluster) -> str:
    name = f"coffer_restart_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(cluster.url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = cluster.url_for(name)
    result = await asyncio.to_thread(run_coffer, "db", "upgrade", database_url=url)
    assert result.returncode == 0, result.stderr
    return url


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_database_restart_under_load_gives_503s_then_recovers_with_nothing_lost(own_cluster, mode):
    url = await _fresh_database(own_cluster)
    token = await create_key(url)
    api = start_live_api(
        url,
        workers=1,
        env={"COFFER_RATE_LIMIT_PER_MINUTE": "1000000", "COFFER_DB_POOL_TIMEOUT_SECONDS": "2"},
    )
    try:
        storm = Storm(api.url, token)
        done = asyncio.Event()
        load = asyncio.create_task(storm.run(until=done.is_set, concurrency=8, timeout=30))
        await asyncio.sleep(1.5)
        acknowledged_before = len(storm.acknowledged)
        assert acknowledged_before > 0, storm.statuses

        await asyncio.to_thread(own_cluster.stop, mode)
        down: list[tuple[str, int, dict, dict, float]] = []
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30) as http:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                for method, path in (
                    ("GET", "/readyz"),
                    ("GET", "/v1/players/1/balances"),
                    ("POST", "/v1/transactions"),
                ):
                    started = time.monotonic()
                    response = await http.request(
                        method,
                        path,
                        json={"entries": [{"user_id": 1, "currency": "coins", "amount": 1}], "reason": "probe"}
                        if method == "POST"
                        else None,
                        headers={"Idempotency-Key": uuid.uuid4().hex} if method == "POST" else None,
                    )
                    down.append(
                        (
                            path,
                            response.status_code,
                            dict(response.headers),
                            response.json(),
                            time.monotonic() - started,
                        )
                    )
                await asyncio.sleep(0.1)

            await asyncio.to_thread(own_cluster.start)
            recovered_in = None
            started = time.monotonic()
            while time.monotonic() - started < 30:
                if (await http.get("/readyz")).status_code == 200:
                    recovered_in = time.monotonic() - started
                    break
                await asyncio.sleep(0.2)
            assert recovered_in is not None, "the API did not become ready again within 30 s of the restart"
            acknowledged_at_recovery = len(storm.acknowledged)
            await asyncio.sleep(2)  # the storm goes on against the recovered database
        done.set()
        await load

        assert api.process.poll() is None, "the API process must survive the database restart"
        assert down, "no probe ran while the database was down"
        for path, status, reply_headers, body, seconds in down:
            assert status == 503, (path, status, body)
            assert reply_headers["content-type"] == "application/problem+json"
            assert body["code"] in ("database_unavailable", "overloaded"), body
            assert int(reply_headers["retry-after"]) >= 1
            assert seconds < BOUND_SECONDS, (path, seconds)
        assert {path for path, *_ in down} >= {"/readyz", "/v1/players/1/balances", "/v1/transactions"}

        # the storm only ever saw 201 or 503, each within the bound, and wrote again after the restart
        assert set(storm.statuses) <= {201, 503}, storm.statuses
        assert max(s.seconds for s in storm.sent if s.status is not None) < BOUND_SECONDS
        assert len(storm.acknowledged) > acknowledged_at_recovery, storm.statuses
        unavailable = [s.reply for s in storm.sent if s.status == 503]
        assert all(r["code"] in ("database_unavailable", "overloaded") for r in unavailable)

        conn = await asyncpg.connect(url)
        try:
            stored = await conn.fetch("SELECT key, response FROM idempotency_keys WHERE status = 201")
        finally:
            await conn.close()
        by_key = {r["key"]: json.loads(r["response"]) for r in stored}
        for sent in storm.acknowledged:
            assert by_key.get(sent.key) == sent.reply, f"acknowledged write {sent.key} was lost"
        audit_passes(url)
    finally:
        api.stop()
        if not own_cluster.is_running():
            own_cluster.start()
