"""The `coffer` operator CLI, run as a user runs it."""

import asyncpg
import pytest

from tests.conftest import run_coffer


def test_keys_create_prints_only_the_key(database_url):
    result = run_coffer("keys", "create", "--name", "game", "--scopes", "read,write", database_url=database_url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("cfr_")


async def test_created_key_authenticates(database_url, client):
    token = run_coffer("keys", "create", "--name", "g", "--scopes", "read", database_url=database_url).stdout.strip()
    r = await client.get("/v1/players/1/balances", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200


def test_keys_list_shows_names_and_scopes_never_secrets(database_url):
    token = run_coffer("keys", "create", "--name", "bot", "--scopes", "write", database_url=database_url).stdout
    run_coffer("keys", "revoke", "bot", database_url=database_url)
    listing = run_coffer("keys", "list", database_url=database_url)
    assert listing.returncode == 0
    assert "bot" in listing.stdout
    assert "scopes=write" in listing.stdout
    assert "revoked" in listing.stdout
    assert token.strip() not in listing.stdout
    assert token.strip().rsplit("_", 1)[1] not in listing.stdout


def test_revoked_name_can_be_reused_but_active_names_are_unique(database_url):
    args = ("keys", "create", "--name", "dup", "--scopes", "read")
    assert run_coffer(*args, database_url=database_url).returncode == 0
    again = run_coffer(*args, database_url=database_url)
    assert again.returncode == 1
    assert "revoke it or pick another name" in again.stderr
    assert run_coffer("keys", "revoke", "dup", database_url=database_url).returncode == 0
    assert run_coffer(*args, database_url=database_url).returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("keys", "create", "--name", "x", "--scopes", "root"), "unknown: root"),
        (("keys", "create", "--name", "x", "--scopes", ""), "scopes must be"),
        (("keys", "create", "--scopes", "read"), "--name"),
        (("keys", "create", "--name", "", "--scopes", "read"), "key name"),
        (("currencies", "add", "Gems!"), "currency name"),
        (("currencies", "add", "a" * 33), "currency name"),
        (("serve", "--port", "99999"), "port"),
        (("serve", "--workers", "0"), "workers"),
        (("teleport",), "invalid choice"),
        ((), "required"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(database_url, args, message):
    result = run_coffer(*args, database_url=database_url)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_revoking_an_unknown_key_is_a_clear_error(database_url):
    result = run_coffer("keys", "revoke", "ghost", database_url=database_url)
    assert result.returncode == 1
    assert "no active key named 'ghost'" in result.stderr


def test_currencies_add_and_list(database_url):
    assert run_coffer("currencies", "add", "gems", database_url=database_url).returncode == 0
    duplicate = run_coffer("currencies", "add", "gems", database_url=database_url)
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stderr
    assert run_coffer("currencies", "list", database_url=database_url).stdout.split() == ["coins", "gems"]


def test_missing_database_url_says_what_to_set(database_url):
    result = run_coffer("audit", database_url="", env={"DATABASE_URL": "", "COFFER_DATABASE_URL": ""})
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_is_one_line_without_the_password(database_url):
    result = run_coffer("audit", database_url="postgresql://coffer:hunter2@127.0.0.1:1/coffer")
    assert result.returncode == 1
    assert "cannot connect" in result.stderr
    assert "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr


def test_non_postgres_url_is_rejected(database_url):
    result = run_coffer("audit", database_url="mysql://x@y/z")
    assert result.returncode == 2
    assert "postgresql://" in result.stderr


def test_db_upgrade_is_idempotent(database_url):
    result = run_coffer("db", "upgrade", database_url=database_url)
    assert result.returncode == 0, result.stderr
    assert "latest schema" in result.stdout


def test_db_upgrade_on_unreachable_database_fails_cleanly():
    result = run_coffer("db", "upgrade", database_url="postgresql://coffer:hunter2@127.0.0.1:1/coffer")
    assert result.returncode == 1
    assert "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr


async def test_audit_passes_on_a_healthy_ledger(database_url, client, auth):
    for amount in (100, -30, 5):
        await client.post(
            "/v1/transactions",
            headers={**auth, "Idempotency-Key": f"a{amount}"},
            json={"entries": [{"user_id": 1, "currency": "coins", "amount": amount}], "reason": "x"},
        )
    result = run_coffer("audit", database_url=database_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("audit ok: 3 transactions, 1 player accounts")


async def test_audit_names_the_accounts_that_are_off(database_url, client, auth):
    await client.post(
        "/v1/transactions",
        headers={**auth, "Idempotency-Key": "a"},
        json={"entries": [{"user_id": 77, "currency": "coins", "amount": 10}], "reason": "x"},
    )
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE accounts SET balance = balance + 5 WHERE user_id = 77")
    finally:
        await conn.close()
    result = run_coffer("audit", database_url=database_url)
    assert result.returncode == 1
    assert "user 77" in result.stdout
    assert "balance 15 but entries sum to 10" in result.stdout
    assert "currency coins: all balances sum to 5, not 0" in result.stdout
    assert "audit FAILED" in result.stderr


def test_audit_on_an_unmigrated_database_says_to_upgrade(server_url):
    result = run_coffer("audit", database_url=server_url)
    assert result.returncode == 1
    assert "coffer db upgrade" in result.stderr
