"""Linking Discord and Roblox accounts through the API: codes, confirmation, brute-force limits."""

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from coffer_api import links

CODE = re.compile(r"^[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{6}$")


async def new_code(client, auth, discord_user_id: str = "111") -> str:
    response = await client.post("/v1/links/codes", json={"discord_user_id": discord_user_id}, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()["code"]


async def confirm(client, auth, code: str, user_id: int):
    return await client.post("/v1/links/confirm", json={"code": code, "user_id": user_id}, headers=auth)


async def test_code_is_six_unambiguous_characters_valid_ten_minutes_and_stored_hashed(client, auth, db):
    response = await client.post("/v1/links/codes", json={"discord_user_id": "123456789012345678"}, headers=auth)
    assert response.status_code == 201
    body = response.json()
    assert CODE.match(body["code"])
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(minutes=9) < expires - datetime.now(UTC) <= timedelta(minutes=10, seconds=5)
    rows = await db.fetch("SELECT code_hash, discord_user_id FROM link_codes")
    assert [bytes(r["code_hash"]) for r in rows] == [hashlib.sha256(body["code"].encode()).digest()]
    stored = await db.fetchval("SELECT string_agg(t::text, ' ') FROM link_codes t")
    assert body["code"] not in stored


async def test_confirm_links_the_accounts_and_the_code_works_once(client, auth, db):
    code = await new_code(client, auth, "111")
    response = await confirm(client, auth, code.lower(), 42)
    assert response.status_code == 200
    assert response.json() == {"discord_user_id": "111", "user_id": 42}
    link = await client.get("/v1/links/discord/111", headers=auth)
    assert link.status_code == 200
    assert link.json()["user_id"] == 42

    # a retry of the same confirmation gets the same answer; another player cannot use the code
    assert (await confirm(client, auth, code, 42)).json() == {"discord_user_id": "111", "user_id": 42}
    reused = await confirm(client, auth, code, 43)
    assert reused.status_code == 404
    assert reused.json()["code"] == "link_code_invalid"
    assert await db.fetchval("SELECT user_id FROM links WHERE discord_user_id = '111'") == 42


async def test_unknown_and_expired_codes_are_refused(client, auth, db):
    unknown = await confirm(client, auth, "ZZZZZZ", 42)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["code"] == "link_code_invalid"

    code = await new_code(client, auth, "111")
    await db.execute("UPDATE link_codes SET expires_at = now() - interval '1 second'")
    expired = await confirm(client, auth, code, 42)
    assert expired.status_code == 404
    assert expired.json()["code"] == "link_code_invalid"
    assert await db.fetchval("SELECT count(*) FROM links") == 0


async def test_a_new_code_replaces_the_unused_one(client, auth):
    first = await new_code(client, auth, "111")
    second = await new_code(client, auth, "111")
    assert (await confirm(client, auth, first, 42)).status_code == 404
    assert (await confirm(client, auth, second, 42)).status_code == 200


async def test_relinking_replaces_the_link_on_both_sides(client, auth, db):
    assert (await confirm(client, auth, await new_code(client, auth, "111"), 42)).status_code == 200
    # the same Discord user links another Roblox account
    assert (await confirm(client, auth, await new_code(client, auth, "111"), 43)).status_code == 200
    # another Discord user links Roblox account 43
    assert (await confirm(client, auth, await new_code(client, auth, "222"), 43)).status_code == 200
    rows = await db.fetch("SELECT discord_user_id, user_id FROM links ORDER BY discord_user_id")
    assert [tuple(r) for r in rows] == [("222", 43)]


async def test_wrong_codes_for_one_player_are_limited_with_retry_after(client, auth):
    code = await new_code(client, auth, "111")
    for _ in range(links.MAX_FAILURES_PER_USER):
        assert (await confirm(client, auth, "AAAAAA", 42)).status_code == 404
    limited = await confirm(client, auth, code, 42)  # even the right code is not tried now
    assert limited.status_code == 429
    assert limited.json()["code"] == "link_attempts_exceeded"
    assert 1 <= int(limited.headers["retry-after"]) <= 600
    # another player of the same game server is not affected
    assert (await confirm(client, auth, code, 43)).status_code == 200


async def test_wrong_codes_across_players_are_limited_per_api_key(client, auth, make_key, db):
    key_id = await db.fetchval("SELECT id FROM api_keys LIMIT 1")
    await db.execute(
        """
        INSERT INTO link_attempts (api_key_id, user_id, window_start, failures)
        VALUES ($1, 7, to_timestamp(floor(extract(epoch FROM now()) / 600) * 600), $2)
        """,
        key_id,
        links.MAX_FAILURES_PER_KEY,
    )
    limited = await confirm(client, auth, "AAAAAA", 99)
    assert limited.status_code == 429
    other_key = {"Authorization": f"Bearer {await make_key('read,write')}"}
    assert (await confirm(client, other_key, "AAAAAA", 99)).status_code == 404


async def test_unlink_and_reading_a_missing_link(client, auth, db):
    assert (await confirm(client, auth, await new_code(client, auth, "111"), 42)).status_code == 200
    assert (await client.delete("/v1/links/discord/111", headers=auth)).status_code == 204
    missing = await client.get("/v1/links/discord/111", headers=auth)
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    assert (await client.delete("/v1/links/discord/111", headers=auth)).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/links/codes", {"discord_user_id": "not-a-snowflake"}),
        ("POST", "/v1/links/codes", {"discord_user_id": "1", "extra": 1}),
        ("POST", "/v1/links/confirm", {"code": "ABCDEF", "user_id": 0}),
        ("POST", "/v1/links/confirm", {"code": "A" * 33, "user_id": 1}),
        ("GET", "/v1/links/discord/abc", None),
    ],
)
async def test_bad_input_is_a_validation_error(client, auth, method, path, body):
    response = await client.request(method, path, json=body, headers=auth)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_scopes_are_enforced(client, make_key):
    read_only = {"Authorization": f"Bearer {await make_key('read')}"}
    response = await client.post("/v1/links/codes", json={"discord_user_id": "1"}, headers=read_only)
    assert response.status_code == 403
    assert (await client.post("/v1/links/confirm", json={"code": "ABCDEF", "user_id": 1})).status_code == 401


async def test_bot_read_role_can_read_links_balances_and_currencies_only(db):
    granted = await db.fetch(
        """
        SELECT table_name, privilege_type FROM information_schema.role_table_grants
        WHERE grantee = 'coffer_bot_read' AND table_catalog = current_database() ORDER BY table_name
        """
    )
    assert [tuple(r) for r in granted] == [("accounts", "SELECT"), ("currencies", "SELECT"), ("links", "SELECT")]
    assert await db.fetchval("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'coffer_bot_read'") is False
