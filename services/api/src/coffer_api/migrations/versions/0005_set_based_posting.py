"""Set-based posting: a batch of new transactions is applied in a handful of statements.

``coffer_post_batch`` (0001) applied every transaction on its own: a sub-transaction, the
idempotency row inserted then updated, and ``coffer_transaction_json`` (a SQL function planned
again on every call) per item, about 1.2 ms of database time each. This revision replaces it with
a fast path for the common case and keeps the per-item loop for everything else.

Fast path, when every item has a key that is new, no item is a reversal, every currency exists,
no item names an account twice, and every balance stays within [0, 2^53 - 1] at every step when
the items are applied in request order (checked with a running sum per account, after the accounts
are locked, so no concurrent writer can change the answer):

1. one UPDATE sets each touched account to its final balance;
2. one INSERT writes the transactions (sequence numbers taken in request order);
3. one INSERT writes every entry, the issuer's side included, with its balance after;
4. the reply bodies are built from values in hand (the same JSON as ``coffer_transaction_json``);
5. one INSERT stores the idempotency keys with their replies, in key order. If a concurrent
   request took one of the keys since the check, the statement fails with serialization_failure
   and the API retries it, which then takes the per-item path and replays the stored reply.

Anything else (replays, reused keys, unknown currencies, insufficient funds, overflow, reversals)
takes the per-item path of 0001 unchanged, so every reply is what it was.

``coffer_transaction_json`` becomes PL/pgSQL (same output) so its plan is cached per connection.

Revision ID: 0005_set_based_posting
Revises: 0004_erasure
"""

from coffer_api.migrations import execute_script

revision = "0005_set_based_posting"
down_revision = "0004_erasure"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE OR REPLACE FUNCTION coffer_transaction_json(p_seq bigint) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT jsonb_build_object(
            'id', t.id,
            'created_at', t.created_at,
            'reason', t.reason,
            'metadata', t.metadata,
            'entries', (
                SELECT coalesce(jsonb_agg(jsonb_build_object(
                    'user_id', a.user_id, 'currency', a.currency,
                    'amount', e.amount, 'balance_after', e.balance_after) ORDER BY e.ord), '[]'::jsonb)
                FROM entries e JOIN accounts a ON a.id = e.account_id
                WHERE e.transaction_seq = t.seq AND e.ord > 0),
            'reverses', (SELECT r.id FROM transactions r WHERE r.seq = t.reverses))
        FROM transactions t WHERE t.seq = p_seq);
END $$;

CREATE OR REPLACE FUNCTION coffer_post_batch(
    p_keys text[], p_hashes bytea[], p_reasons text[], p_metadata text[], p_reverses bigint[],
    p_starts int[], p_counts int[],
    p_users bigint[], p_currencies text[], p_amounts bigint[]
) RETURNS TABLE (status int, body jsonb, replayed boolean) LANGUAGE plpgsql AS $$
DECLARE
    n int := coalesce(cardinality(p_keys), 0);
    m int := coalesce(cardinality(p_users), 0);
    i int;
    s int;
    e int;
    v_fast boolean := false;
    v_item int[];
    v_account bigint[];
    v_after numeric[];
    v_seqs bigint[];
    v_ids uuid[];
    v_created timestamptz[];
    v_bodies jsonb[];
    v_inserted int;
BEGIN
    PERFORM coffer_lock_accounts(p_users, p_currencies);

    IF n > 0 AND m > 0
       AND array_position(p_keys, NULL) IS NULL
       AND NOT EXISTS (SELECT 1 FROM unnest(p_reverses) AS r WHERE r IS NOT NULL)
       AND (SELECT count(DISTINCT k) FROM unnest(p_keys) AS k) = n
       AND NOT EXISTS (SELECT 1 FROM idempotency_keys WHERE key = ANY (p_keys))
    THEN
        -- entry j (1..m) belongs to item v_item[j], moves account v_account[j], which then holds v_after[j]
        SELECT array_agg(r.item ORDER BY r.j), array_agg(r.account ORDER BY r.j), array_agg(r.after ORDER BY r.j),
               count(*) = m AND count(DISTINCT r.j) = m AND min(r.j) = 1 AND max(r.j) = m
               AND count(DISTINCT (r.item, r.account)) = m
               AND bool_and(r.after BETWEEN 0 AND 9007199254740991)
        INTO v_item, v_account, v_after, v_fast
        FROM (
            SELECT x.j, x.item, a.id AS account,
                   a.balance + sum(p_amounts[x.j]) OVER (PARTITION BY a.id ORDER BY x.j) AS after
            FROM (SELECT it.i AS item, g.j
                  FROM generate_series(1, n) AS it (i),
                       generate_series(p_starts[it.i], p_starts[it.i] + p_counts[it.i] - 1) AS g (j)) x
            -- an index lookup per entry whatever the statistics (LIMIT 1 keeps it a nested loop)
            CROSS JOIN LATERAL (SELECT y.id, y.balance FROM accounts y
                                WHERE y.user_id = p_users[x.j] AND y.currency = p_currencies[x.j] LIMIT 1) a
        ) r;
    END IF;

    IF coalesce(v_fast, false) THEN
        v_seqs := ARRAY(SELECT nextval(pg_get_serial_sequence('transactions', 'seq'))
                        FROM generate_series(1, n) ORDER BY 1);

        FOR i IN SELECT DISTINCT ON (u.account) u.j::int
                 FROM unnest(v_account) WITH ORDINALITY AS u (account, j)
                 ORDER BY u.account, u.j DESC LOOP
            UPDATE accounts SET balance = v_after[i] WHERE id = v_account[i];
        END LOOP;

        WITH t AS (
            INSERT INTO transactions (seq, reason, metadata) OVERRIDING SYSTEM VALUE
            SELECT v_seqs[k], p_reasons[k], coalesce(p_metadata[k]::jsonb, '{}'::jsonb)
            FROM generate_series(1, n) AS k
            RETURNING seq, id, created_at
        )
        SELECT array_agg(t.id ORDER BY t.seq), array_agg(t.created_at ORDER BY t.seq) INTO v_ids, v_created FROM t;

        INSERT INTO entries (transaction_seq, ord, account_id, amount, balance_after)
        SELECT v_seqs[v_item[j]], j - p_starts[v_item[j]] + 1, v_account[j], p_amounts[j], v_after[j]
        FROM generate_series(1, m) AS j
        UNION ALL
        SELECT v_seqs[g.item], -row_number() OVER (PARTITION BY g.item ORDER BY g.currency),
               (SELECT iss.id FROM accounts iss WHERE iss.currency = g.currency AND iss.user_id IS NULL), -g.net, NULL
        FROM (SELECT v_item[j] AS item, p_currencies[j] AS currency, sum(p_amounts[j]) AS net
              FROM generate_series(1, m) AS j GROUP BY 1, 2 HAVING sum(p_amounts[j]) <> 0) g;

        -- the same JSON as coffer_transaction_json(seq), built from values in hand
        v_bodies := ARRAY(
            SELECT jsonb_build_object(
                'id', v_ids[k],
                'created_at', v_created[k],
                'reason', p_reasons[k],
                'metadata', coalesce(p_metadata[k]::jsonb, '{}'::jsonb),
                'entries', (SELECT jsonb_agg(jsonb_build_object(
                                'user_id', p_users[j], 'currency', p_currencies[j],
                                'amount', p_amounts[j], 'balance_after', v_after[j]::bigint) ORDER BY j)
                            FROM generate_series(p_starts[k], p_starts[k] + p_counts[k] - 1) AS j),
                'reverses', NULL::uuid)
            FROM generate_series(1, n) AS k ORDER BY k);

        INSERT INTO idempotency_keys (key, request_hash, status, response)
        SELECT u.key, u.hash, 201, u.body
        FROM unnest(p_keys, p_hashes, v_bodies) AS u (key, hash, body)
        ORDER BY u.key
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS v_inserted = ROW_COUNT;
        IF v_inserted <> n THEN
            -- a concurrent request committed one of these keys after our check: undo, and let the
            -- caller retry (it then replays that request's reply through the per-item path)
            RAISE EXCEPTION 'coffer: an Idempotency-Key of this request was used concurrently'
                USING ERRCODE = 'serialization_failure';
        END IF;

        RETURN QUERY SELECT 201, u.b, false FROM unnest(v_bodies) WITH ORDINALITY AS u (b, k) ORDER BY u.k;
        RETURN;
    END IF;

    FOR i IN 1 .. n LOOP
        s := p_starts[i];
        e := p_starts[i] + p_counts[i] - 1;
        RETURN QUERY SELECT * FROM coffer_apply(
            p_keys[i], p_hashes[i], p_reasons[i], p_metadata[i]::jsonb, p_reverses[i],
            p_users[s:e], p_currencies[s:e], p_amounts[s:e]);
    END LOOP;
END $$;
"""

DOWNGRADE = r"""
CREATE OR REPLACE FUNCTION coffer_transaction_json(p_seq bigint) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', t.id,
        'created_at', t.created_at,
        'reason', t.reason,
        'metadata', t.metadata,
        'entries', (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                'user_id', a.user_id, 'currency', a.currency,
                'amount', e.amount, 'balance_after', e.balance_after) ORDER BY e.ord), '[]'::jsonb)
            FROM entries e JOIN accounts a ON a.id = e.account_id
            WHERE e.transaction_seq = t.seq AND e.ord > 0),
        'reverses', (SELECT r.id FROM transactions r WHERE r.seq = t.reverses))
    FROM transactions t WHERE t.seq = p_seq
$$;

CREATE OR REPLACE FUNCTION coffer_post_batch(
    p_keys text[], p_hashes bytea[], p_reasons text[], p_metadata text[], p_reverses bigint[],
    p_starts int[], p_counts int[],
    p_users bigint[], p_currencies text[], p_amounts bigint[]
) RETURNS TABLE (status int, body jsonb, replayed boolean) LANGUAGE plpgsql AS $$
DECLARE
    i int;
    s int;
    e int;
BEGIN
    PERFORM coffer_lock_accounts(p_users, p_currencies);
    FOR i IN 1 .. coalesce(cardinality(p_keys), 0) LOOP
        s := p_starts[i];
        e := p_starts[i] + p_counts[i] - 1;
        RETURN QUERY SELECT * FROM coffer_apply(
            p_keys[i], p_hashes[i], p_reasons[i], p_metadata[i]::jsonb, p_reverses[i],
            p_users[s:e], p_currencies[s:e], p_amounts[s:e]);
    END LOOP;
END $$;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
