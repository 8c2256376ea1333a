"""/link and /unlink: a one-time code to type into the game, and removing the link."""

import nextcord

from coffer_bot.client import CofferBot, Reply


class Link(nextcord.ClientCog):
    def __init__(self, bot: CofferBot) -> None:
        self.bot = bot

    @nextcord.slash_command(name="link", description="Get a one-time code to link your Roblox account")
    async def link(self, interaction: nextcord.Interaction) -> None:
        await self.bot.answer(interaction, self._code(interaction.user.id), private=True)

    async def _code(self, discord_user_id: int) -> Reply:
        code = await self.bot.api.create_link_code(discord_user_id)
        expires = int(code.expires_at.timestamp())
        return Reply(
            f"Your link code is **{code.code}**. Type it into the game's link box; it works once and "
            f"expires <t:{expires}:R>. A new /link replaces it. Never share it: whoever types it links "
            "their Roblox account to your Discord account."
        )

    @nextcord.slash_command(name="unlink", description="Unlink your Roblox account from your Discord account")
    async def unlink(self, interaction: nextcord.Interaction) -> None:
        await self.bot.answer(interaction, self._unlink(interaction.user.id), private=True)

    async def _unlink(self, discord_user_id: int) -> Reply:
        if await self.bot.api.unlink(discord_user_id):
            return Reply("Your Roblox account is unlinked. Run /link to link one again.")
        return Reply("Your Discord account was not linked to a Roblox account.")
