"""API keys and scopes, rate limits, request ids, health, metrics and the OpenAPI document."""

import uuid

import orjson
import pytest

from tests.conftest import run_coffer


async def test_missing_key_is_401_problem(client):
    r = await client.get("/v1/players/1/balances")
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["code"] == "unauthenticated"
    assert problem["type"] == "urn:coffer:error:unauthenticated"
    assert "coffer keys create" in problem["detail"]


@pytest.mark.parametrize(
    "header",
    ["Bearer nonsense", "Bearer cfr_000000000000_wrong", "Basic dXNlcjpwYXNz", "Bearer "],
)
async def test_unknown_or_malformed_key_is_401(client, header):
    r = await client.get("/v1/players/1/balances", headers={"Authorization": header})
    assert r.status_code == 401


async def test_right_id_with_wrong_secret_is_401(client, make_key):
    token = await make_key("read")
    forged = token[: token.rindex("_") + 1] + "x" * 43
    r = await client.get("/v1/players/1/balances", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401


async def test_revoked_key_is_401(client, make_key, database_url):
    token = await make_key("read", name="game-server")
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/v1/players/1/balances", headers=headers)).status_code == 200
    result = run_coffer("keys", "revoke", "game-server", database_url=database_url)
    assert result.returncode == 0, result.stderr
    assert (await client.get("/v1/players/1/balances", headers=headers)).status_code == 401


async def test_key_without_the_scope_is_403(client, make_key):
    read_only = {"Authorization": f"Bearer {await make_key('read')}"}
    r = await client.post(
        "/v1/transactions",
        headers={**read_only, "Idempotency-Key": "k"},
        json={"entries": [{"user_id": 1, "currency": "coins", "amount": 1}], "reason": "x"},
    )
    assert r.status_code == 403
    assert r.json()["code"] == "forbidden"
    write_only = {"Authorization": f"Bearer {await make_key('write')}"}
    assert (await client.get("/v1/players/1/balances", headers=write_only)).status_code == 403
    admin = {"Authorization": f"Bearer {await make_key('admin')}"}
    assert (await client.get("/v1/players/1/balances", headers=admin)).status_code == 200


async def test_keys_are_stored_hashed(db, make_key):
    token = await make_key("read")
    rows = await db.fetch("SELECT * FROM api_keys")
    stored = orjson.dumps([dict(r) for r in rows], default=str).decode()
    assert token not in stored
    assert token.rsplit("_", 1)[1] not in stored


@pytest.fixture
def settings_env():
    return {"COFFER_KEY_CACHE_SECONDS": "0", "COFFER_RATE_LIMIT_PER_MINUTE": "5"}


async def test_rate_limit_is_per_key_with_headers_and_retry_after(client, make_key):
    second = {"Authorization": f"Bearer {await make_key('read')}"}
    for _attempt in range(3):  # a fixed-minute window may roll over mid-test: then try again
        first = {"Authorization": f"Bearer {await make_key('read')}"}
        replies = [await client.get("/v1/players/1/balances", headers=first) for _ in range(6)]
        if len({r.headers["X-RateLimit-Reset"] for r in replies}) == 1:
            break
    assert [r.status_code for r in replies] == [200] * 5 + [429]
    assert [int(r.headers["X-RateLimit-Remaining"]) for r in replies] == [4, 3, 2, 1, 0, 0]
    assert all(r.headers["X-RateLimit-Limit"] == "5" for r in replies)
    assert all(int(r.headers["X-RateLimit-Reset"]) > 1_700_000_000 for r in replies)
    limited = replies[-1]
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert (await client.get("/v1/players/1/balances", headers=second)).status_code == 200


async def test_every_response_carries_a_request_id(client, auth):
    r = await client.get("/v1/players/1/balances", headers=auth)
    assert len(r.headers["X-Request-Id"]) == 32
    mine = await client.get("/v1/players/1/balances", headers={**auth, "X-Request-Id": "game-42-abc"})
    assert mine.headers["X-Request-Id"] == "game-42-abc"
    unauth = await client.get("/v1/players/1/balances", headers={"X-Request-Id": "trace-1"})
    assert unauth.headers["X-Request-Id"] == "trace-1"
    weird = await client.get("/healthz", headers={"X-Request-Id": "x" * 500})
    assert weird.headers["X-Request-Id"] != "x" * 500


async def test_health_and_readiness(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready"}


async def test_metrics_count_requests_by_route_and_status(client, auth):
    await client.get("/v1/players/1/balances", headers=auth)
    await client.get(f"/v1/transactions/{uuid.uuid4()}", headers=auth)
    text = (await client.get("/metrics")).text
    assert 'coffer_http_requests_total{method="GET",route="/v1/players/{user_id}/balances",status="200"}' in text
    assert 'route="/v1/transactions/{transaction_id}",status="404"' in text
    assert "coffer_http_request_duration_seconds_bucket" in text
    assert "coffer_db_pool_connections" in text


async def test_unknown_route_and_method_are_problems(client, auth):
    r = await client.get("/v2/nothing", headers=auth)
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"
    r = await client.delete("/v1/transactions", headers=auth)
    assert r.status_code == 405


async def test_openapi_documents_every_route_with_errors(client):
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in (
        "/v1/players/{user_id}/balances",
        "/v1/balances/query",
        "/v1/transactions",
        "/v1/transactions/batch",
        "/v1/receipts",
        "/v1/transactions/{transaction_id}",
        "/v1/players/{user_id}/transactions",
        "/v1/transactions/{transaction_id}/reversal",
        "/v1/leaderboards/{currency}",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert path in paths, path
    post = paths["/v1/transactions"]["post"]
    assert {"201", "400", "401", "403", "409", "413", "422", "429", "503"} <= set(post["responses"])
    assert "Problem" in spec["components"]["schemas"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    docs = await client.get("/docs")
    assert docs.status_code == 200
