"""Balances, balance queries, history pages and leaderboards."""

import asyncio

import pytest

from tests.api.test_transactions import entry, post


async def test_balances_of_a_new_player_are_zero_in_every_currency(client, auth, database_url):
    from tests.conftest import run_coffer

    run_coffer("currencies", "add", "gems", database_url=database_url)
    r = await client.get("/v1/players/123/balances", headers=auth)
    assert r.status_code == 200
    assert r.json() == {"user_id": 123, "balances": {"coins": 0, "gems": 0}}


@pytest.mark.parametrize("user_id", ["0", "-1", "abc", "1.5", str(2**63), ""])
async def test_bad_user_id_in_the_path_is_422(client, auth, user_id):
    r = await client.get(f"/v1/players/{user_id}/balances", headers=auth)
    assert r.status_code in (404, 422) if user_id == "" else r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"


async def test_balance_query_answers_in_request_order(client, auth):
    await post(client, auth, [entry(3, 30), entry(1, 10)])
    r = await client.post("/v1/balances/query", headers=auth, json={"user_ids": [3, 2, 1]})
    assert r.status_code == 200
    assert r.json() == {
        "players": [
            {"user_id": 3, "balances": {"coins": 30}},
            {"user_id": 2, "balances": {"coins": 0}},
            {"user_id": 1, "balances": {"coins": 10}},
        ]
    }


@pytest.mark.parametrize("user_ids", [[], list(range(1, 102)), [0], ["1"], None])
async def test_balance_query_limits_are_422(client, auth, user_ids):
    r = await client.post("/v1/balances/query", headers=auth, json={"user_ids": user_ids})
    assert r.status_code == 422


async def test_history_pages_newest_first_with_a_cursor(client, auth):
    ids = [(await post(client, auth, [entry(1, i + 1)], reason=f"r{i}")).json()["id"] for i in range(7)]
    await post(client, auth, [entry(2, 1)])
    seen = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/v1/players/1/transactions", headers=auth, params=params)
        assert r.status_code == 200
        page = r.json()
        seen += [t["id"] for t in page["transactions"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))


async def test_history_is_stable_under_concurrent_writes(client, auth):
    for i in range(6):
        await post(client, auth, [entry(1, i + 1)])
    first = (await client.get("/v1/players/1/transactions", headers=auth, params={"limit": 3})).json()
    await asyncio.gather(*(post(client, auth, [entry(1, 1)]) for _ in range(5)))
    second = (
        await client.get(
            "/v1/players/1/transactions", headers=auth, params={"limit": 3, "cursor": first["next_cursor"]}
        )
    ).json()
    ids = [t["id"] for t in first["transactions"] + second["transactions"]]
    assert len(set(ids)) == 6
    amounts = [t["entries"][0]["amount"] for t in first["transactions"] + second["transactions"]]
    assert amounts == [6, 5, 4, 3, 2, 1]


async def test_history_filters_by_currency(client, auth, database_url):
    from tests.conftest import run_coffer

    run_coffer("currencies", "add", "gems", database_url=database_url)
    await post(client, auth, [entry(1, 5)])
    await post(client, auth, [entry(1, 7, currency="gems")])
    r = await client.get("/v1/players/1/transactions", headers=auth, params={"currency": "gems"})
    assert [t["entries"][0]["currency"] for t in r.json()["transactions"]] == ["gems"]


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 101}, {"limit": "x"}, {"cursor": "zz"}, {"currency": "BAD"}]
)
async def test_history_rejects_bad_parameters(client, auth, params):
    r = await client.get("/v1/players/1/transactions", headers=auth, params=params)
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"


async def test_leaderboard_ranks_players_and_never_the_issuer(client, auth):
    await post(client, auth, [entry(1, 10), entry(2, 30), entry(3, 20)])
    r = await client.get("/v1/leaderboards/coins", headers=auth, params={"limit": 2})
    assert r.status_code == 200
    assert r.json() == {
        "currency": "coins",
        "entries": [{"rank": 1, "user_id": 2, "balance": 30}, {"rank": 2, "user_id": 3, "balance": 20}],
    }
    full = (await client.get("/v1/leaderboards/coins", headers=auth)).json()["entries"]
    assert [e["user_id"] for e in full] == [2, 3, 1]


async def test_leaderboard_of_unknown_currency_is_422(client, auth):
    r = await client.get("/v1/leaderboards/gems", headers=auth)
    assert r.status_code == 422
    assert r.json()["code"] == "unknown_currency"
