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


def test_a_port_in_use_is_one_clear_line(live_api):
    from tests.conftest import run_coffer

    api = live_api()
    result = run_coffer("serve", "--port", str(api.port), "--workers", "2", database_url=api.database_url, timeout=60)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{api.port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_each_worker_gets_its_own_listening_socket_so_connections_spread(live_api):
    """SO_REUSEPORT: 40 keep-alive connections land on both workers, not all on whichever woke first."""
    import socket

    api = live_api(workers=2)
    clients = [socket.create_connection(("127.0.0.1", api.port)) for _ in range(40)]
    try:
        pids = set()
        for client in clients:
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            client.recv(4096)
        import subprocess

        out = subprocess.run(
            ["ss", "-tnpH", "state", "established", f"( sport = :{api.port} )"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for line in out.splitlines():
            if "pid=" in line:
                pids.add(line.split("pid=")[1].split(",")[0])
        assert len(pids) == 2, out
    finally:
        for client in clients:
            client.close()
