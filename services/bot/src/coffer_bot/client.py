"""The Discord client: slash commands from the cogs, and how every command answers in time.

Every command hands its work to ``CofferBot.answer``: if the work is done within
``defer_after_seconds`` (1.5 s by default) the reply is the first response; otherwise the bot
defers (ephemeral when the data is private) well inside Discord's 3-second deadline and edits the
original response when the work is done. Failures (API or database down, a refusal, a bug) become
an ephemeral message and a log line with the interaction id, never "The application did not respond".
"""

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import nextcord

from coffer_bot.api import CofferApi
from coffer_bot.errors import ApiRefused, BotError, Unavailable
from coffer_bot.queries import Reads
from coffer_bot.settings import BotSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reply:
    content: str | None = None
    embed: nextcord.Embed | None = None
    ephemeral: bool = True


def profile_url(user_id: int) -> str:
    return f"https://www.roblox.com/users/{user_id}/profile"


class CofferBot(nextcord.Client):
    def __init__(self, settings: BotSettings, api: CofferApi, reads: Reads) -> None:
        intents = nextcord.Intents.none()
        intents.guilds = True  # slash commands need no privileged intent; the interaction carries the member
        super().__init__(intents=intents, default_guild_ids=settings.guild_ids or None)
        self.settings = settings
        self.api = api
        self.reads = reads
        from coffer_bot.cogs import coins, leaderboard, link, staff

        for cog in (coins.Coins(self), link.Link(self), leaderboard.Leaderboard(self), staff.Staff(self)):
            self.add_cog(cog)

    async def on_ready(self) -> None:
        log.info("connected to Discord", extra={"bot_user_id": str(self.user.id) if self.user else None})

    async def answer(
        self, interaction: nextcord.Interaction, work: Coroutine[Any, Any, Reply], *, private: bool
    ) -> None:
        """Run a command's work and answer the interaction within Discord's deadline."""
        context = {
            "interaction_id": str(interaction.id),
            "command": interaction.application_command.qualified_name if interaction.application_command else None,
            "guild_id": str(interaction.guild_id) if interaction.guild_id else None,
        }
        task = asyncio.ensure_future(work)
        deferred = False
        try:
            done, _ = await asyncio.wait({task}, timeout=self.settings.defer_after_seconds)
            if not done:
                await interaction.response.defer(ephemeral=private)
                deferred = True
            reply = await self._outcome(task, context)
            await self._send(interaction, reply, deferred=deferred, private=private)
        except nextcord.HTTPException as exc:
            # e.g. 40060: Discord delivered this interaction twice and the other delivery answered
            log.warning(
                "Discord refused the response",
                extra={**context, "status": exc.status, "discord_code": exc.code},
            )
            if not task.done():
                await self._outcome(task, context)

    async def _outcome(self, task: asyncio.Future, context: dict[str, Any]) -> Reply:
        try:
            return await task
        except Unavailable as exc:
            log.warning("command failed: %s", exc, extra={**context, "service": exc.service})
            return Reply(exc.user_message())
        except ApiRefused as exc:
            log.info("API refused: %s", exc, extra={**context, "api_code": exc.code})
            return Reply(exc.user_message())
        except BotError as exc:
            log.warning("command failed: %s", exc, extra=context)
            return Reply(exc.user_message())
        except Exception:
            log.exception("command crashed", extra=context)
            return Reply("Something went wrong on coffer's side; the error is logged. Please try again later.")

    async def _send(self, interaction: nextcord.Interaction, reply: Reply, *, deferred: bool, private: bool) -> None:
        embeds = {"embed": reply.embed} if reply.embed else {}
        if not deferred:
            await interaction.response.send_message(reply.content, ephemeral=reply.ephemeral, **embeds)
        elif private or not reply.ephemeral:
            await interaction.edit_original_message(content=reply.content, **embeds)
        else:
            # deferred in public, but this answer (an error) is for the caller only
            await interaction.delete_original_message()
            await interaction.followup.send(reply.content, ephemeral=True, **embeds)

    async def on_application_command_error(self, interaction: nextcord.Interaction, exception: Exception) -> None:
        log.error(
            "command error",
            exc_info=exception,
            extra={"interaction_id": str(interaction.id)},
        )
