"""The outbox of balance changes published to Roblox MessagingService (filled in by the Luau client issue)

Revision ID: 0003_outbox
Revises: 0002_links
"""

from coffer_api.migrations import execute_script

revision = "0003_outbox"
down_revision = "0002_links"
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
