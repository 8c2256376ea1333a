"""The outbox of balance changes published to Roblox MessagingService.

A statement-level trigger on ``entries`` enqueues, in the same database transaction as the money
change, one row per player whose balance changed outside a game server:

- every transaction is enqueued (bot and admin grants, reversals, transfers by other clients) ...
- ... except those a game server already knows about, because it made them itself: transactions
  whose metadata has ``"source": "roblox"`` (the Luau module adds it) and developer-product
  receipts (reason ``receipt:<product id>`` with a ``purchase_id`` in the metadata). The Luau
  module announces those to its own server straight from the API's reply.

The row holds only the user id: the drain task (coffer_api.outbox) reads the player's balances
when it publishes, so several changes to one player coalesce into one message.

Revision ID: 0003_outbox
Revises: 0002_links
"""

from coffer_api.migrations import execute_script

revision = "0003_outbox"
down_revision = "0002_links"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE balance_outbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    attempts int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    last_error text
);
-- the drain's claim query: pending rows in due order
CREATE INDEX balance_outbox_pending ON balance_outbox (next_attempt_at, id) WHERE published_at IS NULL;
CREATE INDEX balance_outbox_created ON balance_outbox (created_at);

-- Once per INSERT statement on entries (coffer_apply inserts player entries in one statement and
-- the issuer's side in another): one join over the statement's new rows, no per-row trigger calls.
CREATE FUNCTION coffer_enqueue_balance_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- LATERAL ... LIMIT 1: always a primary-key lookup per new row, whatever the planner's
    -- statistics say (a transition table has none; a hash join would scan all of accounts)
    INSERT INTO balance_outbox (user_id)
    SELECT DISTINCT a.user_id
    FROM new_entries e
    CROSS JOIN LATERAL (SELECT x.user_id FROM accounts x WHERE x.id = e.account_id LIMIT 1) a
    CROSS JOIN LATERAL (SELECT y.reason, y.metadata FROM transactions y WHERE y.seq = e.transaction_seq LIMIT 1) t
    WHERE e.ord > 0
      AND a.user_id > 0
      AND t.metadata ->> 'source' IS DISTINCT FROM 'roblox'
      AND NOT (t.reason LIKE 'receipt:%' AND t.metadata ? 'purchase_id');
    RETURN NULL;
END $$;

CREATE TRIGGER entries_enqueue_balance_changes AFTER INSERT ON entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION coffer_enqueue_balance_changes();
"""

DOWNGRADE = r"""
DROP TRIGGER entries_enqueue_balance_changes ON entries;
DROP FUNCTION coffer_enqueue_balance_changes();
DROP TABLE balance_outbox;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
