"""The ``coffer-bot`` entry point: settings, pools and the Discord connection, and a clean stop.

Run with ``asyncio.run`` (not ``Client.run``, which cancels every task at shutdown). SIGTERM (how
ECS stops a task) or SIGINT closes the gateway connection, the HTTP client and the database pool,
and the process exits 0 within 10 seconds. Missing or invalid settings: one line on stderr and exit
code 2; a token Discord refuses: exit 2; the gateway lost for good: exit 1.
"""

import asyncio
import contextlib
import logging
import signal
import sys

import asyncpg
import nextcord
from pydantic import ValidationError

from coffer_bot.api import CofferApi
from coffer_bot.client import CofferBot
from coffer_bot.logs import configure_logging
from coffer_bot.queries import Reads
from coffer_bot.settings import BotSettings

log = logging.getLogger("coffer_bot")

CLOSE_TIMEOUT = 5.0


async def run(settings: BotSettings) -> int:
    """Run the bot until SIGTERM/SIGINT (0) or until the Discord connection fails for good (1)."""
    assert settings.discord_token
    assert settings.api_key
    assert settings.database_url
    nextcord.http.Route.BASE = settings.discord_api_base
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    # min_size=0: no connection until the first command, so a database outage does not stop start-up
    pool = await asyncpg.create_pool(
        settings.database_url.get_secret_value(),
        min_size=0,
        max_size=settings.db_pool_max_size,
        timeout=settings.db_timeout_seconds,
        command_timeout=settings.db_timeout_seconds,
        server_settings={"application_name": "coffer-bot", "default_transaction_read_only": "on"},
    )
    api = CofferApi(settings.api_url, settings.api_key.get_secret_value(), settings.api_timeout_seconds)
    bot = CofferBot(settings, api, Reads(pool, settings.db_timeout_seconds))
    runner = asyncio.create_task(bot.start(settings.discord_token.get_secret_value()), name="discord")
    stopping = asyncio.create_task(stop.wait(), name="signals")
    code = 0
    try:
        done, _ = await asyncio.wait({runner, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if runner in done:
            code = 1
            error = runner.exception()
            if isinstance(error, nextcord.LoginFailure):
                # a configuration error, like a missing token: restarting will not help
                code = 2
                log.error("Discord refused the token (COFFER_BOT_DISCORD_TOKEN); reset it in the Developer Portal")
            elif error is not None:
                log.error("the Discord connection failed", exc_info=error)
            else:
                log.error("the Discord connection closed")
        else:
            log.info("stopping: closing the Discord connection and the pools")
    finally:
        stopping.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(bot.close(), CLOSE_TIMEOUT)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await api.aclose()
        try:
            await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT)
        except TimeoutError:
            pool.terminate()
        log.info("stopped")
    return code


def main() -> None:
    try:
        settings = BotSettings()
    except ValidationError as exc:
        error = exc.errors()[0]
        name = "COFFER_BOT_" + "_".join(str(part) for part in error["loc"][:1]).upper()
        sys.stderr.write(f"coffer-bot: {name} is invalid: {error['msg']}\n")
        sys.exit(2)
    missing = settings.missing()
    if missing:
        sys.stderr.write(f"coffer-bot: {', '.join(missing)} must be set (see docs/bot.md)\n")
        sys.exit(2)
    configure_logging(settings.log_level)
    sys.exit(asyncio.run(run(settings)))


if __name__ == "__main__":
    main()
