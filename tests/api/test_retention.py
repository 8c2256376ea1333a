"""Idempotency keys are kept 30 days; purchase ids forever."""

from coffer_api import ledger

from tests.api.test_receipts import receipt
from tests.api.test_transactions import entry, post


async def test_purge_forgets_keys_older_than_the_retention_and_keeps_receipts(client, auth, db):
    await post(client, auth, [entry(1, 5)], key="old")
    await post(client, auth, [entry(1, 5)], key="young")
    await client.post("/v1/receipts", headers=auth, json=receipt())
    await db.execute("UPDATE idempotency_keys SET created_at = now() - interval '31 days' WHERE key = 'old'")
    await db.execute("UPDATE idempotency_keys SET created_at = now() - interval '29 days' WHERE key = 'young'")
    await db.execute("UPDATE receipts SET created_at = now() - interval '400 days'")
    assert await ledger.purge_idempotency_keys(db, 30) == 1
    assert [r["key"] for r in await db.fetch("SELECT key FROM idempotency_keys")] == ["young"]
    replay = await client.post("/v1/receipts", headers=auth, json=receipt())
    assert replay.headers["Idempotent-Replayed"] == "true"


async def test_retention_below_30_days_is_refused_at_start(database_url):
    from tests.conftest import run_coffer

    result = run_coffer(
        "serve", "--port", "8998", database_url=database_url, env={"COFFER_IDEMPOTENCY_RETENTION_DAYS": "7"}
    )
    assert result.returncode == 2
    assert "idempotency_retention_days" in result.stderr
