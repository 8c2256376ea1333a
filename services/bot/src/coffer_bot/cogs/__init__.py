"""The slash commands, one cog per domain: coins, link, leaderboard, staff."""
