"""The Luau module (clients/roblox/src/Coffer.luau) in the real Luau VM, against the live API on a
real PostgreSQL: writes, errors, receipts, retries, batching, the request budget, shutdown, live
updates and link codes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import pytest

from tests.live import LiveApi
from tests.roblox.engine import Engine
from tests.roblox.fakes import FakeOpenCloud, Fault, FaultProxy

PRELUDE = """
local Coffer, baseUrl, options = ...
local HttpService = game:GetService("HttpService")
local config = { baseUrl = baseUrl, apiKey = HttpService:GetSecret("coffer_api_key") }
for name, value in options or {} do
    config[name] = value
end
local coffer = Coffer.new(config)
"""


def luau(body: str) -> str:
    return PRELUDE + body


def balances(staff: httpx.Client, user_id: int) -> dict[str, int]:
    response = staff.get(f"/v1/players/{user_id}/balances")
    assert response.status_code == 200, response.text
    return response.json()["balances"]


def history(staff: httpx.Client, user_id: int) -> list[dict]:
    response = staff.get(f"/v1/players/{user_id}/transactions")
    assert response.status_code == 200, response.text
    return response.json()["transactions"]


def test_grant_spend_and_transfer_move_coins(engine: Engine, api: LiveApi, staff: httpx.Client):
    results = engine.run(
        luau("""
        local okGrant, granted = coffer:grant(1001, "coins", 500, "daily_reward")
        local okSpend, spent = coffer:spend(1001, "coins", 120, "shop:sword")
        local okTransfer, moved = coffer:transfer(1001, 1002, "coins", 80, "gift")
        return okGrant, granted.entries[1].balance_after, okSpend, spent.entries[1].balance_after,
            okTransfer, moved.entries[1].balance_after, moved.entries[2].balance_after, moved.reason
        """),
        engine.require_module(),
        api.url,
    )
    assert results == [True, 500, True, 380, True, 300, 80, "gift"]
    assert balances(staff, 1001) == {"coins": 300}
    assert balances(staff, 1002) == {"coins": 80}
    assert [t["reason"] for t in history(staff, 1001)] == ["gift", "shop:sword", "daily_reward"]


def test_insufficient_funds_comes_back_as_a_code(engine: Engine, api: LiveApi, staff: httpx.Client):
    results = engine.run(
        luau("""
        coffer:grant(2001, "coins", 50, "start")
        local ok, err = coffer:spend(2001, "coins", 75, "shop:shield")
        return ok, err.code, err.status, err.problem.balance, err.idempotencyKey ~= nil
        """),
        engine.require_module(),
        api.url,
    )
    assert results == [False, "insufficient_funds", 409, 50, True]
    assert balances(staff, 2001) == {"coins": 50}


def test_bad_input_is_refused_before_any_request(engine: Engine, api: LiveApi):
    results = engine.run(
        luau("""
        local _, zero = coffer:grant(1, "coins", 0, "nothing")
        local _, fraction = coffer:grant(1, "coins", 1.5, "half")
        local _, currency = coffer:grant(1, "Coins!", 1, "bad currency")
        local _, unknown = coffer:grant(1, "gems", 1, "unknown currency")
        local plainHttp = pcall(Coffer.new, { baseUrl = "http://coffer.example.com", apiKey = "k" })
        local https = pcall(Coffer.new, { baseUrl = "https://coffer.example.com", apiKey = "k", liveUpdates = false })
        return zero.code, fraction.code, currency.code, unknown.code, unknown.status, plainHttp, https
        """),
        engine.require_module(),
        api.url,
    )
    assert results == ["validation_error", "validation_error", "validation_error", "unknown_currency", 422, False, True]
    # only the unknown currency reached the API (the API owns the list of currencies)
    assert [r.url.rsplit("/", 2)[-2:] for r in engine.requests] == [["transactions", "batch"]]


def test_secret_is_sent_only_as_the_authorization_header(engine: Engine, api: LiveApi, game_key: str):
    engine.run(luau("coffer:getBalances(7)"), engine.require_module(), api.url)
    (request,) = engine.requests
    assert request.headers["Authorization"] == f"Bearer {game_key}"
    assert game_key not in (request.body or "")
    assert game_key not in request.url
    assert game_key not in " ".join(engine.output + engine.warnings)


def test_query_balances_asks_100_players_per_request(engine: Engine, api: LiveApi, staff: httpx.Client):
    response = staff.post(
        "/v1/transactions",
        json={"entries": [{"user_id": 3150, "currency": "coins", "amount": 9}], "reason": "seed"},
        headers={"Idempotency-Key": "seed-3150"},
    )
    assert response.status_code == 201, response.text
    (ok, players) = engine.run(
        luau("""
        local ids = {}
        for i = 1, 250 do
            table.insert(ids, 3000 + i)
        end
        return coffer:queryBalances(ids)
        """),
        engine.require_module(),
        api.url,
    )
    assert ok is True
    assert len(players) == 250
    assert players[3150] == {"coins": 9}  # Luau tables keyed 3001..3250 come back as a dict
    assert players[3001] == {"coins": 0}
    assert [len(json.loads(r.body)["user_ids"]) for r in engine.requests] == [100, 100, 50]


def test_receipt_run_on_two_servers_at_once_grants_once(
    make_engine: Callable[[], Engine], api: LiveApi, staff: httpx.Client
):
    script = luau("""
    local receipt = { PurchaseId = "purchase-77", PlayerId = 4001, ProductId = 1234567, CurrencySpent = 99 }
    local decision = coffer:processReceipt(receipt, { [1234567] = { currency = "coins", amount = 1000 } })
    return decision.Name
    """)
    servers = [make_engine(), make_engine()]
    threads = [server.start(script, server.require_module(), api.url) for server in servers]
    # both requests are in flight before either server has an answer
    assert all(len(server.requests) == 1 for server in servers)
    deadline = time.monotonic() + 30
    while not all(server.done(t) for server, t in zip(servers, threads, strict=True)):
        assert time.monotonic() < deadline, "ProcessReceipt did not finish"
        for server in servers:
            server.step()
        time.sleep(0.01)
    assert [server.results(t) for server, t in zip(servers, threads, strict=True)] == [["PurchaseGranted"]] * 2
    assert balances(staff, 4001) == {"coins": 1000}
    assert len(history(staff, 4001)) == 1


def test_receipt_is_not_granted_while_the_api_is_down(engine: Engine, api: LiveApi, proxy: FaultProxy):
    proxy.inject(Fault("/v1/receipts", "503", times=1000))
    (decision, waited) = engine.run(
        luau("""
        local started = os.clock()
        local receipt = { PurchaseId = "purchase-down", PlayerId = 4002, ProductId = 9, CurrencySpent = 5 }
        local decision = coffer:processReceipt(receipt, { [9] = { currency = "coins", amount = 10 } })
        return decision.Name, os.clock() - started
        """),
        engine.require_module(),
        proxy.url,
        {"maxRetrySeconds": 3},
    )
    assert decision == "NotProcessedYet"
    assert 2.9 <= waited < 6  # retried with backoff for maxRetrySeconds, then gave up
    assert len(proxy.requests_to("/v1/receipts")) >= 3


def test_429_with_retry_after_is_waited_out(engine: Engine, api: LiveApi, proxy: FaultProxy, staff: httpx.Client):
    proxy.inject(Fault("/v1/transactions/batch", "429", retry_after="2"))
    (ok,) = engine.run(luau('return (coffer:grant(5001, "coins", 25, "quest"))'), engine.require_module(), proxy.url)
    assert ok is True
    first, second = proxy.requests_to("/v1/transactions/batch")
    assert first.status == 429
    assert second.status == 200
    assert second.at - first.at >= 2.0
    assert second.json() == first.json()  # the same transaction, under the same idempotency key
    assert balances(staff, 5001) == {"coins": 25}


def test_dropped_connection_is_retried_with_the_same_key_and_applied_once(
    engine: Engine, api: LiveApi, proxy: FaultProxy, staff: httpx.Client
):
    proxy.inject(Fault("/v1/transactions/batch", "drop"))
    (ok, balance_after) = engine.run(
        luau("""
        local ok, transaction = coffer:grant(6001, "coins", 40, "login_bonus")
        return ok, transaction.entries[1].balance_after
        """),
        engine.require_module(),
        proxy.url,
    )
    assert (ok, balance_after) == (True, 40)
    first, second = proxy.requests_to("/v1/transactions/batch")
    assert first.status is None  # the API applied it, but the game server never heard back
    assert json.loads(first.upstream_body)["results"][0]["status"] == 201
    key = first.json()["transactions"][0]["idempotency_key"]
    assert second.json()["transactions"][0]["idempotency_key"] == key
    assert json.loads(second.upstream_body)["results"][0]["replayed"] is True
    assert balances(staff, 6001) == {"coins": 40}
    assert len(history(staff, 6001)) == 1


def test_batching_coalesces_300_changes_into_few_requests(engine: Engine, api: LiveApi, staff: httpx.Client):
    (oks,) = engine.run(
        luau("""
        local done, oks = 0, 0
        for i = 1, 300 do
            task.spawn(function()
                local ok = coffer:grant(7000 + i, "coins", i, "event_reward")
                if ok then
                    oks += 1
                end
                done += 1
            end)
        end
        while done < 300 do
            task.wait(0.05)
        end
        return oks
        """),
        engine.require_module(),
        api.url,
    )
    assert oks == 300
    batches = [r for r in engine.requests if r.url.endswith("/v1/transactions/batch")]
    assert len(engine.requests) == len(batches) == 3
    assert sorted(len(json.loads(b.body)["transactions"]) for b in batches) == [100, 100, 100]
    response = staff.post("/v1/balances/query", json={"user_ids": [7001, 7150, 7300]})
    assert [p["balances"]["coins"] for p in response.json()["players"]] == [1, 150, 300]


def test_requests_stay_within_the_budget(engine: Engine, api: LiveApi):
    budget = 30  # requests per minute: a burst of 30, then one every 2 s
    (count,) = engine.run(
        luau("""
        local done = 0
        for i = 1, 33 do
            task.spawn(function()
                coffer:getBalances(8000 + i)
                done += 1
            end)
        end
        while done < 33 do
            task.wait(0.1)
        end
        return done
        """),
        engine.require_module(),
        api.url,
        {"requestsPerMinute": budget},
        timeout=30,
    )
    assert count == 33
    start = engine.requests[0].at
    for index, request in enumerate(engine.requests, start=1):
        allowed = budget + (request.at - start) * budget / 60
        assert index <= allowed + 0.01, f"request {index} at +{request.at - start:.2f}s is over budget"
    assert engine.requests[-1].at - start >= 5.5  # the last three waited for their share


def test_bind_to_close_flushes_queued_writes(engine: Engine, api: LiveApi, staff: httpx.Client):
    script = engine.start(
        luau("""
        local results = {}
        for i = 1, 5 do
            task.spawn(function()
                local ok = coffer:grant(9000 + i, "coins", 10, "session_reward")
                table.insert(results, ok)
            end)
        end
        while #results < 5 do
            task.wait(0.05)
        end
        return #results
        """),
        engine.require_module(),
        api.url,
        {"flushInterval": 120},
    )
    engine.advance(1.0)
    assert engine.requests == []  # still waiting for the interval
    engine.close()
    assert len(engine.requests) == 1
    assert balances(staff, 9003) == {"coins": 10}
    engine.run_until(lambda: engine.done(script), 5)
    assert engine.results(script) == [5]


def test_balance_changed_fires_after_a_staff_grant_through_open_cloud(
    engine: Engine, api: LiveApi, staff: httpx.Client, opencloud: FakeOpenCloud
):
    engine.add_player(10001)
    script = engine.start(
        luau("""
        local seen = {}
        coffer.BalanceChanged:Connect(function(userId, balances)
            table.insert(seen, { userId = userId, coins = balances.coins })
        end)
        -- this server's own write is announced to it at once, and not published again
        coffer:grant(10001, "coins", 5, "quest")
        print("granted")
        while #seen < 2 do
            task.wait(0.05)
        end
        return seen
        """),
        engine.require_module(),
        api.url,
    )
    engine.run_until(lambda: "granted" in engine.output, 10)
    response = staff.post(
        "/v1/transactions",
        json={"entries": [{"user_id": 10001, "currency": "coins", "amount": 70}], "reason": "discord:giveaway"},
        headers={"Idempotency-Key": "giveaway-10001"},
    )
    assert response.status_code == 201
    engine.run_until(lambda: engine.done(script), 20)
    (seen,) = engine.results(script)
    assert seen == [{"userId": 10001, "coins": 5}, {"userId": 10001, "coins": 75}]
    (publish,) = [p for p in opencloud.published if p.data()["user_id"] == 10001]
    assert publish.data() == {"user_id": 10001, "balances": {"coins": 75}}


def test_confirm_link_links_the_player_to_the_discord_account(engine: Engine, api: LiveApi, staff: httpx.Client):
    response = staff.post("/v1/links/codes", json={"discord_user_id": "555000111"})
    if response.status_code == 404:
        pytest.fail("POST /v1/links/codes is missing: the link-code API is not in this tree")
    assert response.status_code == 201, response.text
    code = response.json()["code"]
    engine.add_player(11001)
    results = engine.run(
        luau("""
        local code = select(4, ...)
        local player = game:GetService("Players"):GetPlayerByUserId(11001)
        local okWrong, wrong = coffer:confirmLink(player, "ZZZZZZ")
        local ok, link = coffer:confirmLink(player, string.lower(code))
        return okWrong, wrong.code, ok, link.discord_user_id, link.user_id
        """),
        engine.require_module(),
        api.url,
        None,
        code,
    )
    assert results == [False, "link_code_invalid", True, "555000111", 11001]
    assert staff.get("/v1/links/discord/555000111").json()["user_id"] == 11001
