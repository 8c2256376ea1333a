"""The Discord bot end to end: the real `coffer-bot` process and nextcord client against the fake
Discord, the real API process and a real PostgreSQL (read through the bot's read-only login)."""

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid

import asyncpg
import httpx
import pytest

from tests.bot.conftest import COFFER_BOT, COMMANDS
from tests.bot.fake_discord import (
    ADMINISTRATOR,
    EVERYDAY,
    MANAGE_GUILD,
    CommandHidden,
    FakeDiscord,
    FakeInteraction,
    FakeUser,
    snowflake,
)
from tests.postgres import free_port

PLAYER_COMMANDS = {"coins", "link", "unlink", "leaderboard"}


def member(name: str = "player") -> FakeUser:
    return FakeUser(snowflake(), name)


def staff_member() -> FakeUser:
    return FakeUser(snowflake(), "moderator", permissions=EVERYDAY | MANAGE_GUILD)


async def run(discord: FakeDiscord, name: str, user: FakeUser, options=None, **kwargs) -> FakeInteraction:
    interaction = await discord.invoke(name, user, options, **kwargs)
    await interaction.wait_answered()
    assert interaction.refusals == [], interaction.refusals
    return interaction


async def grant(api, user_id: int, amount: int, currency: str = "coins") -> None:
    response = await api.http.post(
        "/v1/transactions",
        headers={"Idempotency-Key": str(uuid.uuid4())},
        json={"entries": [{"user_id": user_id, "currency": currency, "amount": amount}], "reason": "test setup"},
    )
    assert response.status_code == 201, response.text


async def balance(db, user_id: int, currency: str = "coins") -> int:
    return await db.fetchval("SELECT balance FROM accounts WHERE user_id = $1 AND currency = $2", user_id, currency)


async def test_link_flow_code_confirmed_by_the_game_then_coins_shows_the_balance(discord, start_bot, api, db):
    await start_bot()
    player = member()

    not_linked = await run(discord, "coins", player)
    assert not_linked.ephemeral
    assert "/link" in not_linked.text()

    linking = await run(discord, "link", player)
    assert linking.ephemeral
    code = re.search(r"\*\*([A-Z0-9]{6})\*\*", linking.text()).group(1)

    # the game server confirms the code the player typed in, for the player's Roblox user id
    confirmed = await api.http.post("/v1/links/confirm", json={"code": code, "user_id": 4242})
    assert confirmed.status_code == 200
    assert confirmed.json() == {"discord_user_id": player.id, "user_id": 4242}
    await grant(api, 4242, 250)
    await db.execute("SELECT coffer_add_currency('gems')")
    await grant(api, 4242, 7, "gems")

    coins = await run(discord, "coins", player)
    assert coins.ephemeral
    embed = coins.original()["embeds"][0]
    assert {f["name"]: f["value"] for f in embed["fields"]} == {"coins": "250", "gems": "7"}
    assert "https://www.roblox.com/users/4242/profile" in embed["description"]

    unlinked = await run(discord, "unlink", player)
    assert unlinked.ephemeral
    assert "unlinked" in unlinked.text()
    assert await db.fetchval("SELECT count(*) FROM links") == 0
    assert "/link" in (await run(discord, "coins", player)).text()


async def test_leaderboard_is_a_public_top_ten_of_linked_players_richest_first(discord, start_bot, api, db):
    await start_bot()
    for user_id in range(1, 13):
        await db.execute("INSERT INTO links (discord_user_id, user_id) VALUES ($1, $2)", snowflake(), user_id)
        await grant(api, user_id, user_id * 100)
    await grant(api, 999, 10**6)  # rich but not linked: not listed

    board = await run(discord, "leaderboard", member())
    assert not board.ephemeral
    lines = board.original()["embeds"][0]["description"].splitlines()
    assert lines == [
        f"**{rank}.** [{uid}](https://www.roblox.com/users/{uid}/profile): {uid * 100:,}"
        for rank, uid in enumerate(range(12, 2, -1), start=1)
    ]

    unknown = await run(discord, "leaderboard", member(), {"currency": "gems"})
    assert unknown.ephemeral
    assert 'no currency named "gems"' in unknown.text()


async def test_grant_applies_once_when_the_same_interaction_arrives_twice(discord, start_bot, api, db):
    await start_bot()
    staff, player = staff_member(), member()
    await db.execute("INSERT INTO links (discord_user_id, user_id) VALUES ($1, 77)", player.id)

    granted = await run(discord, "grant", staff, {"amount": 100, "reason": "event winner"}, users={"member": player})
    assert granted.ephemeral
    assert "Gave 100 coins" in granted.text()
    assert "balance is now 100 coins" in granted.text()

    # Discord redelivers the same interaction (e.g. replayed after a gateway resume)
    await discord.invoke(
        "grant",
        staff,
        {"amount": 100, "reason": "event winner"},
        users={"member": player},
        interaction_id=granted.id,
        token=granted.token,
    )
    deadline = time.monotonic() + 15
    while not granted.refusals and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert granted.refusals[0][0] == "callback"
    assert granted.refusals[0][1:] in ((400, 40060), (404, 10062))
    await asyncio.sleep(0.5)

    assert await balance(db, 77) == 100
    rows = await db.fetch(
        "SELECT reason, metadata FROM transactions WHERE metadata->>'interaction_id' = $1", granted.id
    )
    assert len(rows) == 1
    assert rows[0]["reason"] == f"discord grant by {staff.id}: event winner"
    assert json.loads(rows[0]["metadata"])["staff_discord_id"] == staff.id
    assert await db.fetchval("SELECT status FROM idempotency_keys WHERE key = $1", f"discord-interaction:{granted.id}")

    # a new interaction is a new grant; /history shows both
    again = await run(discord, "grant", staff, {"amount": 5, "reason": "bonus"}, users={"member": player})
    assert "balance is now 105 coins" in again.text()
    history = await run(discord, "history", staff, users={"member": player})
    assert history.ephemeral
    lines = history.original()["embeds"][0]["description"].splitlines()
    assert len(lines) == 2
    assert "+5 coins -> 105" in lines[0]
    assert f"discord grant by {staff.id}: bonus" in lines[0]
    assert "+100 coins -> 100" in lines[1]


async def test_revoking_more_than_the_balance_is_refused_and_shows_the_balance(discord, start_bot, api, db):
    await start_bot()
    staff, player = staff_member(), member()
    await db.execute("INSERT INTO links (discord_user_id, user_id) VALUES ($1, 78)", player.id)
    await grant(api, 78, 30)

    refused = await run(discord, "revoke", staff, {"amount": 50, "reason": "cheating"}, users={"member": player})
    assert refused.ephemeral
    assert "has 30 coins, less than 50; nothing was taken" in refused.text()
    assert await balance(db, 78) == 30

    revoked = await run(discord, "revoke", staff, {"amount": 20, "reason": "cheating"}, users={"member": player})
    assert "Took 20 coins" in revoked.text()
    assert await balance(db, 78) == 10

    unlinked = member("stranger")
    not_linked = await run(discord, "grant", staff, {"amount": 1, "reason": "x"}, users={"member": unlinked})
    assert "has not linked a Roblox account" in not_linked.text()


async def test_staff_commands_are_hidden_from_members_without_manage_server(discord, start_bot):
    await start_bot()
    registered = discord.commands[discord.guild_id]
    for name in ("grant", "revoke", "history"):
        assert int(registered[name]["default_member_permissions"]) == MANAGE_GUILD
    for name in PLAYER_COMMANDS:
        assert registered[name]["default_member_permissions"] is None

    player = member()
    assert discord.visible_commands(player) == PLAYER_COMMANDS
    assert discord.visible_commands(staff_member()) == COMMANDS
    assert discord.visible_commands(FakeUser(snowflake(), "owner", permissions=ADMINISTRATOR)) == COMMANDS
    with pytest.raises(CommandHidden):
        await discord.invoke("grant", player, {"amount": 1, "reason": "x"}, users={"member": player})


async def test_api_or_database_down_gives_a_clear_ephemeral_message_and_logs_the_interaction(discord, start_bot):
    bot = await start_bot(
        COFFER_BOT_API_URL=f"http://127.0.0.1:{free_port()}",
        COFFER_BOT_DATABASE_URL=f"postgresql://nobody:secret@127.0.0.1:{free_port()}/coffer",
    )
    player = member()
    link = await run(discord, "link", player)
    assert link.ephemeral
    assert "coffer's API is not reachable" in link.text()
    coins = await run(discord, "coins", player)
    assert coins.ephemeral
    assert "coffer's database is not reachable" in coins.text()
    # a public command's error is still only for the caller
    board = await run(discord, "leaderboard", player)
    assert board.ephemeral
    assert "not reachable" in board.text()

    lines = [json.loads(line) for line in bot.output().splitlines() if line.startswith("{")]
    failed = {line.get("interaction_id"): line for line in lines if line["message"].startswith("command failed")}
    assert failed[link.id]["service"] == "API"
    assert failed[coins.id]["service"] == "database"
    assert board.id in failed
    assert "secret" not in bot.output()
    assert discord.token not in bot.output()


async def test_a_public_command_deferred_before_failing_answers_the_error_only_to_the_caller(discord, start_bot):
    await start_bot(
        COFFER_BOT_DEFER_AFTER_SECONDS="0",
        COFFER_BOT_DATABASE_URL=f"postgresql://nobody:secret@127.0.0.1:{free_port()}/coffer",
    )
    board = await run(discord, "leaderboard", member())
    assert board.deferred
    assert not board.ephemeral
    assert board.original_deleted
    assert [int(f.get("flags") or 0) & 64 for f in board.followups] == [64]
    assert "coffer's database is not reachable" in board.text()


async def test_slow_work_is_deferred_within_the_deadline_then_the_original_is_edited(discord, start_bot, slow_api, db):
    await start_bot(COFFER_BOT_API_URL=await slow_api(4.0))
    staff, player = staff_member(), member()
    await db.execute("INSERT INTO links (discord_user_id, user_id) VALUES ($1, 79)", player.id)

    granted = await run(discord, "grant", staff, {"amount": 3, "reason": "slow day"}, users={"member": player})
    assert granted.deferred
    assert granted.ephemeral
    assert len(granted.edits) == 1
    assert "Gave 3 coins" in granted.text()
    assert await balance(db, 79) == 3


async def test_sigterm_closes_the_gateway_and_exits_0_within_10_seconds(discord, start_bot):
    bot = await start_bot()
    await run(discord, "coins", member())
    assert len(discord.sockets) == 1
    code, took = await bot.terminate()
    assert code == 0, bot.output()
    assert took < 10
    assert discord.sockets == []
    assert "stopped" in bot.output()


def test_missing_token_exits_2_with_one_clear_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("COFFER_")}
    env |= {"COFFER_BOT_API_KEY": "cfr_x", "COFFER_BOT_DATABASE_URL": "postgresql://u@127.0.0.1/db"}
    result = subprocess.run([COFFER_BOT], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "COFFER_BOT_DISCORD_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


async def test_the_bot_database_user_can_read_but_not_write(bot_database_url):
    conn = await asyncpg.connect(bot_database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM links") == 0
        assert await conn.fetchval("SELECT count(*) FROM currencies") >= 1
        for statement in (
            "INSERT INTO links (discord_user_id, user_id) VALUES ('1', 1)",
            "UPDATE accounts SET balance = balance + 1000000",
            "INSERT INTO currencies (name) VALUES ('stolen')",
            "SELECT * FROM link_codes",
            "SELECT * FROM api_keys",
            "SELECT coffer_add_currency('stolen')",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)
    finally:
        await conn.close()


async def test_fake_discord_refuses_late_and_second_acknowledgements(discord):
    """The fake keeps Discord's rules, so the tests above can trust it."""
    late = FakeInteraction(snowflake(), "late-token", "coins", member(), created=time.monotonic() - 3.5)
    twice = FakeInteraction(snowflake(), "twice-token", "coins", member(), created=time.monotonic())
    discord.interactions |= {late.id: late, twice.id: twice}
    async with httpx.AsyncClient(base_url=discord.api_base) as http:
        answer = {"type": 4, "data": {"content": "hi"}}
        response = await http.post(f"/interactions/{late.id}/{late.token}/callback", json=answer)
        assert (response.status_code, response.json()["code"]) == (404, 10062)
        assert (await http.post(f"/interactions/{twice.id}/{twice.token}/callback", json=answer)).status_code == 204
        response = await http.post(f"/interactions/{twice.id}/{twice.token}/callback", json=answer)
        assert (response.status_code, response.json()["code"]) == (400, 40060)
        assert response.headers["content-type"] == "application/json"
        me = await http.get("/users/@me", headers={"Authorization": "Bot wrong"})
        assert me.status_code == 401


@pytest.mark.parametrize("value", ["not-a-url", "ftp://discord"])
def test_bad_settings_exit_2_with_one_line(tmp_path, value):
    env = {k: v for k, v in os.environ.items() if not k.startswith("COFFER_")}
    env |= {"COFFER_BOT_DISCORD_API_BASE": value}
    result = subprocess.run(
        [sys.executable, "-m", "coffer_bot.main"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.startswith("coffer-bot: COFFER_BOT_DISCORD_API_BASE is invalid")
    assert result.stderr.count("\n") == 1


async def test_a_token_discord_refuses_exits_2_without_retrying(discord, start_bot):
    bot = await start_bot(wait=False, COFFER_BOT_DISCORD_TOKEN="not-the-token")
    assert await asyncio.wait_for(bot.process.wait(), 30) == 2
    assert "Discord refused the token" in bot.output()
    assert discord.requests.count(("GET", "/api/v10/users/@me")) == 1
    assert "not-the-token" not in bot.output()
