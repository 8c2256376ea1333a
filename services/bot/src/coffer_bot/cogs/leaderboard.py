"""/leaderboard: the public top 10 of linked players in a currency."""

import nextcord

from coffer_bot.client import CofferBot, Reply, profile_url


class Leaderboard(nextcord.ClientCog):
    def __init__(self, bot: CofferBot) -> None:
        self.bot = bot

    @nextcord.slash_command(name="leaderboard", description="The top 10 linked players")
    async def leaderboard(
        self,
        interaction: nextcord.Interaction,
        currency: str | None = nextcord.SlashOption(
            description="Which currency (default: the server's main one)", required=False, max_length=32
        ),
    ) -> None:
        await self.bot.answer(interaction, self._top(currency or self.bot.settings.default_currency), private=False)

    async def _top(self, currency: str) -> Reply:
        rows = await self.bot.reads.leaderboard(currency)
        if not rows:
            if not await self.bot.reads.currency_exists(currency):
                return Reply(f'There is no currency named "{currency}".')
            return Reply(f"No linked player has any {currency} yet.", ephemeral=False)
        lines = [f"**{r.rank}.** [{r.user_id}]({profile_url(r.user_id)}): {r.balance:,}" for r in rows]
        embed = nextcord.Embed(title=f"Top {currency}", description="\n".join(lines), colour=nextcord.Colour.gold())
        return Reply(embed=embed, ephemeral=False)
