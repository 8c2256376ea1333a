"""/coins: the caller's balances in every currency, only for them to see."""

import nextcord

from coffer_bot.client import CofferBot, Reply, profile_url

NOT_LINKED = (
    "Your Discord account is not linked to a Roblox account yet. Run **/link** to get a one-time code, "
    "then type it into the game's link box; after that **/coins** shows your balances."
)


class Coins(nextcord.ClientCog):
    def __init__(self, bot: CofferBot) -> None:
        self.bot = bot

    @nextcord.slash_command(name="coins", description="Your coin balances (only you can see them)")
    async def coins(self, interaction: nextcord.Interaction) -> None:
        await self.bot.answer(interaction, self._balances(interaction.user.id), private=True)

    async def _balances(self, discord_user_id: int) -> Reply:
        user_id = await self.bot.reads.linked_user(discord_user_id)
        if user_id is None:
            return Reply(NOT_LINKED)
        balances = await self.bot.reads.balances(user_id)
        embed = nextcord.Embed(
            title="Your coins",
            description=f"Roblox account [{user_id}]({profile_url(user_id)})",
            colour=nextcord.Colour.gold(),
        )
        for currency, balance in balances.items():
            embed.add_field(name=currency, value=f"{balance:,}", inline=True)
        return Reply(embed=embed)
