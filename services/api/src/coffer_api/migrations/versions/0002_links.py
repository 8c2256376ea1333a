"""Links between Discord and Roblox accounts, one-time link codes, failed-confirmation counters,
and the bot's read-only role.

- ``links``: one Discord account <-> one Roblox account (both sides unique); relinking replaces.
- ``link_codes``: only ``sha256(code)`` is stored; a code is valid 10 minutes and used once.
- ``link_attempts``: failed confirmations per API key and Roblox user in 10-minute windows, so a
  game server (or a player typing codes) cannot guess codes (see coffer_api.links).
- ``coffer_bot_read``: NOLOGIN role with SELECT on exactly what the bot reads (currencies,
  accounts, links). Roles are cluster-wide, so it is created only when missing; the grants are
  per database. The bot's login user is made by an operator: docs/bot.md.

Revision ID: 0002_links
Revises: 0001_ledger
"""

from coffer_api.migrations import execute_script

revision = "0002_links"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE links (
    discord_user_id text PRIMARY KEY CONSTRAINT links_discord_user_id_format CHECK (discord_user_id ~ '^[0-9]{1,20}$'),
    user_id bigint NOT NULL CONSTRAINT links_user_id_key UNIQUE CONSTRAINT links_user_id_nonzero CHECK (user_id <> 0),
    linked_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE link_codes (
    code_hash bytea PRIMARY KEY,
    discord_user_id text NOT NULL CONSTRAINT link_codes_discord_user_id_format CHECK (discord_user_id ~ '^[0-9]{1,20}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    -- the Roblox user who used the code (NULL until used)
    user_id bigint
);
CREATE INDEX link_codes_discord_user ON link_codes (discord_user_id);
CREATE INDEX link_codes_expires ON link_codes (expires_at);

CREATE TABLE link_attempts (
    api_key_id text NOT NULL,
    user_id bigint NOT NULL,
    window_start timestamptz NOT NULL,
    failures int NOT NULL,
    PRIMARY KEY (api_key_id, window_start, user_id)
);

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'coffer_bot_read') THEN
        CREATE ROLE coffer_bot_read NOLOGIN;
    END IF;
EXCEPTION
    -- another database of the same cluster created it at the same moment
    WHEN duplicate_object OR unique_violation THEN NULL;
END $$;

GRANT SELECT ON currencies, accounts, links TO coffer_bot_read;
"""

DOWNGRADE = r"""
-- the role is cluster-wide and may serve other databases: only this database's grants go
REVOKE ALL ON currencies, accounts FROM coffer_bot_read;
DROP TABLE link_attempts, link_codes, links;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
