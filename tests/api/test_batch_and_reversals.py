"""POST /v1/transactions/batch and POST /v1/transactions/{id}/reversal."""

import asyncio
import uuid

from tests.api.test_transactions import balance, entry, post
from tests.conftest import run_coffer


def item(key: str, entries: list[dict], reason: str = "batch", **extra) -> dict:
    return {"idempotency_key": key, "entries": entries, "reason": reason, **extra}


async def batch(client, auth, items):
    return await client.post("/v1/transactions/batch", headers=auth, json={"transactions": items})


async def test_batch_applies_each_transaction_on_its_own_in_request_order(client, auth):
    r = await batch(
        client,
        auth,
        [
            item("a", [entry(1, 10)]),
            item("b", [entry(1, -50)]),  # fails alone
            item("c", [entry(1, -4), entry(2, 4)]),
            item("d", [entry(1, 1, currency="gems")]),
        ],
    )
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["status"] for x in results] == [201, 409, 201, 422]
    assert results[0]["transaction"]["entries"][0]["balance_after"] == 10
    assert results[1]["error"]["code"] == "insufficient_funds"
    assert results[2]["transaction"]["entries"][0]["balance_after"] == 6
    assert results[3]["error"]["code"] == "unknown_currency"
    assert await balance(client, auth, 1) == 6
    assert await balance(client, auth, 2) == 4


async def test_batch_items_replay_exactly_like_single_posts(client, auth):
    single = await post(client, auth, [entry(3, 7)], key="shared", reason="batch")
    r = await batch(client, auth, [item("shared", [entry(3, 7)]), item("fresh", [entry(3, 1)])])
    first, second = r.json()["results"]
    assert first == {"status": 201, "replayed": True, "transaction": single.json()}
    assert second["replayed"] is False
    again = await batch(client, auth, [item("shared", [entry(3, 7)]), item("fresh", [entry(3, 1)])])
    assert [x["replayed"] for x in again.json()["results"]] == [True, True]
    assert [x["transaction"] for x in again.json()["results"]] == [first["transaction"], second["transaction"]]
    assert await balance(client, auth, 3) == 8


async def test_batch_item_with_reused_key_and_other_body_is_422(client, auth):
    await post(client, auth, [entry(3, 7)], key="used")
    r = await batch(client, auth, [item("used", [entry(3, 8)])])
    assert r.json()["results"][0]["status"] == 422
    assert r.json()["results"][0]["error"]["code"] == "idempotency_key_reused"


async def test_batch_of_100_is_one_database_round_trip(db):
    """The domain function behind the batch endpoint sends one statement for 100 transactions."""
    from coffer_api import ledger

    class CountingConnection:
        def __init__(self, conn):
            self.conn, self.statements = conn, 0

        async def fetch(self, *args):
            self.statements += 1
            return await self.conn.fetch(*args)

    counting = CountingConnection(db)
    postings = [ledger.Posting(f"k{i}", "batch", {}, (ledger.Entry(1000 + i, "coins", i + 1),)) for i in range(100)]
    outcomes = await ledger.post_transactions(counting, postings)
    assert [o.status for o in outcomes] == [201] * 100
    assert counting.statements == 1
    assert await db.fetchval("SELECT count(*) FROM transactions") == 100


async def test_batch_size_limits_are_422(client, auth):
    assert (await batch(client, auth, [])).status_code == 422
    many = [item(f"k{i}", [entry(1, 1)]) for i in range(101)]
    assert (await batch(client, auth, many)).status_code == 422
    missing_key = [{"entries": [entry(1, 1)], "reason": "x"}]
    r = await batch(client, auth, missing_key)
    assert r.status_code == 422
    assert "idempotency_key" in r.text


async def test_concurrent_batches_touching_the_same_players_in_opposite_orders_all_apply(client, auth, database_url):
    await post(client, auth, [entry(u, 1000) for u in range(1, 21)])
    forward = [item(f"f{i}-{u}", [entry(u, -1), entry(u + 1, 1)]) for i in range(5) for u in range(1, 20)]
    backward = [item(f"b{i}-{u}", [entry(u + 1, -1), entry(u, 1)]) for i in range(5) for u in range(19, 0, -1)]
    results = await asyncio.gather(
        *(batch(client, auth, forward[i : i + 19]) for i in range(0, len(forward), 19)),
        *(batch(client, auth, backward[i : i + 19]) for i in range(0, len(backward), 19)),
    )
    assert all(x["status"] == 201 for r in results for x in r.json()["results"])
    assert [await balance(client, auth, u) for u in range(1, 21)] == [1000] * 20
    assert run_coffer("audit", database_url=database_url).returncode == 0


async def test_reversal_negates_every_entry_and_points_at_the_original(client, auth):
    original = (await post(client, auth, [entry(1, 50), entry(2, 20)])).json()
    r = await client.post(
        f"/v1/transactions/{original['id']}/reversal",
        headers={**auth, "Idempotency-Key": "rev-1"},
        json={"reason": "refund: wrong player"},
    )
    assert r.status_code == 201
    reversal = r.json()
    assert reversal["reverses"] == original["id"]
    assert reversal["reason"] == "refund: wrong player"
    assert [(e["user_id"], e["amount"], e["balance_after"]) for e in reversal["entries"]] == [(1, -50, 0), (2, -20, 0)]
    replay = await client.post(
        f"/v1/transactions/{original['id']}/reversal",
        headers={**auth, "Idempotency-Key": "rev-1"},
        json={"reason": "refund: wrong player"},
    )
    assert replay.content == r.content
    assert replay.headers["Idempotent-Replayed"] == "true"


async def test_reversal_without_a_body_uses_the_default_reason(client, auth):
    original = (await post(client, auth, [entry(1, 5)])).json()
    r = await client.post(f"/v1/transactions/{original['id']}/reversal", headers={**auth, "Idempotency-Key": "r"})
    assert r.status_code == 201
    assert r.json()["reason"] == "reversal"


async def test_second_reversal_is_409_already_reversed(client, auth):
    original = (await post(client, auth, [entry(1, 5)])).json()
    url = f"/v1/transactions/{original['id']}/reversal"
    assert (await client.post(url, headers={**auth, "Idempotency-Key": "r1"})).status_code == 201
    r = await client.post(url, headers={**auth, "Idempotency-Key": "r2"})
    assert r.status_code == 409
    assert r.json()["code"] == "already_reversed"
    assert await balance(client, auth, 1) == 0


async def test_reversal_of_spent_coins_is_409_insufficient_funds(client, auth):
    original = (await post(client, auth, [entry(1, 5)])).json()
    await post(client, auth, [entry(1, -3)])
    r = await client.post(f"/v1/transactions/{original['id']}/reversal", headers={**auth, "Idempotency-Key": "r"})
    assert r.status_code == 409
    assert r.json()["code"] == "insufficient_funds"
    assert await balance(client, auth, 1) == 2


async def test_reversal_of_unknown_transaction_is_404_and_needs_a_key(client, auth):
    r = await client.post(f"/v1/transactions/{uuid.uuid4()}/reversal", headers={**auth, "Idempotency-Key": "r"})
    assert r.status_code == 404
    r = await client.post(f"/v1/transactions/{uuid.uuid4()}/reversal", headers=auth)
    assert r.status_code == 400


async def test_concurrent_reversals_of_one_transaction_apply_once(client, auth, database_url):
    original = (await post(client, auth, [entry(1, 5)])).json()
    url = f"/v1/transactions/{original['id']}/reversal"
    results = await asyncio.gather(*(client.post(url, headers={**auth, "Idempotency-Key": f"r{i}"}) for i in range(20)))
    assert sorted(r.status_code for r in results) == [201] + [409] * 19
    assert await balance(client, auth, 1) == 0
    assert run_coffer("audit", database_url=database_url).returncode == 0
