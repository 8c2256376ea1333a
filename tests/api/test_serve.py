"""`coffer serve` as production runs it: JSON logs with request ids, never a key; proxy headers."""

import json

import httpx


def _log_lines(api) -> list[dict]:
    lines = [line for line in api.output().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


def test_logs_are_json_with_request_ids_and_never_the_key(live_api):

    api = live_api()
    from tests.conftest import run_coffer

    token = run_coffer("keys", "create", "--name", "logs", "--scopes", "read,write", database_url=api.database_url)
    token = token.stdout.strip()
    headers = {"Authorization": f"Bearer {token}", "X-Request-Id": "req-abc-123"}
    r = httpx.post(
        f"{api.url}/v1/transactions",
        headers={**headers, "Idempotency-Key": "log-test"},
        json={"entries": [{"user_id": 9, "currency": "coins", "amount": 5}], "reason": "x"},
    )
    assert r.status_code == 201
    httpx.get(f"{api.url}/v1/players/9/balances", headers={"Authorization": "Bearer cfr_bad"})
    api.stop()
    records = _log_lines(api)  # every line is JSON: json.loads raises otherwise
    access = [rec for rec in records if rec.get("request_id") == "req-abc-123"]
    assert access
    assert access[0]["status"] == 201
    assert access[0]["route"] == "/v1/transactions"
    assert access[0]["api_key_id"] == token.split("_")[1]
    raw = api.output()
    assert token not in raw
    assert token.rsplit("_", 1)[1] not in raw
    assert "cfr_bad" not in raw


def test_forwarded_headers_are_trusted_only_from_configured_proxies(live_api):
    untrusted = live_api()
    httpx.get(f"{untrusted.url}/healthz", headers={"X-Forwarded-For": "203.0.113.9", "X-Request-Id": "u1"})
    trusted = live_api(env={"COFFER_TRUSTED_PROXIES": "127.0.0.1/32"})
    httpx.get(f"{trusted.url}/healthz", headers={"X-Forwarded-For": "203.0.113.9", "X-Request-Id": "t1"})
    untrusted.stop()
    trusted.stop()
    by_id = {rec.get("request_id"): rec for api in (untrusted, trusted) for rec in _log_lines(api)}
    assert by_id["u1"]["client"] == "127.0.0.1"
    assert by_id["t1"]["client"] == "203.0.113.9"


def test_unsafe_proxy_setting_fails_fast_with_one_line(database_url):
    from tests.conftest import run_coffer

    result = run_coffer("serve", "--port", "8999", database_url=database_url, env={"COFFER_TRUSTED_PROXIES": "*"})
    assert result.returncode == 2
    assert "trust X-Forwarded-*" in result.stderr
    assert "Traceback" not in result.stderr
