"""POST /v1/transactions: atomic, idempotent, never overdrawn."""

import asyncio
import uuid

import pytest

from tests.conftest import run_coffer


def entry(user_id: int, amount: int, currency: str = "coins") -> dict:
    return {"user_id": user_id, "currency": currency, "amount": amount}


async def post(client, auth, entries, key=None, reason="test", **extra):
    headers = {**auth, "Idempotency-Key": key or uuid.uuid4().hex}
    return await client.post("/v1/transactions", headers=headers, json={"entries": entries, "reason": reason, **extra})


async def balance(client, auth, user_id: int, currency: str = "coins") -> int:
    r = await client.get(f"/v1/players/{user_id}/balances", headers=auth)
    return r.json()["balances"][currency]


async def test_grant_returns_the_transaction_with_balances_after(client, auth):
    r = await post(client, auth, [entry(1, 100)], reason="daily:login", metadata={"streak": 3})
    assert r.status_code == 201
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    uuid.UUID(body["id"])
    assert body["reason"] == "daily:login"
    assert body["metadata"] == {"streak": 3}
    assert body["entries"] == [{"user_id": 1, "currency": "coins", "amount": 100, "balance_after": 100}]
    assert body["reverses"] is None
    assert body["created_at"].endswith("+00:00")
    assert "Idempotent-Replayed" not in r.headers


async def test_spend_and_transfer_move_exact_amounts(client, auth):
    await post(client, auth, [entry(1, 100)])
    r = await post(client, auth, [entry(1, -30)], reason="shop:sword")
    assert r.status_code == 201
    assert r.json()["entries"][0]["balance_after"] == 70
    r = await post(client, auth, [entry(1, -20), entry(2, 20)], reason="trade")
    assert r.status_code == 201
    assert [e["balance_after"] for e in r.json()["entries"]] == [50, 20]
    assert await balance(client, auth, 1) == 50
    assert await balance(client, auth, 2) == 20


async def test_same_key_same_body_replays_the_first_reply(client, auth):
    first = await post(client, auth, [entry(7, 10)], key="grant-7")
    again = await post(client, auth, [entry(7, 10)], key="grant-7")
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await balance(client, auth, 7) == 10


async def test_replay_after_key_rotation_does_not_apply_twice(client, auth, make_key):
    await post(client, auth, [entry(8, 10)], key="rotate-me")
    other = {"Authorization": f"Bearer {await make_key('read,write')}"}
    again = await post(client, other, [entry(8, 10)], key="rotate-me")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await balance(client, auth, 8) == 10


async def test_same_key_different_body_is_422_idempotency_key_reused(client, auth):
    await post(client, auth, [entry(1, 10)], key="k")
    r = await post(client, auth, [entry(1, 11)], key="k")
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "idempotency_key_reused"
    assert await balance(client, auth, 1) == 10


async def test_missing_idempotency_key_is_400(client, auth):
    r = await client.post("/v1/transactions", headers=auth, json={"entries": [entry(1, 1)], "reason": "x"})
    assert r.status_code == 400
    assert r.json()["code"] == "idempotency_key_missing"


@pytest.mark.parametrize("key", ["", "a" * 256, "has space", "tab\tkey"])
async def test_invalid_idempotency_key_is_400(client, auth, key):
    r = await client.post(
        "/v1/transactions",
        headers={**auth, "Idempotency-Key": key},
        json={"entries": [entry(1, 1)], "reason": "x"},
    )
    assert r.status_code == 400
    assert r.json()["code"] in ("idempotency_key_invalid", "idempotency_key_missing")


async def test_overdraft_is_409_insufficient_funds_and_applies_nothing(client, auth):
    await post(client, auth, [entry(1, 40)])
    r = await post(client, auth, [entry(1, -50)])
    assert r.status_code == 409
    problem = r.json()
    assert problem["code"] == "insufficient_funds"
    assert problem["type"] == "urn:coffer:error:insufficient_funds"
    assert problem["status"] == 409
    assert problem["balance"] == 40
    assert "40" in problem["detail"]
    assert await balance(client, auth, 1) == 40


async def test_multi_entry_transaction_whose_last_entry_overdraws_leaves_every_balance_untouched(client, auth, db):
    await post(client, auth, [entry(1, 100), entry(2, 100), entry(3, 5)])
    before = await db.fetchval("SELECT count(*) FROM transactions")
    r = await post(client, auth, [entry(1, -10), entry(2, -10), entry(4, 15), entry(3, -6)])
    assert r.status_code == 409
    assert r.json()["user_id"] == 3
    assert [await balance(client, auth, u) for u in (1, 2, 3, 4)] == [100, 100, 5, 0]
    assert await db.fetchval("SELECT count(*) FROM transactions") == before


async def test_a_failed_request_replays_its_failure(client, auth):
    first = await post(client, auth, [entry(1, -5)], key="broke")
    await post(client, auth, [entry(1, 100)])
    again = await post(client, auth, [entry(1, -5)], key="broke")
    assert first.status_code == again.status_code == 409
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await balance(client, auth, 1) == 100


async def test_unknown_currency_is_422(client, auth):
    r = await post(client, auth, [entry(1, 5, currency="gems")])
    assert r.status_code == 422
    assert r.json()["code"] == "unknown_currency"
    assert "coffer currencies add gems" in r.json()["detail"]


async def test_balance_overflow_is_422_and_applies_nothing(client, auth, db):
    # 2^53 - 1 is the ceiling: JSON numbers stay exact in Luau
    for _ in range(9):
        assert (await post(client, auth, [entry(1, 10**15)])).status_code == 201
    r = await post(client, auth, [entry(1, 10**15)])
    assert r.status_code == 422
    assert r.json()["code"] == "balance_overflow"
    assert await balance(client, auth, 1) == 9 * 10**15


async def test_new_currency_from_the_cli_is_usable_and_listed(client, auth, database_url):
    result = run_coffer("currencies", "add", "gems", database_url=database_url)
    assert result.returncode == 0, result.stderr
    assert (await post(client, auth, [entry(1, 5, currency="gems")])).status_code == 201
    r = await client.get("/v1/players/1/balances", headers=auth)
    assert r.json() == {"user_id": 1, "balances": {"coins": 0, "gems": 5}}


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"entries": [], "reason": "x"}, "entries"),
        ({"entries": [entry(1, 1)] * 101, "reason": "x"}, "entries"),
        ({"entries": [entry(1, 0)], "reason": "x"}, "amount"),
        ({"entries": [entry(1, 10**15 + 1)], "reason": "x"}, "amount"),
        ({"entries": [entry(1, -(10**15) - 1)], "reason": "x"}, "amount"),
        ({"entries": [{"user_id": 1, "currency": "coins", "amount": 1.5}], "reason": "x"}, "amount"),
        ({"entries": [{"user_id": 1, "currency": "coins", "amount": "5"}], "reason": "x"}, "amount"),
        ({"entries": [{"user_id": 0, "currency": "coins", "amount": 5}], "reason": "x"}, "user_id"),
        ({"entries": [{"user_id": 2**63, "currency": "coins", "amount": 5}], "reason": "x"}, "user_id"),
        ({"entries": [{"user_id": True, "currency": "coins", "amount": 5}], "reason": "x"}, "user_id"),
        ({"entries": [{"user_id": 1, "currency": "Coins!", "amount": 5}], "reason": "x"}, "currency"),
        ({"entries": [{"user_id": 1, "amount": 5}], "reason": "x"}, "currency"),
        ({"entries": [entry(1, 1)], "reason": ""}, "reason"),
        ({"entries": [entry(1, 1)], "reason": "r" * 201}, "reason"),
        ({"entries": [entry(1, 1)]}, "reason"),
        ({"entries": [entry(1, 1)], "reason": "x", "metadata": []}, "metadata"),
        ({"entries": [entry(1, 1)], "reason": "x", "metadata": {"k": "v" * 4100}}, "metadata"),
        ({"entries": [entry(1, 1)], "reason": "x", "surprise": 1}, "surprise"),
        ({"entries": [entry(1, 1), entry(1, 2)], "reason": "x"}, "twice"),
        ([1, 2, 3], "body"),
    ],
)
async def test_malformed_transactions_are_422_with_where_and_why(client, auth, body, where):
    r = await client.post("/v1/transactions", headers={**auth, "Idempotency-Key": uuid.uuid4().hex}, json=body)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"] == "validation_error"
    assert r.headers["content-type"] == "application/problem+json"
    assert where in problem["detail"] or any(where in ".".join(map(str, e["loc"])) for e in problem["errors"])


async def test_malformed_json_is_422_not_500(client, auth):
    r = await client.post(
        "/v1/transactions",
        headers={**auth, "Idempotency-Key": "x", "Content-Type": "application/json"},
        content=b'{"entries": [',
    )
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"


async def test_body_over_64_kib_is_413(client, auth):
    big = {"entries": [entry(1, 1)], "reason": "x", "metadata": {"k": "v" * 70_000}}
    r = await client.post("/v1/transactions", headers={**auth, "Idempotency-Key": "big"}, json=big)
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"


async def test_200_concurrent_debits_of_1_against_100_leave_exactly_100_successes(client, auth, database_url):
    await post(client, auth, [entry(42, 100)])
    results = await asyncio.gather(*(post(client, auth, [entry(42, -1)]) for _ in range(200)))
    statuses = [r.status_code for r in results]
    assert statuses.count(201) == 100
    assert statuses.count(409) == 100
    assert all(r.json()["code"] == "insufficient_funds" for r in results if r.status_code == 409)
    assert await balance(client, auth, 42) == 0
    audit = run_coffer("audit", database_url=database_url)
    assert audit.returncode == 0, audit.stdout + audit.stderr


async def test_50_concurrent_identical_requests_with_one_key_create_one_transaction(client, auth, db, database_url):
    results = await asyncio.gather(*(post(client, auth, [entry(5, 3)], key="same-key") for _ in range(50)))
    assert {r.status_code for r in results} == {201}
    assert len({r.content for r in results}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in results) == 49
    assert await db.fetchval("SELECT count(*) FROM transactions") == 1
    assert await balance(client, auth, 5) == 3
    assert run_coffer("audit", database_url=database_url).returncode == 0


async def test_concurrent_opposite_transfers_do_not_deadlock(client, auth, database_url):
    await post(client, auth, [entry(1, 1000), entry(2, 1000)])
    ab = [post(client, auth, [entry(1, -1), entry(2, 1)]) for _ in range(60)]
    ba = [post(client, auth, [entry(2, -1), entry(1, 1)]) for _ in range(60)]
    results = await asyncio.gather(*[x for pair in zip(ab, ba, strict=True) for x in pair])
    assert {r.status_code for r in results} == {201}
    assert await balance(client, auth, 1) == await balance(client, auth, 2) == 1000
    assert run_coffer("audit", database_url=database_url).returncode == 0


async def test_get_transaction_returns_what_the_post_returned(client, auth):
    posted = await post(client, auth, [entry(1, 10), entry(2, 5)], metadata={"order": "A-1"})
    r = await client.get(f"/v1/transactions/{posted.json()['id']}", headers=auth)
    assert r.status_code == 200
    assert r.json() == posted.json()


async def test_get_unknown_transaction_is_404_and_bad_id_is_422(client, auth):
    r = await client.get(f"/v1/transactions/{uuid.uuid4()}", headers=auth)
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"
    r = await client.get("/v1/transactions/not-a-uuid", headers=auth)
    assert r.status_code == 422


async def test_history_is_rejected_by_the_database_when_edited(db, client, auth):
    await post(client, auth, [entry(1, 10)])
    import asyncpg

    with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
        await db.execute("UPDATE transactions SET reason = 'forged'")
    with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
        await db.execute("DELETE FROM entries")


async def test_the_database_refuses_a_negative_player_balance(db, client, auth):
    await post(client, auth, [entry(1, 10)])
    import asyncpg

    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute("UPDATE accounts SET balance = -1 WHERE user_id = 1")
