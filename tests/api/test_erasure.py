"""Right to erasure: Roblox's signed webhook, the queue and worker, `coffer erase`, and what is left."""

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
import uuid

import httpx
import pytest

from tests.conftest import run_coffer

SECRET = "whsec-test-secret"
USER = 4815162342  # ten digits: never a chance match inside timestamps or small numbers
OTHER = 777
URL = "/v1/webhooks/roblox"


@pytest.fixture
def settings_env():
    return {
        "COFFER_KEY_CACHE_SECONDS": "0",
        "COFFER_RATE_LIMIT_PER_MINUTE": "100000",
        "COFFER_ROBLOX_WEBHOOK_SECRET": SECRET,
    }


def signed(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "roblox-signature": f"t={timestamp},v1={base64.b64encode(mac).decode()}",
        "content-type": "application/json",
    }


def notification(
    user_id: int = USER, event: str = "RightToErasureRequest", notification_id: str | None = None
) -> bytes:
    return json.dumps(
        {
            "NotificationId": notification_id or str(uuid.uuid4()),
            "EventType": event,
            "EventTime": "2024-05-01T12:00:00.000Z",
            "EventPayload": {"UserId": user_id, "GameIds": [1234, 2345]},
        }
    ).encode()


async def wait_done(db, notification_id: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (
            await db.fetchval("SELECT status FROM erasure_requests WHERE notification_id = $1", notification_id)
            == "done"
        ):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the erasure worker did not finish the request")


async def mentions_anywhere(db, user_id: int) -> list[str]:
    """Every column of every table (all types but bytea hashes) whose text holds the id as a digit run."""
    columns = await db.fetch(
        """
        SELECT table_name, column_name FROM information_schema.columns
        WHERE table_schema = 'public' AND data_type <> 'bytea'
          AND table_name IN (SELECT table_name FROM information_schema.tables
                             WHERE table_schema = 'public' AND table_type = 'BASE TABLE')
        """
    )
    assert {"accounts", "transactions", "receipts", "idempotency_keys", "links", "erasure_requests"} <= {
        c["table_name"] for c in columns
    }
    pattern = f"(^|[^0-9]){user_id}([^0-9]|$)"
    found = []
    for c in columns:
        hits = await db.fetchval(
            f'SELECT count(*) FROM "{c["table_name"]}" WHERE "{c["column_name"]}"::text ~ $1', pattern
        )
        if hits:
            found.append(f"{c['table_name']}.{c['column_name']} ({hits} rows)")
    return found


async def post(client, auth, entries, key=None, reason="test", metadata=None):
    return await client.post(
        "/v1/transactions",
        headers={**auth, "Idempotency-Key": key or str(uuid.uuid4())},
        json={"entries": entries, "reason": reason, "metadata": metadata or {}},
    )


# --- the webhook ---------------------------------------------------------------------------------


async def test_signed_erasure_request_is_queued_once_per_notification_id(client, db):
    body = notification(notification_id="n-1")
    first = await client.post(URL, content=body, headers=signed(body))
    assert first.status_code == 202, first.text
    assert first.json() == {"notification_id": "n-1", "status": "queued"}
    again = await client.post(URL, content=body, headers=signed(body))
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    await wait_done(db, "n-1")
    rows = await db.fetch("SELECT * FROM erasure_requests")
    assert len(rows) == 1
    assert rows[0]["attempts"] == 1


async def test_signature_over_compact_reserialized_json_is_accepted(client, db):
    compact = notification(notification_id="n-compact").replace(b": ", b":").replace(b", ", b",")
    pretty = json.dumps(json.loads(compact), indent=2).encode()
    response = await client.post(URL, content=pretty, headers=signed(compact))
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("case", ["wrong_secret", "tampered_body", "missing_header", "stale", "future", "garbled"])
async def test_bad_signatures_are_rejected_and_nothing_is_queued(client, db, case):
    body = notification()
    headers = signed(body)
    if case == "wrong_secret":
        headers = signed(body, secret="not-the-secret")
    elif case == "tampered_body":
        body = notification(user_id=OTHER)
    elif case == "missing_header":
        del headers["roblox-signature"]
    elif case == "stale":
        headers = signed(body, timestamp=int(time.time()) - 301)
    elif case == "future":
        headers = signed(body, timestamp=int(time.time()) + 301)
    elif case == "garbled":
        headers["roblox-signature"] = "v1=abc"
    response = await client.post(URL, content=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_signature"
    assert await db.fetchval("SELECT count(*) FROM erasure_requests") == 0


async def test_sample_and_unknown_events_are_acknowledged_but_not_queued(client, db):
    sample = json.dumps({"NotificationId": "s-1", "EventType": "SampleNotification", "EventPayload": {"UserId": 1}})
    response = await client.post(URL, content=sample, headers=signed(sample.encode()))
    assert response.status_code == 200
    assert response.json() == {"notification_id": "s-1", "status": "ok"}
    other = notification(event="SubscriptionPurchased", notification_id="o-1")
    response = await client.post(URL, content=other, headers=signed(other))
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert await db.fetchval("SELECT count(*) FROM erasure_requests") == 0


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", json.dumps({"EventType": "RightToErasureRequest"}).encode(), notification(user_id=0)],
)
async def test_signed_body_that_is_not_a_notification_is_422(client, db, body):
    response = await client.post(URL, content=body, headers=signed(body))
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert await db.fetchval("SELECT count(*) FROM erasure_requests") == 0


async def test_webhook_without_a_configured_secret_answers_503(database_url, monkeypatch):
    from coffer_api.main import create_asgi_app
    from coffer_api.settings import Settings

    monkeypatch.delenv("COFFER_ROBLOX_WEBHOOK_SECRET", raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    edge = create_asgi_app(Settings(_env_file=None))
    async with edge.app.router.lifespan_context(edge.app):
        transport = httpx.ASGITransport(app=edge)
        async with httpx.AsyncClient(transport=transport, base_url="http://coffer.test") as http:
            body = notification()
            response = await http.post(URL, content=body, headers=signed(body))
    assert response.status_code == 503
    assert response.json()["code"] == "webhook_not_configured"
    assert "COFFER_ROBLOX_WEBHOOK_SECRET" in response.json()["detail"]


# --- the erasure ---------------------------------------------------------------------------------


async def give_the_player_a_past(client, auth, db, database_url) -> dict[str, str]:
    """Balances in two currencies, history with metadata and reasons naming the id, a receipt, a
    Discord link, a failed link attempt and stored replies (one refused for insufficient funds)."""
    assert run_coffer("currencies", "add", "gems", database_url=database_url).returncode == 0
    keys = {"grant": f"grant-{USER}-1", "refused": str(uuid.uuid4()), "transfer": str(uuid.uuid4())}
    r = await post(
        client,
        auth,
        [{"user_id": USER, "currency": "coins", "amount": 500}, {"user_id": USER, "currency": "gems", "amount": 7}],
        key=keys["grant"],
        reason=f"welcome bonus for {USER}",
        metadata={"user_id": USER, "as_text": str(USER), "note": f"player:{USER}!", str(USER): [USER, {"x": USER}]},
    )
    assert r.status_code == 201, r.text
    r = await post(
        client,
        auth,
        [
            {"user_id": USER, "currency": "coins", "amount": -120},
            {"user_id": OTHER, "currency": "coins", "amount": 120},
        ],
        key=keys["transfer"],
        reason="trade",
        metadata={"from": USER, "to": OTHER, "source": "roblox"},
    )
    assert r.status_code == 201
    r = await post(client, auth, [{"user_id": USER, "currency": "coins", "amount": -(10**6)}], key=keys["refused"])
    assert r.status_code == 409
    r = await client.post(
        "/v1/receipts",
        headers=auth,
        json={"purchase_id": "purchase-1", "user_id": USER, "product_id": 555, "currency": "coins", "amount": 30},
    )
    assert r.status_code == 201
    # a transaction of someone else that names the player only in its metadata
    r = await post(client, auth, [{"user_id": OTHER, "currency": "gems", "amount": 3}], metadata={"referrer": USER})
    assert r.status_code == 201
    code = (await client.post("/v1/links/codes", json={"discord_user_id": "111222333"}, headers=auth)).json()["code"]
    wrong = await client.post("/v1/links/confirm", json={"code": "ZZZZZZ", "user_id": USER}, headers=auth)
    assert wrong.status_code == 404
    r = await client.post("/v1/links/confirm", json={"code": code, "user_id": USER}, headers=auth)
    assert r.status_code == 200
    # the data really is there before the erasure
    assert await db.fetchval("SELECT count(*) FROM links WHERE user_id = $1", USER) == 1
    assert await db.fetchval("SELECT count(*) FROM balance_outbox WHERE user_id = $1", USER) >= 1
    assert len(await mentions_anywhere(db, USER)) >= 8
    return keys


async def test_erasure_leaves_the_id_nowhere_and_keeps_the_ledger_exact(client, auth, db, database_url):
    keys = await give_the_player_a_past(client, auth, db, database_url)
    other_before = (await client.get(f"/v1/players/{OTHER}/balances", headers=auth)).json()["balances"]
    leaders = (await client.get("/v1/leaderboards/coins", headers=auth)).json()["entries"]
    assert USER in [e["user_id"] for e in leaders]

    body = notification(notification_id="erase-me")
    response = await client.post(URL, content=body, headers=signed(body))
    assert response.status_code == 202
    await wait_done(db, "erase-me")

    assert await mentions_anywhere(db, USER) == []

    record = await db.fetchrow("SELECT * FROM erasure_requests WHERE notification_id = 'erase-me'")
    assert record["user_id"] is None
    assert record["completed_at"] is not None
    counts = json.loads(record["rows_changed"])
    assert counts["accounts"] == 2
    assert counts["transactions"] == 3  # the grant, the trade and the referral (the receipt's names no one)
    assert counts["receipts"] == 1
    assert counts["links"] == 1
    assert counts["link_codes"] == 1
    assert counts["link_attempts"] == 1
    assert counts["idempotency_keys"] == 4  # grant, trade, referral and the refused one
    assert counts["balance_outbox"] >= 1

    # the balances moved to one random negative pseudonym; nobody else's changed
    pseudonyms = await db.fetch("SELECT user_id, currency, balance FROM accounts WHERE user_id < 0 ORDER BY currency")
    assert [(r["currency"], r["balance"]) for r in pseudonyms] == [("coins", 410), ("gems", 7)]
    assert len({r["user_id"] for r in pseudonyms}) == 1
    assert (await client.get(f"/v1/players/{OTHER}/balances", headers=auth)).json()["balances"] == other_before
    assert (await client.get(f"/v1/players/{USER}/balances", headers=auth)).json()["balances"] == {
        "coins": 0,
        "gems": 0,
    }
    leaders = (await client.get("/v1/leaderboards/coins", headers=auth)).json()["entries"]
    assert [e["user_id"] for e in leaders] == [OTHER]
    history = (await client.get(f"/v1/players/{OTHER}/transactions", headers=auth)).text
    assert str(USER) not in history
    assert str(pseudonyms[0]["user_id"]) in history

    # a replay of a stored reply cannot bring the id back
    replay = await post(client, auth, [{"user_id": USER, "currency": "coins", "amount": -(10**6)}], key=keys["refused"])
    assert replay.status_code == 422
    assert replay.json()["code"] == "idempotency_key_reused"
    assert str(USER) not in replay.text
    # (the game did send the id again: that request alone made a fresh, empty account for it)
    assert await mentions_anywhere(db, USER) == ["accounts.user_id (1 rows)"]
    assert await db.fetchval("SELECT sum(balance) FROM accounts WHERE user_id = $1", USER) == 0

    audit = run_coffer("audit", database_url=database_url)
    assert audit.returncode == 0, audit.stdout + audit.stderr


async def test_cli_erase_prints_counts_and_has_the_same_effect(client, auth, db, database_url):
    await give_the_player_a_past(client, auth, db, database_url)
    result = await asyncio.to_thread(run_coffer, "erase", str(USER), database_url=database_url)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"erased: accounts=2, .*transactions=3\n", result.stdout)
    assert str(USER) not in result.stdout + result.stderr
    assert await mentions_anywhere(db, USER) == []
    record = await db.fetchrow("SELECT * FROM erasure_requests")
    assert (record["notification_id"], record["user_id"], record["status"]) == (None, None, "done")
    assert run_coffer("audit", database_url=database_url).returncode == 0
    # erasing again finds nothing left
    again = run_coffer("erase", str(USER), database_url=database_url)
    assert again.returncode == 0
    assert "accounts=0" in again.stdout


@pytest.mark.parametrize("arg", ["abc", "0", "-5", str(2**63)])
def test_cli_erase_with_a_bad_user_id_is_one_line_and_exit_2(database_url, arg):
    result = run_coffer("erase", arg, database_url=database_url)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "user id" in result.stderr


async def test_erasure_racing_live_transactions_loses_nothing(client, auth, db, database_url):
    """Credits, purchases and transfers for the player keep arriving while `coffer erase` runs: every
    committed coin is either on the pseudonym (before) or on a fresh account (after)."""
    r = await post(client, auth, [{"user_id": OTHER, "currency": "coins", "amount": 10**6}])
    assert r.status_code == 201
    stop = asyncio.Event()
    granted = 0
    moved = 0

    async def credits():
        nonlocal granted
        while not stop.is_set():
            r = await post(client, auth, [{"user_id": USER, "currency": "coins", "amount": 1}], metadata={"u": USER})
            assert r.status_code == 201, r.text
            granted += 1

    async def transfers():
        nonlocal moved
        while not stop.is_set():
            r = await post(
                client,
                auth,
                [
                    {"user_id": OTHER, "currency": "coins", "amount": -1},
                    {"user_id": USER, "currency": "coins", "amount": 1},
                ],
            )
            assert r.status_code == 201, r.text
            moved += 1

    async def purchases():
        nonlocal granted
        while not stop.is_set():
            r = await client.post(
                "/v1/receipts",
                headers=auth,
                json={
                    "purchase_id": str(uuid.uuid4()),
                    "user_id": USER,
                    "product_id": 9,
                    "currency": "coins",
                    "amount": 1,
                },
            )
            assert r.status_code == 201, r.text
            granted += 1

    workers = [asyncio.create_task(job()) for job in (credits, transfers, purchases) for _ in range(2)]
    await asyncio.sleep(0.3)
    # erasures through the webhook and its worker, and one through the CLI, while the traffic goes on
    for i in range(10):
        body = notification(notification_id=f"race-{i}")
        assert (await client.post(URL, content=body, headers=signed(body))).status_code == 202
        await asyncio.sleep(0.15)
    cli = await asyncio.to_thread(run_coffer, "erase", str(USER), database_url=database_url)
    for i in range(10):
        await wait_done(db, f"race-{i}")
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*workers)
    assert cli.returncode == 0, cli.stderr
    assert granted > 0
    assert moved > 0

    audit = run_coffer("audit", database_url=database_url)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    player_total = await db.fetchval(
        "SELECT sum(balance) FROM accounts WHERE currency = 'coins' AND (user_id < 0 OR user_id = $1)", USER
    )
    assert player_total == granted + moved
    assert await db.fetchval("SELECT balance FROM accounts WHERE user_id = $1 AND currency = 'coins'", OTHER) == (
        10**6 - moved
    )
    # every posting booked the player's side: no transaction is the issuer's alone
    lonely = await db.fetchval(
        "SELECT count(*) FROM transactions t WHERE NOT EXISTS "
        "(SELECT 1 FROM entries e WHERE e.transaction_seq = t.seq AND e.ord > 0)"
    )
    assert lonely == 0
    assert await db.fetchval("SELECT count(DISTINCT user_id) FROM accounts WHERE user_id < 0") >= 5
