"""Right to erasure: the durable queue of erasure requests and the SQL that rewrites a user id.

- ``erasure_requests``: one row per request (Roblox's RightToErasureRequest webhook, or
  ``coffer erase``). ``notification_id`` is unique, so a re-delivered notification is queued once.
  ``user_id`` is held only while the request is pending: a finished row keeps the notification
  id, the times and the counts of rows changed, never the id (a CHECK enforces it). No pseudonym
  is kept either: with Roblox's NotificationId -> UserId it would re-identify the pseudonym.
- ``receipts_user`` index: the erasure finds a player's receipts without scanning them all.
- ``coffer_mentions`` / ``coffer_erase_text`` / ``coffer_erase_json``: a user id is "mentioned"
  where it stands as a whole run of digits (a JSON number, a digit run inside a string or an
  object key); the erase functions replace every mention with the pseudonym.

The erasure itself is coffer_api.erasure (one database transaction per user).

Revision ID: 0004_erasure
Revises: 0003_outbox
"""

from coffer_api.migrations import execute_script

revision = "0004_erasure"
down_revision = "0003_outbox"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE erasure_requests (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Roblox's NotificationId; NULL for `coffer erase`
    notification_id text CONSTRAINT erasure_requests_notification_id_key UNIQUE
        CONSTRAINT erasure_requests_notification_id_length CHECK (char_length(notification_id) BETWEEN 1 AND 200),
    received_at timestamptz NOT NULL DEFAULT now(),
    -- the Roblox user id to erase; cleared when the request is done
    user_id bigint CONSTRAINT erasure_requests_user_id_positive CHECK (user_id > 0),
    status text NOT NULL DEFAULT 'pending' CONSTRAINT erasure_requests_status_known CHECK (status IN ('pending', 'done')),
    attempts int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- the error's class name only (never a message that could hold the id)
    last_error text,
    completed_at timestamptz,
    -- {"accounts": n, "transactions": n, ...}
    rows_changed jsonb,
    CONSTRAINT erasure_requests_done_forgets_user CHECK ((status = 'done') = (user_id IS NULL)),
    CONSTRAINT erasure_requests_done_completed CHECK ((status = 'done') = (completed_at IS NOT NULL))
);
CREATE INDEX erasure_requests_due ON erasure_requests (next_attempt_at, id) WHERE status = 'pending';

CREATE INDEX receipts_user ON receipts (user_id);

CREATE FUNCTION coffer_mentions(p_text text, p_user_id bigint) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT strpos(p_text, p_user_id::text) > 0
       AND p_text ~ ('(^|[^0-9])' || p_user_id::text || '([^0-9]|$)')
$$;

CREATE FUNCTION coffer_erase_text(p_text text, p_user_id bigint, p_pseudonym bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN coffer_mentions(p_text, p_user_id)
        THEN regexp_replace(p_text, '(^|[^0-9])' || p_user_id::text || '(?=[^0-9]|$)', '\1' || p_pseudonym::text, 'g')
        ELSE p_text END
$$;

CREATE FUNCTION coffer_erase_json(p_doc jsonb, p_user_id bigint, p_pseudonym bigint) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF p_doc IS NULL OR NOT coffer_mentions(p_doc::text, p_user_id) THEN
        RETURN p_doc;
    END IF;
    CASE jsonb_typeof(p_doc)
    WHEN 'object' THEN
        RETURN (SELECT jsonb_object_agg(coffer_erase_text(e.k, p_user_id, p_pseudonym),
                                        coffer_erase_json(e.v, p_user_id, p_pseudonym))
                FROM jsonb_each(p_doc) AS e (k, v));
    WHEN 'array' THEN
        RETURN (SELECT jsonb_agg(coffer_erase_json(e.v, p_user_id, p_pseudonym) ORDER BY e.i)
                FROM jsonb_array_elements(p_doc) WITH ORDINALITY AS e (v, i));
    WHEN 'string' THEN
        RETURN to_jsonb(coffer_erase_text(p_doc #>> '{}', p_user_id, p_pseudonym));
    ELSE
        -- a number whose digits are the id (1234, -1234, 1234.5): the pseudonym replaces it
        RETURN to_jsonb(p_pseudonym);
    END CASE;
END $$;
"""

DOWNGRADE = r"""
DROP FUNCTION coffer_erase_json(jsonb, bigint, bigint);
DROP FUNCTION coffer_erase_text(text, bigint, bigint);
DROP FUNCTION coffer_mentions(text, bigint);
DROP INDEX receipts_user;
DROP TABLE erasure_requests;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
