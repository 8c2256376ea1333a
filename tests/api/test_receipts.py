"""POST /v1/receipts: one grant per purchase id, forever."""

import asyncio

from tests.api.test_transactions import balance


def receipt(purchase_id="p-1", user_id=1, product_id=555, currency="coins", amount=100):
    return {
        "purchase_id": purchase_id,
        "user_id": user_id,
        "product_id": product_id,
        "currency": currency,
        "amount": amount,
    }


async def test_first_receipt_grants_and_replays_forever(client, auth, db):
    first = await client.post("/v1/receipts", headers=auth, json=receipt())
    assert first.status_code == 201
    body = first.json()
    assert body["purchase_id"] == "p-1"
    assert body["transaction"]["entries"] == [{"user_id": 1, "currency": "coins", "amount": 100, "balance_after": 100}]
    assert body["transaction"]["metadata"] == {"purchase_id": "p-1", "product_id": 555}
    # idempotency keys expire; purchase ids do not
    await db.execute("DELETE FROM idempotency_keys")
    again = await client.post("/v1/receipts", headers=auth, json=receipt())
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await balance(client, auth, 1) == 100


async def test_same_purchase_id_with_other_fields_is_422(client, auth):
    await client.post("/v1/receipts", headers=auth, json=receipt())
    r = await client.post("/v1/receipts", headers=auth, json=receipt(amount=999))
    assert r.status_code == 422
    assert r.json()["code"] == "purchase_id_reused"
    assert await balance(client, auth, 1) == 100


async def test_one_purchase_processed_on_two_servers_at_once_grants_once(client, auth, db):
    results = await asyncio.gather(*(client.post("/v1/receipts", headers=auth, json=receipt()) for _ in range(10)))
    assert {r.status_code for r in results} == {201}
    assert len({r.content for r in results}) == 1
    assert await balance(client, auth, 1) == 100
    assert await db.fetchval("SELECT count(*) FROM transactions") == 1


async def test_receipt_in_unknown_currency_is_422_and_can_be_retried_later(client, auth, database_url):
    r = await client.post("/v1/receipts", headers=auth, json=receipt(currency="gems"))
    assert r.status_code == 422
    assert r.json()["code"] == "unknown_currency"
    from tests.conftest import run_coffer

    assert run_coffer("currencies", "add", "gems", database_url=database_url).returncode == 0
    r = await client.post("/v1/receipts", headers=auth, json=receipt(currency="gems"))
    assert r.status_code == 201


async def test_malformed_receipts_are_422(client, auth):
    for bad in (
        receipt(amount=0),
        receipt(amount=-5),
        receipt(purchase_id=""),
        receipt(user_id=0),
        {**receipt(), "extra": 1},
        {"purchase_id": "x"},
    ):
        r = await client.post("/v1/receipts", headers=auth, json=bad)
        assert r.status_code == 422, bad
        assert r.json()["code"] == "validation_error"
