"""Links between Discord and Roblox accounts, link codes, and the bot's read-only role (filled in by the bot issue)

Revision ID: 0002_links
Revises: 0001_ledger
"""

from coffer_api.migrations import execute_script

revision = "0002_links"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None

UPGRADE = r"""
SELECT 1;
"""

DOWNGRADE = r"""
SELECT 1;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
