"""Bot fixtures: the fake Discord, the real API process, a read-only database login, and the real
``coffer-bot`` process wired to all three."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from aiohttp import ClientSession, web

from tests.bot.fake_discord import FakeDiscord
from tests.postgres import free_port

COMMANDS = {"coins", "link", "unlink", "leaderboard", "grant", "revoke", "history"}
COFFER_BOT = str(Path(sys.executable).with_name("coffer-bot"))


@pytest.fixture
async def discord() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def bot_database_url(database_url: str, db: asyncpg.Connection) -> AsyncIterator[str]:
    """A login user granted only coffer_bot_read, as docs/bot.md tells operators to create."""
    role = f"coffer_bot_{uuid.uuid4().hex[:10]}"
    await db.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'test-only'; GRANT coffer_bot_read TO {role}")
    parts = urlsplit(database_url)
    host = parts.netloc.rpartition("@")[2]
    yield urlunsplit(parts._replace(netloc=f"{role}:test-only@{host}"))
    await db.execute(f"DROP ROLE {role}")


@dataclass
class Api:
    url: str
    http: httpx.AsyncClient


@pytest.fixture
async def api(live_api, make_key) -> AsyncIterator[Api]:
    """The real API process, and a client of it with a read,write key (as a game server has)."""
    live = live_api()
    key = await make_key("read,write", name="game-server")
    async with httpx.AsyncClient(base_url=live.url, headers={"Authorization": f"Bearer {key}"}) as client:
        yield Api(live.url, client)


@dataclass
class BotProcess:
    process: asyncio.subprocess.Process
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def terminate(self, timeout: float = 10) -> tuple[int, float]:
        """SIGTERM, as ECS sends it: the exit code and the seconds it took."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), timeout)
        return code, time.monotonic() - started


@pytest.fixture
async def start_bot(discord: FakeDiscord, api, make_key, bot_database_url, tmp_path) -> AsyncIterator[Callable]:
    """start_bot(**env) -> the real `coffer-bot` process, connected and with its commands registered."""
    started: list[BotProcess] = []
    bot_key = await make_key("read,write", name="discord-bot")

    async def start(wait: bool = True, **env: str) -> BotProcess:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("COFFER_", "DATABASE_URL"))}
        full_env |= {
            "COFFER_BOT_DISCORD_TOKEN": discord.token,
            "COFFER_BOT_DISCORD_API_BASE": discord.api_base,
            "COFFER_BOT_GUILD_IDS": discord.guild_id,
            "COFFER_BOT_API_URL": api.url,
            "COFFER_BOT_API_KEY": bot_key,
            "COFFER_BOT_DATABASE_URL": bot_database_url,
            **env,
        }
        log = tmp_path / f"coffer-bot-{len(started)}.log"
        with log.open("w") as out:
            process = await asyncio.create_subprocess_exec(
                COFFER_BOT, stdout=out, stderr=asyncio.subprocess.STDOUT, env=full_env, cwd=tmp_path
            )
        bot = BotProcess(process, log)
        started.append(bot)
        if wait:
            try:
                await discord.wait_commands(COMMANDS)
            except TimeoutError as exc:
                raise AssertionError(f"the bot did not register its commands:\n{bot.output()}") from exc
        return bot

    yield start
    for bot in started:
        if bot.process.returncode is None:
            bot.process.kill()
            await bot.process.wait()


@pytest.fixture
async def slow_api(api) -> AsyncIterator[Callable[[float], str]]:
    """slow_api(delay) -> the URL of a proxy that holds every request `delay` seconds before the API."""
    runners: list[web.AppRunner] = []
    session = ClientSession()

    async def make(delay: float) -> str:
        async def forward(request: web.Request) -> web.Response:
            await asyncio.sleep(delay)
            headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
            async with session.request(
                request.method, f"{api.url}{request.path_qs}", headers=headers, data=await request.read()
            ) as upstream:
                body = await upstream.read()
                keep = ("content-type", "idempotent-replayed", "retry-after")
                return web.Response(
                    body=body,
                    status=upstream.status,
                    headers={k: v for k, v in upstream.headers.items() if k.lower() in keep},
                )

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", forward)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        return f"http://127.0.0.1:{port}"

    yield make
    for runner in runners:
        await runner.cleanup()
    await session.close()
