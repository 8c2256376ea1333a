"""The ledger: currencies, accounts, append-only transactions and entries, idempotency keys,
receipts, API keys and the shared rate-limit counters.

Money rules that the database itself enforces (Python only adds good error messages):
- a player balance is a bigint in [0, 2^53 - 1] (JSON-safe for Luau);
- issuer balances are derived from their entries, never stored, so the issuer is no hot row;
- transactions and entries are append-only (a trigger refuses UPDATE, DELETE and TRUNCATE);
- idempotency keys and purchase ids are unique.

All writes of money go through ``coffer_post_batch``: one round trip per request and a fixed lock
order (currency, user_id) for every account so concurrent transfers cannot deadlock. It has two
paths with the same replies:

- the set-based fast path, taken when every item has a key that is new, no item is a reversal,
  every currency exists, no item names an account twice, and every balance stays within
  [0, 2^53 - 1] at every step in request order (a running sum per account, computed after the
  accounts are locked): one UPDATE per touched account, one INSERT of the transactions, one of all
  entries (the issuer's side included), reply bodies built from values in hand, and one INSERT of
  the idempotency keys with their replies. If a concurrent request took one of the keys since the
  check, that INSERT finds it, the call fails with serialization_failure, and the API retries it:
  the retry takes the per-item path and replays the stored reply;
- the per-item path (``coffer_apply``, one sub-transaction each) for everything else: replays,
  reused keys, unknown currencies, insufficient funds, overflow, reversals.

Every lookup of an account is an index lookup whatever the table statistics say (LATERAL ...
LIMIT 1, scalar subqueries, primary-key updates): a hash join over ``accounts`` would cost a scan
of every account per request.

Revision ID: 0001_ledger
Revises:
"""

from coffer_api.migrations import execute_script

revision = "0001_ledger"
down_revision = None
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE currencies (
    name text PRIMARY KEY CONSTRAINT currencies_name_format CHECK (name ~ '^[a-z][a-z0-9_]{0,31}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    currency text NOT NULL REFERENCES currencies (name),
    -- NULL for the currency's issuer; a Roblox user id (> 0), or a random pseudonym (< 0) after erasure
    user_id bigint CONSTRAINT accounts_user_id_nonzero CHECK (user_id <> 0),
    -- NULL for the issuer: its balance is the sum of its entries
    balance bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT accounts_balance_non_negative CHECK (balance >= 0),
    CONSTRAINT accounts_balance_max CHECK (balance <= 9007199254740991),
    CONSTRAINT accounts_issuer_balance_derived CHECK ((user_id IS NULL) = (balance IS NULL))
);
CREATE UNIQUE INDEX accounts_user_currency ON accounts (user_id, currency);
CREATE UNIQUE INDEX accounts_one_issuer ON accounts (currency) WHERE user_id IS NULL;
CREATE INDEX accounts_leaderboard ON accounts (currency, balance DESC, user_id) WHERE user_id > 0;

CREATE TABLE transactions (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    created_at timestamptz NOT NULL DEFAULT now(),
    reason text NOT NULL CONSTRAINT transactions_reason_length CHECK (char_length(reason) BETWEEN 1 AND 200),
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb CONSTRAINT transactions_metadata_object
        CHECK (jsonb_typeof(metadata) = 'object'),
    reverses bigint CONSTRAINT transactions_reverses_key UNIQUE REFERENCES transactions (seq)
);

CREATE TABLE entries (
    transaction_seq bigint NOT NULL REFERENCES transactions (seq),
    -- 1..n: the request's entries in order; -1, -2, ..: the issuer's side, one per currency
    ord smallint NOT NULL CONSTRAINT entries_ord_nonzero CHECK (ord <> 0),
    account_id bigint NOT NULL REFERENCES accounts (id),
    amount bigint NOT NULL CONSTRAINT entries_amount_nonzero CHECK (amount <> 0),
    balance_after bigint,
    PRIMARY KEY (transaction_seq, ord)
);
CREATE INDEX entries_account ON entries (account_id, transaction_seq DESC);

CREATE FUNCTION coffer_forbid_history_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- the erasure worker may rewrite user ids inside metadata (never amounts): see coffer erase
    IF TG_OP = 'UPDATE' AND current_setting('coffer.erasure', true) = 'on' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'coffer: % is append-only; correct a transaction with a reversal', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER transactions_append_only BEFORE UPDATE OR DELETE ON transactions
    FOR EACH ROW EXECUTE FUNCTION coffer_forbid_history_change();
CREATE TRIGGER transactions_no_truncate BEFORE TRUNCATE ON transactions
    FOR EACH STATEMENT EXECUTE FUNCTION coffer_forbid_history_change();
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION coffer_forbid_history_change();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION coffer_forbid_history_change();

CREATE TABLE idempotency_keys (
    key text PRIMARY KEY,
    request_hash bytea NOT NULL,
    status smallint,
    response jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE receipts (
    purchase_id text PRIMARY KEY,
    user_id bigint NOT NULL,
    product_id bigint NOT NULL,
    currency text NOT NULL,
    amount bigint NOT NULL,
    transaction_seq bigint REFERENCES transactions (seq),
    response jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id text PRIMARY KEY,
    name text NOT NULL CONSTRAINT api_keys_name_length CHECK (char_length(name) BETWEEN 1 AND 64),
    secret_hash bytea NOT NULL,
    scopes text[] NOT NULL CONSTRAINT api_keys_scopes_known
        CHECK (scopes <@ ARRAY['read', 'write', 'admin'] AND cardinality(scopes) > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at timestamptz
);
CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;

-- Shared by every API process: each adds its local hits about once a second.
CREATE UNLOGGED TABLE rate_limit_windows (
    key_id text NOT NULL,
    window_start timestamptz NOT NULL,
    hits bigint NOT NULL,
    PRIMARY KEY (key_id, window_start)
);

CREATE FUNCTION coffer_add_currency(p_name text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO currencies (name) VALUES (p_name) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO accounts (currency, user_id, balance) VALUES (p_name, NULL, NULL);
    RETURN true;
END $$;

SELECT coffer_add_currency('coins');
-- a one-row table is never auto-analyzed: without this the planner guesses it holds 1,200 rows
ANALYZE currencies;

-- The reply body of a transaction: the same JSON for the first reply, replays and GET.
CREATE FUNCTION coffer_transaction_json(p_seq bigint) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
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

-- Create the missing player accounts and lock all of them in one global order (currency, user_id).
-- Between the insert and the lock another transaction may rename an account (erasure replaces the
-- user id): then the lock finds fewer rows than asked, and the loop creates and locks again, so a
-- posting never goes on without every one of its accounts locked.
CREATE FUNCTION coffer_lock_accounts(p_users bigint[], p_currencies text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_wanted int;
    v_locked int;
BEGIN
    SELECT count(*) INTO v_wanted FROM (
        SELECT DISTINCT e.u, e.c FROM unnest(p_users, p_currencies) AS e (u, c)
        JOIN currencies ON currencies.name = e.c) w;
    LOOP
        INSERT INTO accounts (currency, user_id, balance)
        SELECT DISTINCT e.c, e.u, 0::bigint
        FROM unnest(p_users, p_currencies) AS e (u, c) JOIN currencies ON currencies.name = e.c
        ORDER BY 1, 2
        ON CONFLICT (user_id, currency) DO NOTHING;
        -- one index lookup per account, in the global order (a nested loop keeps the outer order)
        SELECT count(*) INTO v_locked FROM (
            SELECT DISTINCT e.u, e.c FROM unnest(p_users, p_currencies) AS e (u, c) ORDER BY e.c, e.u) w
        CROSS JOIN LATERAL (
            SELECT a.id FROM accounts a WHERE a.user_id = w.u AND a.currency = w.c LIMIT 1 FOR UPDATE) l;
        EXIT WHEN v_locked = v_wanted;
    END LOOP;
END $$;

-- One ledger transaction, idempotent under p_key (NULL: no key, e.g. receipts).
-- Returns the HTTP status and body; error bodies are {"code", "detail", ...} rendered by the API.
CREATE FUNCTION coffer_apply(
    p_key text, p_hash bytea, p_reason text, p_metadata jsonb, p_reverses bigint,
    p_users bigint[], p_currencies text[], p_amounts bigint[],
    OUT status int, OUT body jsonb, OUT replayed boolean
) LANGUAGE plpgsql AS $$
DECLARE
    v_existing idempotency_keys%ROWTYPE;
    v_seq bigint;
    v_unknown text;
    v_constraint text;
    v_short record;
    v_ids bigint[] := '{}';
    v_after bigint[] := '{}';
    v_id bigint;
    v_balance bigint;
BEGIN
    replayed := false;
    IF p_key IS NOT NULL THEN
        -- a concurrent first request with this key makes us wait here until it commits
        INSERT INTO idempotency_keys (key, request_hash) VALUES (p_key, p_hash) ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            SELECT * INTO v_existing FROM idempotency_keys WHERE key = p_key;
            IF v_existing.request_hash <> p_hash THEN
                status := 422;
                body := jsonb_build_object('code', 'idempotency_key_reused', 'detail',
                    'This Idempotency-Key was already used for a different request; '
                    || 'use a new key for a new request.');
            ELSE
                status := v_existing.status;
                body := v_existing.response;
                replayed := true;
            END IF;
            RETURN;
        END IF;
    END IF;

    SELECT c INTO v_unknown FROM unnest(p_currencies) AS c
    WHERE NOT EXISTS (SELECT 1 FROM currencies WHERE name = c) LIMIT 1;
    IF FOUND THEN
        status := 422;
        body := jsonb_build_object('code', 'unknown_currency', 'currency', v_unknown, 'detail',
            format('Currency "%s" does not exist; an operator can add it with `coffer currencies add %s`.',
                   v_unknown, v_unknown));
    ELSE
        BEGIN
            PERFORM coffer_lock_accounts(p_users, p_currencies);
            -- the transaction row first: a second reversal of one transaction fails here as already_reversed
            INSERT INTO transactions (reason, metadata, reverses)
            VALUES (p_reason, coalesce(p_metadata, '{}'::jsonb), p_reverses)
            RETURNING seq INTO v_seq;
            -- one primary-key update per entry: the plan never depends on table statistics
            FOR i IN 1 .. cardinality(p_users) LOOP
                UPDATE accounts SET balance = balance + p_amounts[i]
                WHERE user_id = p_users[i] AND currency = p_currencies[i]
                RETURNING id, balance INTO v_id, v_balance;
                v_ids := v_ids || v_id;
                v_after := v_after || v_balance;
            END LOOP;
            INSERT INTO entries (transaction_seq, ord, account_id, amount, balance_after)
            SELECT v_seq, e.ord, e.id, e.amt, e.after
            FROM unnest(v_ids, p_amounts, v_after) WITH ORDINALITY AS e (id, amt, after, ord)
            UNION ALL
            SELECT v_seq, -row_number() OVER (ORDER BY s.c),
                   (SELECT i.id FROM accounts i WHERE i.currency = s.c AND i.user_id IS NULL), -s.net, NULL
            FROM (SELECT e.c, sum(e.amt) AS net FROM unnest(p_currencies, p_amounts) AS e (c, amt)
                  GROUP BY e.c HAVING sum(e.amt) <> 0) s;
            status := 201;
            body := coffer_transaction_json(v_seq);
        EXCEPTION
            WHEN check_violation OR numeric_value_out_of_range THEN
                GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
                IF v_constraint = 'accounts_balance_non_negative' THEN
                    SELECT e.u, e.c, e.amt, e.balance INTO v_short
                    FROM (SELECT x.u, x.c, x.amt, coalesce((SELECT a.balance FROM accounts a
                                                           WHERE a.user_id = x.u AND a.currency = x.c), 0) AS balance
                          FROM unnest(p_users, p_currencies, p_amounts) WITH ORDINALITY AS x (u, c, amt, o)) e
                    WHERE e.balance + e.amt < 0 LIMIT 1;
                    status := 409;
                    body := jsonb_build_object('code', 'insufficient_funds',
                        'user_id', v_short.u, 'currency', v_short.c,
                        'balance', v_short.balance, 'amount', v_short.amt,
                        'detail', format('Player %s has %s %s, which is not enough for %s; nothing was applied.',
                                         v_short.u, v_short.balance, v_short.c, v_short.amt));
                ELSIF v_constraint = 'accounts_balance_max' OR v_constraint = '' OR v_constraint IS NULL THEN
                    status := 422;
                    body := jsonb_build_object('code', 'balance_overflow', 'detail',
                        'A balance would exceed 9007199254740991 (2^53 - 1); nothing was applied.');
                ELSE
                    RAISE;
                END IF;
            WHEN unique_violation THEN
                GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
                IF v_constraint = 'transactions_reverses_key' THEN
                    status := 409;
                    body := jsonb_build_object('code', 'already_reversed', 'detail',
                        'This transaction has already been reversed; a transaction can be reversed once.');
                ELSE
                    RAISE;
                END IF;
        END;
    END IF;

    IF p_key IS NOT NULL THEN
        UPDATE idempotency_keys SET status = coffer_apply.status, response = coffer_apply.body
        WHERE key = p_key;
    END IF;
END $$;

-- A batch of transactions in one round trip: accounts locked once in the global order, then each
-- transaction applied on its own (its own sub-transaction and idempotency key), in request order.
-- Entries are flattened; transaction i owns entries p_starts[i] .. p_starts[i] + p_counts[i] - 1.
CREATE FUNCTION coffer_post_batch(
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

-- A developer-product purchase: granted once per purchase id, forever.
CREATE FUNCTION coffer_post_receipt(
    p_purchase_id text, p_user_id bigint, p_product_id bigint, p_currency text, p_amount bigint,
    OUT status int, OUT body jsonb, OUT replayed boolean
) LANGUAGE plpgsql AS $$
DECLARE
    v_existing receipts%ROWTYPE;
    v_result record;
BEGIN
    replayed := false;
    INSERT INTO receipts (purchase_id, user_id, product_id, currency, amount)
    VALUES (p_purchase_id, p_user_id, p_product_id, p_currency, p_amount)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        SELECT * INTO v_existing FROM receipts WHERE purchase_id = p_purchase_id;
        IF (v_existing.user_id, v_existing.product_id, v_existing.currency, v_existing.amount)
           IS DISTINCT FROM (p_user_id, p_product_id, p_currency, p_amount) THEN
            status := 422;
            body := jsonb_build_object('code', 'purchase_id_reused', 'detail',
                'This purchase id was already granted with a different player, product, currency or amount.');
        ELSE
            status := 201;
            body := v_existing.response;
            replayed := true;
        END IF;
        RETURN;
    END IF;
    SELECT * INTO v_result FROM coffer_apply(
        NULL, NULL, 'receipt:' || p_product_id,
        jsonb_build_object('purchase_id', p_purchase_id, 'product_id', p_product_id), NULL,
        ARRAY[p_user_id], ARRAY[p_currency], ARRAY[p_amount]);
    status := v_result.status;
    IF v_result.status = 201 THEN
        body := jsonb_build_object('purchase_id', p_purchase_id, 'transaction', v_result.body);
        UPDATE receipts SET transaction_seq = (SELECT seq FROM transactions WHERE id = (v_result.body ->> 'id')::uuid),
                            response = coffer_post_receipt.body
        WHERE purchase_id = p_purchase_id;
    ELSE
        -- nothing is remembered for a purchase that was not granted: the game retries it later
        body := v_result.body;
        DELETE FROM receipts WHERE purchase_id = p_purchase_id;
    END IF;
END $$;
"""

DOWNGRADE = r"""
DROP FUNCTION coffer_post_receipt(text, bigint, bigint, text, bigint);
DROP FUNCTION coffer_post_batch(text[], bytea[], text[], text[], bigint[], int[], int[], bigint[], text[], bigint[]);
DROP FUNCTION coffer_apply(text, bytea, text, jsonb, bigint, bigint[], text[], bigint[]);
DROP FUNCTION coffer_lock_accounts(bigint[], text[]);
DROP FUNCTION coffer_transaction_json(bigint);
DROP FUNCTION coffer_add_currency(text);
DROP TABLE rate_limit_windows, api_keys, receipts, idempotency_keys, entries, transactions, accounts, currencies;
DROP FUNCTION coffer_forbid_history_change();
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
