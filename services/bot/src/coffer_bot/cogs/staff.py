"""Staff commands: /grant, /revoke and /history.

Discord hides them from members without Manage Server (``default_member_permissions``); server
owners can give them to other roles in Server Settings -> Integrations. Each grant or revoke is
one API transaction whose Idempotency-Key is derived from the interaction id, so a redelivered
interaction is applied once; its reason and metadata record the staff member's Discord id.
"""

import nextcord

from coffer_bot.client import CofferBot, Reply, profile_url
from coffer_bot.errors import ApiRefused

STAFF = nextcord.Permissions(manage_guild=True)
GUILD_ONLY = [nextcord.InteractionContextType.guild]
MAX_AMOUNT = 10**15


CURRENCY_HELP = "Which currency (default: the server's main one)"


class Staff(nextcord.ClientCog):
    def __init__(self, bot: CofferBot) -> None:
        self.bot = bot

    @nextcord.slash_command(
        name="grant", description="Give coins to a member", default_member_permissions=STAFF, contexts=GUILD_ONLY
    )
    async def grant(
        self,
        interaction: nextcord.Interaction,
        member: nextcord.Member = nextcord.SlashOption(description="Who gets the coins", required=True),  # noqa: B008
        amount: int = nextcord.SlashOption(description="How many", min_value=1, max_value=MAX_AMOUNT),
        reason: str = nextcord.SlashOption(description="Why (kept in the ledger)", min_length=1, max_length=150),
        currency: str | None = nextcord.SlashOption(description=CURRENCY_HELP, required=False, max_length=32),
    ) -> None:
        work = self._change(interaction, member, amount, currency, reason, revoke=False)
        await self.bot.answer(interaction, work, private=True)

    @nextcord.slash_command(
        name="revoke", description="Take coins from a member", default_member_permissions=STAFF, contexts=GUILD_ONLY
    )
    async def revoke(
        self,
        interaction: nextcord.Interaction,
        member: nextcord.Member = nextcord.SlashOption(description="Whose coins", required=True),  # noqa: B008
        amount: int = nextcord.SlashOption(description="How many", min_value=1, max_value=MAX_AMOUNT),
        reason: str = nextcord.SlashOption(description="Why (kept in the ledger)", min_length=1, max_length=150),
        currency: str | None = nextcord.SlashOption(description=CURRENCY_HELP, required=False, max_length=32),
    ) -> None:
        work = self._change(interaction, member, amount, currency, reason, revoke=True)
        await self.bot.answer(interaction, work, private=True)

    async def _change(
        self,
        interaction: nextcord.Interaction,
        member: nextcord.abc.Snowflake,
        amount: int,
        currency: str | None,
        reason: str,
        *,
        revoke: bool,
    ) -> Reply:
        currency = currency or self.bot.settings.default_currency
        user_id = await self.bot.reads.linked_user(member.id)
        if user_id is None:
            return Reply(f"<@{member.id}> has not linked a Roblox account; they can run /link first.")
        staff_id = interaction.user.id
        verb = "revoke" if revoke else "grant"
        try:
            posted = await self.bot.api.post_change(
                idempotency_key=f"discord-interaction:{interaction.id}",
                user_id=user_id,
                currency=currency,
                amount=-amount if revoke else amount,
                reason=f"discord {verb} by {staff_id}: {reason}"[:200],
                metadata={
                    "source": "discord",
                    "staff_discord_id": str(staff_id),
                    "member_discord_id": str(member.id),
                    "guild_id": str(interaction.guild_id),
                    "interaction_id": str(interaction.id),
                },
            )
        except ApiRefused as exc:
            if exc.code == "insufficient_funds":
                return Reply(
                    f"Refused: <@{member.id}> has {exc.body.get('balance', 0):,} {currency}, less than "
                    f"{amount:,}; nothing was taken."
                )
            raise
        done = f"Took {amount:,} {currency} from" if revoke else f"Gave {amount:,} {currency} to"
        note = " (this interaction had already been applied; nothing changed twice)" if posted.replayed else ""
        return Reply(
            f"{done} <@{member.id}> (Roblox [{user_id}]({profile_url(user_id)})). "
            f"Their balance is now {posted.balance_after:,} {currency}.{note}"
        )

    @nextcord.slash_command(
        name="history",
        description="A member's latest transactions",
        default_member_permissions=STAFF,
        contexts=GUILD_ONLY,
    )
    async def history(
        self,
        interaction: nextcord.Interaction,
        member: nextcord.Member = nextcord.SlashOption(description="Whose history", required=True),  # noqa: B008
    ) -> None:
        await self.bot.answer(interaction, self._history(member), private=True)

    async def _history(self, member: nextcord.abc.Snowflake) -> Reply:
        user_id = await self.bot.reads.linked_user(member.id)
        if user_id is None:
            return Reply(f"<@{member.id}> has not linked a Roblox account.")
        items = await self.bot.api.history(user_id, limit=10)
        if not items:
            return Reply(f"<@{member.id}> (Roblox {user_id}) has no transactions yet.")
        lines = [
            f"<t:{int(i.created_at.timestamp())}:d> {i.amount:+,} {i.currency} -> {i.balance_after:,} · {i.reason}"
            for i in items
        ]
        embed = nextcord.Embed(title=f"Latest transactions of Roblox {user_id}", description="\n".join(lines)[:4000])
        return Reply(embed=embed)
