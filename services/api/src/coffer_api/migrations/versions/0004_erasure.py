"""Right-to-erasure: the durable queue of erasure requests (filled in by the compliance issue)

Revision ID: 0004_erasure
Revises: 0003_outbox
"""

from coffer_api.migrations import execute_script

revision = "0004_erasure"
down_revision = "0003_outbox"
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
